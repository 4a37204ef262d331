"""Reading input images of any common kind into 8-bit RGB, with a defined rule for every mode.

Rules (each conversion emits a `CodecWarning`, which the CLI prints on stderr):
- EXIF orientation is applied; the ICC profile is kept when it describes RGB.
- alpha (RGBA, LA, palette with transparency): composited over white;
- 16-bit (grayscale or RGB): reduced to 8 bits per channel;
- CMYK: converted to sRGB through its ICC profile when it has one;
- palette, bilevel and other modes: converted to RGB;
- grayscale (8-bit, or 16-bit reduced) stays grayscale: `gray` is set, and `rgb` holds the one
  channel three times, which the codec's measurements compare with.
"""

from __future__ import annotations

import io
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import CodecError
from .fileio import read_bytes

#: Inputs above this many pixels are refused unless the caller raises the limit.
DEFAULT_MAX_PIXELS = 250_000_000


class CodecWarning(UserWarning):
    """An input was converted (alpha dropped, bit depth reduced, ...): the user should know."""


@dataclass
class SourceImage:
    """An input reduced to what the codec stores: 8-bit RGB pixels plus colour and camera data."""

    rgb: np.ndarray  # HxWx3 uint8
    gray: bool = False  # a grayscale input (R = G = B): a regen file keeps one component
    icc_profile: bytes | None = None
    exif: bytes | None = None
    format: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def _warn(src: SourceImage, msg: str) -> None:
    src.notes.append(msg)
    warnings.warn(msg, CodecWarning, stacklevel=3)


def _icc_space(icc: bytes | None) -> bytes | None:
    return icc[16:20] if icc and len(icc) >= 20 else None


def _is_16bit(im: Image.Image, raw: bytes | None) -> bool:
    """Pillow silently keeps only the high byte of 16-bit RGB PNG and TIFF files: detect them."""
    if im.mode == "I" and raw is None:  # a PIL image in memory: its values say which range
        return im.getextrema()[1] > 255  # (`im.convert("I")` of an 8-bit picture stays 0-255)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        return True
    if im.format == "PNG" and raw is not None and len(raw) > 24:
        return raw[24] == 16
    if im.format == "TIFF":
        bits = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
        return bool(bits) and max(bits if isinstance(bits, tuple) else (bits,)) > 8
    return False


_PILLOW_LIMIT_LOCK = threading.Lock()


@contextmanager
def no_pillow_pixel_limit():
    """Open images without Pillow's own decompression-bomb limit (179 megapixels), which is
    below ours (DEFAULT_MAX_PIXELS, --max-pixels): the caller checks the size from the header
    before any pixel is decoded. Opening reads headers only, so the lock is held briefly."""
    with _PILLOW_LIMIT_LOCK:
        old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = old


def _open(src, name: str) -> tuple[Image.Image, bytes | None]:
    raw = None
    if isinstance(src, (str, Path)):
        raw = read_bytes(Path(src))
    elif isinstance(src, (bytes, bytearray, memoryview)):
        raw = bytes(src)
        if not raw:
            raise CodecError(f"{name}: empty file")
    if raw is not None:
        try:
            with no_pillow_pixel_limit():  # load_image checks the size against max_pixels
                return Image.open(io.BytesIO(raw)), raw
        except UnidentifiedImageError:
            raise CodecError(f"{name}: not an image file (or a format Pillow cannot read)") from None
        except Image.DecompressionBombError as exc:
            raise CodecError(f"{name}: image too large ({exc})") from None
        except Exception as exc:
            raise CodecError(f"{name}: unreadable image ({exc.__class__.__name__}: {exc})") from None
    if isinstance(src, Image.Image):
        return src, None
    raise CodecError(f"unsupported image input of type {type(src).__name__}")


def _from_array(a: np.ndarray, src: SourceImage) -> np.ndarray:
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise CodecError(f"an image array must be HxW, HxWx3 or HxWx4, got shape {a.shape}")
    if a.dtype.kind == "u" and a.dtype.itemsize == 2:  # either byte order ('>u2' too)
        _warn(src, "16-bit image reduced to 8 bits per channel")
        a = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise CodecError(f"an image array must be uint8 or uint16, got {a.dtype}")
    if a.shape[2] == 4:
        _warn(src, "alpha channel dropped (composited over white): JPEG has no transparency")
        alpha = a[:, :, 3:].astype(np.float32) / 255
        a = np.round(a[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    elif a.shape[2] == 1:
        src.gray = True
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)


def load_image(src, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> SourceImage:
    """Read a path, bytes, PIL image or HxWx3 uint8 array as 8-bit RGB (see the module rules)."""
    name = name or (str(src) if isinstance(src, (str, Path)) else "image")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) \
            or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, not {max_pixels!r}")
    if isinstance(src, np.ndarray):
        out = SourceImage(rgb=np.zeros((0, 0, 3), np.uint8))
        out.rgb = _from_array(src, out)
        _check_size(out.size, name, max_pixels)
        return out
    im, raw = _open(src, name)
    _check_size(im.size, name, max_pixels)
    out = SourceImage(rgb=np.zeros((0, 0, 3), np.uint8), format=im.format)
    is16 = _is_16bit(im, raw)
    try:
        im.load()
        im = ImageOps.exif_transpose(im)
    except Image.DecompressionBombError as exc:
        raise CodecError(f"{name}: image too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CodecError(f"{name}: the image data is damaged or truncated ({exc})") from None
    icc = im.info.get("icc_profile")
    exif = im.getexif()
    exif.pop(0x0112, None)  # orientation is applied to the pixels
    out.exif = exif.tobytes() if len(exif) else None

    if is16:
        _warn(out, "16-bit image reduced to 8 bits per channel")
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            a = np.asarray(im).astype(np.float64)
            im = Image.fromarray(np.clip(np.round(a / 257), 0, 255).astype(np.uint8), "L")
    if im.mode == "CMYK":
        _warn(out, "CMYK image converted to RGB (sRGB)")
        try:
            if _icc_space(icc) == b"CMYK":
                prof = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                im = ImageCms.profileToProfile(im, prof, ImageCms.createProfile("sRGB"),
                                               outputMode="RGB")
            else:
                im = im.convert("RGB")
        except (ImageCms.PyCMSError, OSError):
            im = im.convert("RGB")
        icc = None
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode == "P" and "transparency" in im.info)
    if has_alpha:
        _warn(out, "alpha channel dropped (composited over white): JPEG has no transparency")
        # premultiplied La converts to nothing but LA in Pillow ("conversion from La to L")
        rgba = (im.convert("LA") if im.mode == "La" else im).convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba).convert("RGB")
    elif im.mode == "P":
        _warn(out, "palette image converted to RGB")
    elif im.mode == "1":
        _warn(out, "bilevel image stored as 8-bit grayscale")
    elif im.mode not in ("RGB", "L"):
        _warn(out, f"{im.mode} image converted to RGB")
    out.gray = im.mode in ("L", "1")
    if im.mode != "RGB":
        im = im.convert("RGB")
    if icc and _icc_space(icc) != (b"GRAY" if out.gray else b"RGB "):
        _warn(out, f"ICC profile dropped: it does not describe {'grayscale' if out.gray else 'RGB'}")
        icc = None
    out.icc_profile = icc
    out.rgb = np.asarray(im)
    return out


def _check_size(size: tuple[int, int], name: str, max_pixels: int) -> None:
    w, h = size
    if w * h > max_pixels:
        # exact counts: rounded megapixels read "250 megapixels, above the limit of 250"
        raise CodecError(f"{name}: {w}x{h} is {w * h:,} pixels ({w * h / 1e6:.0f} megapixels), "
                         f"above the limit of {max_pixels:,} (raise it with --max-pixels)")
    if w > 65500 or h > 65500:
        raise CodecError(f"{name}: {w}x{h} exceeds JPEG's 65500-pixel side limit")
    if w == 0 or h == 0:
        raise CodecError(f"{name}: empty image")
