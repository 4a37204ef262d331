"""Safe output: never over an input, never over an existing file without --force, never partial."""

from __future__ import annotations

import ctypes
import errno
import io
import os
import stat
import sys
import tempfile
from pathlib import Path

from PIL import Image

from ..errors import CodecError

#: Output formats by extension, with the Pillow save options used for each.
IMAGE_FORMATS = {
    ".png": ("PNG", {}), ".jpg": ("JPEG", {"quality": 95}), ".jpeg": ("JPEG", {"quality": 95}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}), ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
    ".webp": ("WEBP", {"lossless": True}), ".bmp": ("BMP", {}), ".ppm": ("PPM", {}),
}


def _read_umask() -> int:
    """The process's umask (set and restored once, at import, before any worker thread)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _mode_for(out: Path) -> int:
    """Permissions for a file written at `out`: those of the file it replaces (--force), else
    what a plain open() would give (0666 less the umask). mkstemp's 0600 would hide outputs
    from the other users and services that read them."""
    try:
        return stat.S_IMODE(os.stat(out).st_mode)
    except OSError:
        return 0o666 & ~_UMASK


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    return ("a symbolic link" if stat.S_ISLNK(mode) else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode) else "a FIFO" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


def _refuse_special(out: Path) -> None:
    """--force replaces regular files only: a device, FIFO, socket or link at `out` is refused
    (replacing /dev/sda's node, or a link someone else relies on, is never what was meant)."""
    try:
        mode = os.lstat(out).st_mode
    except (FileNotFoundError, NotADirectoryError):  # nothing there: the parent check says why
        return
    except OSError as exc:
        raise CodecError(f"{out}: cannot check the output ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise CodecError(f"{out}: is a directory")
    if not stat.S_ISREG(mode):
        raise CodecError(f"{out}: is {_kind(mode)}; --force replaces regular files only")


def check_output(out: Path, inputs: list[Path], force: bool = False) -> None:
    """Refuse an output that is an input (always), that exists (unless force), or that is
    anything but a regular file (even with force)."""
    out = Path(out)
    for inp in inputs:
        if _same_file(out, Path(inp)) or out.resolve() == Path(inp).resolve():
            raise CodecError(f"{out}: refusing to overwrite the input file")
    if out.is_dir():
        raise CodecError(f"{out}: is a directory")
    if os.path.lexists(out) and not force:
        raise CodecError(f"{out}: already exists (use --force to overwrite)")
    _refuse_special(out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise CodecError(f"{parent}: output directory does not exist")
    if not os.access(parent, os.W_OK):
        raise CodecError(f"{parent}: output directory is not writable")


_AT_FDCWD, _RENAME_NOREPLACE = -100, 1


def _rename_noreplace(src: str, dst: Path) -> bool:
    """Linux's renameat2(RENAME_NOREPLACE): one atomic step that fails if `dst` exists.
    True when done, False where the C library or the file system lacks it; FileExistsError
    (and other OSErrors) as the call reports them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library older than glibc 2.28, or none
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _place_new(tmp: str, out: Path) -> None:
    """Give the finished temporary file the name `out` only if no file has that name by then,
    so that of two writers racing to one new output, the second is refused instead of silently
    replacing the first: renameat2(RENAME_NOREPLACE) where there is one, else a hard link (which
    fails on an existing name) and the temporary removed, else (a file system without links)
    the name reserved with O_EXCL first and then replaced."""
    if _rename_noreplace(tmp, out):
        return
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                             errno.ENOSYS, errno.EACCES):
            raise
        os.close(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.replace(tmp, out)
        return
    os.unlink(tmp)


def atomic_write(out: Path, data: bytes, *, force: bool = False) -> None:
    """Write to a temporary file beside `out`, fsync, then rename: a reader sees all or nothing.
    Without `force`, a file that appeared at `out` since it was checked is kept and this write
    refused ("already exists"); with it, only a regular file is replaced. The file gets the
    permissions a plain write would give it (see _mode_for)."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=parent)
    except OSError as exc:
        raise CodecError(f"{parent}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _mode_for(out))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if force:
            _refuse_special(out)  # it may have changed since check_output
            os.replace(tmp, out)
        else:
            _place_new(tmp, out)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, FileExistsError):
            raise CodecError(f"{out}: already exists (written by another process meanwhile; "
                             f"use --force to overwrite)") from None
        if not isinstance(exc, OSError):
            raise
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


def file_bytes(data: str | os.PathLike | bytes | bytearray | memoryview) -> bytes:
    """A file given by path (str or Path) or as bytes, bytearray or memoryview: its bytes.
    Anything else is a TypeError: bytes(5) or bytes(array) would be read as a broken JPEG."""
    if isinstance(data, (str, Path)):
        return read_bytes(Path(data))
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected a file's path or its bytes, got {type(data).__name__}")
    return bytes(data)
