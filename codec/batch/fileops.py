"""One file in, one file out: the work behind `encode` and `decode`, for one file or a batch.

Each function checks the output (never an input, never an existing file unless `force`),
writes atomically, and returns the number of bytes written. Conversion warnings are re-issued
with the file's name, so a batch log says which file they concern. Nothing here prints: what
a target search chose goes to the caller's `report` callback (the command line prints it).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ..api import decode, encode_with, pick_device
from ..encoder.options import EncodeOptions, Target
from ..errors import CodecError
from ..io.fileio import atomic_write, check_output, image_bytes, read_bytes
from ..io.imageio import CodecWarning, load_image
from ..utils import progress as steps


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """How regen-codec shows a warning: one line on stderr. The command line installs it as
    `warnings.showwarning`, in its own process and in a batch's workers."""
    print(f"regen-codec: warning: {message}", file=sys.stderr, flush=True)


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


def encode_file(src: Path, dst: Path, options: EncodeOptions, *, target: Target | None = None,
                force: bool = False, name_warnings: bool = True,
                report: Callable[[str], None] | None = None) -> int:
    """Encode one file with `options` (its device may be "auto"); with a `target`, search the
    quality with the decoder in the loop and pass a line saying what was chosen to `report`."""
    check_output(dst, [src], force)
    with warnings_named(src, name_warnings), errors_named(src, not name_warnings):
        options = replace(options, device=pick_device(options.device))
        if target is None:
            data = encode_with(src, options)
        else:
            from ..encoder.pipeline import encode_targeted, reached  # PyTorch: not for --help

            data, res = encode_targeted(load_image(src, max_pixels=options.max_pixels), target,
                                        options.checked())
            if report is not None:
                b = res.best
                note = "" if res.monotonic else " (quality was not monotonic in the setting here)"
                report(f"{src}: chose quality {res.quality} ({res.mode} mode): {reached(b)}, "
                       f"{b.bytes} bytes, for {target.describe()}; {len(res.probes)} settings "
                       f"tried{note}")
    atomic_write(dst, data, force=force)
    return len(data)


def decode_file(src: Path, dst: Path, *, device: str = "auto", tile: int = 1024,
                model: str | None = None, force: bool = False, progress: bool = False,
                name_warnings: bool = True, consistency: bool = True, ensemble: int = 1) -> int:
    """Decode one file (codec.api.decode) into the image format `dst`'s suffix names."""
    check_output(dst, [src], force)
    with warnings_named(src, name_warnings), errors_named(src, not name_warnings):
        img = decode(read_bytes(src), device=device, model=model, tile=tile, progress=progress,
                     consistency=consistency, ensemble=ensemble)
    with steps.step(f"writing {dst.suffix.lstrip('.').upper()}", show=progress):
        data = image_bytes(img, dst.suffix)
    atomic_write(dst, data, force=force)
    return len(data)


__all__ = ["encode_file", "decode_file", "show_warning", "CodecWarning"]
