"""One file in, one file out: the work behind `encode` and `decode`, for one file or a batch.

Each function checks the output (never an input, never an existing file unless `force`),
writes atomically, and returns the number of bytes written. Conversion warnings are re-issued
with the file's name, so a batch log says which file they concern.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import click

from ..errors import CodecError
from ..io.fileio import atomic_write, check_output, image_bytes, read_bytes
from ..io.imageio import CodecWarning


def show_warning(message, category, filename, lineno, file=None, line=None):
    """How regen-codec prints a warning: one line on stderr."""
    click.echo(f"regen-codec: warning: {message}", err=True)


@contextmanager
def warnings_named(src: Path, name_it: bool = True):
    """Warnings raised inside, given again after it with the file's name in front (`name_it`),
    so a batch log says which file they concern; an error inside drops them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        warnings.warn(f"{src}: {w.message}" if name_it else str(w.message), w.category)


@contextmanager
def errors_named(src: Path, name_it: bool = True):
    """A CodecError about the input that does not say which file gets its name in front (a
    batch names the file in its own report: it passes name_it=False)."""
    try:
        yield
    except CodecError as exc:
        if not name_it or str(src) in str(exc):
            raise
        raise CodecError(f"{src}: {exc}") from None


def encode_file(src: Path, dst: Path, *, quality: int, model: str, subsampling: str | None = None,
                tables: str | None = None,
                progressive: bool = False, max_pixels: int, pack: str | None = None,
                force: bool = False, name_warnings: bool = True, target=None,
                device: str = "auto", mode: str | None = None, fit: bool = True,
                allocate: bool = False, effort: int | None = None) -> int:
    """Encode one file; with a `target.Target`, search the quality with the decoder in the loop."""
    from ..api import encode
    from ..regen.infer import pick_device
    from ..registry import DEFAULT_MODE
    from ..format.tables import DEFAULT_TABLES

    tables = tables or DEFAULT_TABLES
    mode = mode or DEFAULT_MODE
    check_output(dst, [src], force)
    with warnings_named(src, name_warnings), errors_named(src, not name_warnings):
        if target is None:
            data = encode(src, quality=quality, model=model, subsampling=subsampling,
                          tables=tables, progressive=progressive, max_pixels=max_pixels, pack=pack, mode=mode,
                          device=pick_device(device), fit=fit, allocate=allocate,
                          **({} if effort is None else {"effort": effort}))
        else:
            data = _encode_targeted(src, target, model, subsampling, tables, progressive,
                                    max_pixels, pack, device, mode, fit, effort)
    atomic_write(dst, data, force=force)
    return len(data)


def _reached(p) -> str:
    """What a target search's probe reached, in the target's measure."""
    return (f"MS-SSIM {p.msssim:.4f}" if p.msssim is not None else
            f"PSNR {p.psnr:.2f} dB" if p.psnr is not None else f"{p.bytes} bytes")


def _encode_targeted(src, target, model, subsampling, tables, progressive, max_pixels, pack,
                     device, mode, fit, effort):
    from ..io.imageio import load_image
    from ..format.pack import pack as pack_jxl
    from ..regen.infer import pick_device
    from ..encoder.target import encode_to_target, nearest

    res = encode_to_target(load_image(src, max_pixels=max_pixels), target, model,
                           device=pick_device(device), subsampling=subsampling, tables=tables,
                           progressive=progressive, mode=mode, for_pack=bool(pack), fit=fit,
                           effort=effort)
    if res.quality is None:
        p = nearest(res, target)
        raise CodecError(f"cannot reach {target.describe()} at any quality (the closest: "
                         f"quality {p.quality} in {res.mode} mode gives {_reached(p)})")
    b = res.best
    got = _reached(b)
    note = "" if res.monotonic else " (quality was not monotonic in the setting here)"
    click.echo(f"{src}: chose quality {res.quality} ({res.mode} mode): {got}, {b.bytes} bytes, for "
               f"{target.describe()}; {len(res.probes)} settings tried{note}", err=True)
    return pack_jxl(res.data) if pack else res.data


def decode_file(src: Path, dst: Path, *, device: str = "auto", tile: int = 1024,
                model: str | None = None, force: bool = False, progress: bool = False,
                name_warnings: bool = True, consistency: bool = True, ensemble: int = 1) -> int:
    from ..api import decode

    check_output(dst, [src], force)
    with warnings_named(src, name_warnings), errors_named(src, not name_warnings):
        img = decode(read_bytes(src), device=device, model=model, tile=tile, progress=progress,
                     consistency=consistency, ensemble=ensemble)
    data = image_bytes(img, dst.suffix)
    atomic_write(dst, data, force=force)
    return len(data)


__all__ = ["encode_file", "decode_file", "show_warning", "CodecWarning"]
