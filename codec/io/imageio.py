"""Reading input images of any common kind into 8-bit RGB, with a defined rule for every mode.

Rules (each conversion emits a `CodecWarning`, which the CLI prints on stderr):
- EXIF orientation is applied; the ICC profile is kept when it describes RGB.
- alpha (RGBA, LA, palette with transparency): composited over white;
- 16-bit (grayscale or RGB): reduced to 8 bits per channel;
- CMYK: converted to sRGB through its ICC profile when it has one;
- 32-bit float (TIFF mode F): scaled from its range, 0-1 when the values lie in it, else 0-255
  or 0-65535; values outside all three, NaN or infinite are refused;
- palette, bilevel and other modes: converted to RGB;
- grayscale (8-bit, or 16-bit reduced) stays grayscale: `gray` is set, and `rgb` holds the one
  channel three times, which the codec's measurements compare with;
- animations and multi-page files: only the first frame is encoded;
- EXIF that cannot be read, or that is larger than a JPEG segment holds, is dropped.
Messages that libtiff or libjpeg print on stderr become part of the warning or error instead.
"""

from __future__ import annotations

import io
import threading
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from ..errors import CodecError
from .chatter import captured_stderr, library_message
from .fileio import read_bytes

#: Inputs above this many pixels are refused unless the caller raises the limit.
DEFAULT_MAX_PIXELS = 250_000_000

#: The most EXIF bytes (with their "Exif\0\0" header) that one JPEG APP1 segment holds.
MAX_EXIF_BYTES = 65533


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
        except Exception as exc:  # Pillow's plugins raise many types on crafted headers
            raise CodecError(f"{name}: unreadable image ({exc.__class__.__name__}: "
                             f"{library_message(exc)})") from None
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
    out = SourceImage(rgb=np.zeros((0, 0, 3), np.uint8))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        _load(src, name, max_pixels, out)
    for w in said:  # Pillow's own warnings ("Corrupt EXIF data ...") become ours, in order
        if issubclass(w.category, CodecWarning):
            warnings.warn(w.message, w.category, stacklevel=2)
        else:
            _warn(out, f"the image reader says: {' '.join(str(w.message).split())}")
    return out


def _load(src, name: str, max_pixels: int, out: SourceImage) -> None:
    """load_image of a file, bytes or PIL image, into `out`."""
    im, raw = _open(src, name)
    _check_size(im.size, name, max_pixels)
    out.format = im.format
    frames = _frame_count(im)
    is16 = im.mode != "F" and _is_16bit(im, raw)
    _decode_pixels(im, name, out)
    if frames > 1:
        _warn(out, f"only the first of {frames} frames is encoded")
    im, exif_bytes = _orient(im, out)
    out.exif = exif_bytes
    icc = im.info.get("icc_profile")
    if im.mode == "F":
        im = Image.fromarray(_float_to_8bit(np.asarray(im), name, out), "L")
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
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):  # a profile that lies
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


def _frame_count(im: Image.Image) -> int:
    """How many frames (animation) or pages (TIFF) the file holds; 1 when it cannot say (a
    damaged later frame is no reason to refuse the first)."""
    try:
        with captured_stderr():
            n = int(getattr(im, "n_frames", 1))
            im.seek(0)
        return max(n, 1)
    except Exception:  # noqa: BLE001 - a plugin's seek raises many types on damaged frames
        try:
            im.seek(0)
        except Exception:  # noqa: BLE001
            pass
        return 1


def _decode_pixels(im: Image.Image, name: str, out: SourceImage) -> None:
    """Decode the pixels of an opened image; damage is one CodecError naming the file, with
    what the C library said (on stderr, where the user would otherwise see it raw) as the
    reason; what it said about a picture that did decode becomes a warning."""
    failure: BaseException | None = None
    # only libtiff prints (tests/test_fuzz_images.py checks the other formats): capturing is
    # process-wide and serialised, so other formats' decoding is left to run in parallel
    with captured_stderr() if im.format == "TIFF" else nullcontext([]) as chatter:
        try:
            im.load()
        except Exception as exc:  # noqa: BLE001 - Pillow's decoders raise many types
            failure = exc
    said = "; ".join(dict.fromkeys(chatter[:3]))  # libtiff repeats itself per strip
    if isinstance(failure, Image.DecompressionBombError):
        raise CodecError(f"{name}: image too large ({failure})") from None
    if isinstance(failure, MemoryError):
        raise CodecError(f"{name}: not enough memory to decode the image") from None
    if failure is not None:
        why = library_message(failure)
        raise CodecError(f"{name}: the image data is damaged or truncated "
                         f"({said + '; ' + why if said else why})") from None
    if said:
        _warn(out, f"the image decoded, but its data may be damaged ({said})")


def _orient(im: Image.Image, out: SourceImage) -> tuple[Image.Image, bytes | None]:
    """The picture turned upright by its EXIF orientation, and the EXIF to keep (None when there
    is none, when it cannot be read, or when it is larger than a JPEG segment holds: each of the
    last two dropped with a warning, the picture still encoded)."""
    try:
        turned = ImageOps.exif_transpose(im)
        exif = turned.getexif()
        exif.pop(0x0112, None)  # orientation is applied to the pixels
        data = exif.tobytes() if len(exif) else None
    except Exception as exc:  # noqa: BLE001 - Pillow's EXIF parser raises many types
        _warn(out, f"EXIF data dropped: it cannot be read ({library_message(exc)}); the "
                   f"orientation it may hold is not applied")
        im.info.pop("exif", None)
        return im, None
    if data is not None and len(data) > MAX_EXIF_BYTES:
        _warn(out, f"EXIF data dropped: {len(data):,} bytes is too large for a JPEG "
                   f"(at most {MAX_EXIF_BYTES:,})")
        data = None
    return turned, data


def _float_to_8bit(a: np.ndarray, name: str, out: SourceImage) -> np.ndarray:
    """A float picture as 8 bits, scaled from the range its values lie in: 0-1 (the usual
    convention for float images), else 0-255, else 0-65535. Anything else (negative values,
    larger ones, NaN, infinity) has no meaning we could guess and is refused."""
    if a.size == 0 or not np.isfinite(a).all():
        raise CodecError(f"{name}: float image with NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    for top in (1.0, 255.0, 65535.0):
        if lo >= 0 and hi <= top:
            _warn(out, f"32-bit float image (values 0-{top:g}) scaled to 8 bits")
            return np.clip(np.round(a.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)
    raise CodecError(f"{name}: float image with values from {lo:g} to {hi:g}: only 0-1, 0-255 "
                     f"or 0-65535 can be read as a picture")


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
