"""Safe output: never over an input, never over an existing file without --force, never partial."""

from __future__ import annotations

import errno
import io
import os
import tempfile
from pathlib import Path

from PIL import Image

from .errors import CodecError

#: Output formats by extension, with the Pillow save options used for each.
IMAGE_FORMATS = {
    ".png": ("PNG", {}), ".jpg": ("JPEG", {"quality": 95}), ".jpeg": ("JPEG", {"quality": 95}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}), ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
    ".webp": ("WEBP", {"lossless": True}), ".bmp": ("BMP", {}), ".ppm": ("PPM", {}),
}


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(out: Path, inputs: list[Path], force: bool = False) -> None:
    """Refuse an output that is an input (always) or that exists (unless force)."""
    out = Path(out)
    for inp in inputs:
        if _same_file(out, Path(inp)) or out.resolve() == Path(inp).resolve():
            raise CodecError(f"{out}: refusing to overwrite the input file")
    if out.is_dir():
        raise CodecError(f"{out}: is a directory")
    if out.exists() and not force:
        raise CodecError(f"{out}: already exists (use --force to overwrite)")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise CodecError(f"{parent}: output directory does not exist")
    if not os.access(parent, os.W_OK):
        raise CodecError(f"{parent}: output directory is not writable")


def atomic_write(out: Path, data: bytes) -> None:
    """Write to a temporary file beside `out`, fsync, then rename: a reader sees all or nothing.
    The file gets the permissions of any new file (0666 less the umask), not mkstemp's 0600."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=parent)
    except OSError as exc:
        raise CodecError(f"{parent}: cannot write ({exc.strerror or exc})") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if exc.errno == errno.ENOSPC:
            raise CodecError(f"{out}: disk full, nothing written") from None
        raise CodecError(f"{out}: cannot write ({exc.strerror or exc})") from None


def image_bytes(img: Image.Image, suffix: str) -> bytes:
    """Encode an image in the format its file extension names, keeping its ICC profile."""
    suffix = suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise CodecError(f"unknown output format {suffix or '(no extension)'!r}; use one of "
                         f"{', '.join(IMAGE_FORMATS)}")
    fmt, opts = IMAGE_FORMATS[suffix]
    opts = dict(opts)
    if img.info.get("icc_profile") and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        opts["icc_profile"] = img.info["icc_profile"]
    buf = io.BytesIO()
    img.save(buf, fmt, **opts)
    return buf.getvalue()


def read_bytes(path: Path) -> bytes:
    """A whole input file, with one-line errors for the usual failures."""
    path = Path(path)
    if not path.exists():
        raise CodecError(f"{path}: no such file")
    if path.is_dir():
        raise CodecError(f"{path}: is a directory")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CodecError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise CodecError(f"{path}: empty file")
    return data
