"""Plain JPEG coding with Pillow, plus what a JPEG file tells about itself (tables, subsampling).

Encoding and decoding always go through these two functions, so that training data, `encode`
and `decode` see exactly the same codec.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, JpegImagePlugin, UnidentifiedImageError

from ..errors import CodecError
from ..io.chatter import library_message
from ..io.imageio import DEFAULT_MAX_PIXELS, no_pillow_pixel_limit
from .trellis import encode_trellis

SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")
_PIL_SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}

# The IJG (Annex K) luminance table in natural order; quality 50 uses it unscaled.
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)

# Length of the conditioning vector: 64 luma + 64 chroma table entries + one-hot subsampling.
COND_DIM = 64 + 64 + len(SUBSAMPLINGS)


@dataclass
class JpegInfo:
    """What the decoder learns from a JPEG's headers."""

    width: int
    height: int
    qtables: list[list[int]]  # one or more tables of 64 entries, in the order Pillow reports them
    subsampling: str  # "4:4:4", "4:2:2", "4:2:0", "gray" or "other"
    components: int

    @property
    def quality(self) -> int:
        """The IJG quality setting whose luma table is closest to this file's."""
        return estimate_quality(self.qtables[0])


@contextmanager
def _jpeg_buffer(nbytes: int):
    """Let Pillow's JPEG encoder use an output buffer of at least nbytes while the block runs."""
    old = ImageFile.MAXBLOCK
    ImageFile.MAXBLOCK = max(old, nbytes)
    try:
        yield
    finally:
        ImageFile.MAXBLOCK = old


def encode_jpeg(img: Image.Image, quality: int, subsampling: str = "4:2:0", *,
                optimize: bool = True, progressive: bool = False,
                icc_profile: bytes | None = None, exif: bytes | None = None,
                qtables=None, trellis: bool = False) -> bytes:
    """Encode an RGB image as a baseline (or progressive) JPEG; Huffman tables optimized by default.

    `qtables` ([luma, chroma], natural order) replaces the tables that `quality` would give;
    they are written as they are (Pillow would otherwise rescale them by the quality).
    `trellis`: mozjpeg's trellis quantization with those tables (codec/format/trellis.py) instead of
    Pillow's rounding; always one baseline scan with optimized Huffman tables (`optimize` and
    `progressive` do not apply; codec.format.shrink can rewrite it progressive).
    """
    if not 1 <= int(quality) <= 100:
        raise CodecError(f"quality must be between 1 and 100, got {quality}")
    if subsampling not in SUBSAMPLINGS:
        raise CodecError(f"subsampling must be one of {', '.join(SUBSAMPLINGS)}, got {subsampling!r}")
    if trellis:
        if qtables is None:
            raise CodecError("trellis coding needs explicit quantization tables")
        return encode_trellis(np.asarray(img.convert("RGB")), subsampling, qtables,
                              icc_profile=icc_profile, exif=exif)
    kwargs = dict(quality=int(quality), subsampling=subsampling, optimize=optimize,
                  progressive=progressive)
    if icc_profile:
        kwargs["icc_profile"] = icc_profile
    if exif:
        kwargs["exif"] = exif
    if qtables is not None:
        kwargs["qtables"] = [list(t) for t in qtables]
        kwargs["quality"] = 50  # libjpeg scales custom tables by the quality: 50 keeps them
    # Pillow sizes the output buffer of an optimized or progressive JPEG from the quality it is
    # given (50 with custom tables): one byte per pixel, which a detailed image near lossless
    # overflows (libjpeg prints "Suspension not allowed here" and Pillow raises). Give it two,
    # and eight if even that is not enough.
    w, h = img.size
    buf = io.BytesIO()
    try:
        with _jpeg_buffer(2 * w * h + 65536):
            img.save(buf, "JPEG", **kwargs)
    except OSError:
        buf = io.BytesIO()
        with _jpeg_buffer(8 * w * h + 65536):
            img.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def read_info(im: Image.Image) -> JpegInfo:
    """Tables and subsampling of an opened (not necessarily loaded) Pillow JPEG image."""
    q = getattr(im, "quantization", None) or {}
    tables = [list(q[k]) for k in sorted(q)]
    if not tables:
        raise CodecError("the JPEG has no quantization tables")
    layers = getattr(im, "layers", len(im.getbands()))
    if layers == 1:
        sub = "gray"
    else:
        sub = _PIL_SUBSAMPLING.get(JpegImagePlugin.get_sampling(im), "other")
    return JpegInfo(width=im.width, height=im.height, qtables=tables, subsampling=sub,
                    components=layers)


def open_jpeg(data: bytes) -> Image.Image:
    """Open JPEG bytes with Pillow, with a clear error for anything that is not a JPEG."""
    try:
        with no_pillow_pixel_limit():  # headers only; decode_jpeg checks the size
            im = Image.open(io.BytesIO(data))
    except Exception as exc:  # Pillow raises several types for garbage input
        if data[:2] == b"\xff\xd8":
            why = ("Pillow cannot identify it" if isinstance(exc, UnidentifiedImageError)
                   else library_message(exc))
            raise CodecError(f"the JPEG data is damaged or truncated ({why})") from None
        raise CodecError(f"not a readable image ({exc.__class__.__name__})") from None
    if im.format != "JPEG":
        raise CodecError(f"not a JPEG file (found {im.format or 'unknown'} data)")
    return im


def decode_jpeg(data: bytes) -> tuple[np.ndarray, JpegInfo]:
    """Decode JPEG bytes to an HxWx3 uint8 RGB array (libjpeg's standard decode) and its info."""
    im = open_jpeg(data)
    info = read_info(im)
    w, h = im.size
    if w * h > DEFAULT_MAX_PIXELS:  # refused from the header, before memory is allocated
        raise CodecError(f"{w}x{h} is {w * h:,} pixels ({w * h / 1e6:.0f} megapixels), above the "
                         f"{DEFAULT_MAX_PIXELS:,} that decoding handles")
    try:
        im.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise CodecError(f"the JPEG data is damaged or truncated ({library_message(exc)})") from None
    rgb = im.convert("RGB") if im.mode != "RGB" else im
    return np.asarray(rgb), info


def estimate_quality(luma_table) -> int:
    """Invert the IJG table scaling: the quality whose scaled luma table best matches."""
    t = np.asarray(luma_table, dtype=np.float64)
    best, best_err = 50, float("inf")
    for q in range(1, 101):
        scale = 5000 / q if q < 50 else 200 - 2 * q
        ref = np.clip(np.floor((_STD_LUMA * scale + 50) / 100), 1, 255)
        err = float(np.abs(np.log(ref) - np.log(np.maximum(t, 1))).sum())
        if err < best_err:
            best, best_err = q, err
    return best


def cond_vector(info: JpegInfo) -> np.ndarray:
    """The network's conditioning input: log-scaled luma and chroma tables plus subsampling.

    Grayscale files reuse the luma table for chroma; unknown subsampling counts as 4:2:0.
    """
    luma = np.asarray(info.qtables[0], dtype=np.float32)
    chroma = np.asarray(info.qtables[1] if len(info.qtables) > 1 else info.qtables[0],
                        dtype=np.float32)
    tables = np.log(np.concatenate([luma, chroma])) / np.log(255.0)
    onehot = np.zeros(len(SUBSAMPLINGS), np.float32)
    sub = info.subsampling if info.subsampling in SUBSAMPLINGS else "4:2:0"
    onehot[SUBSAMPLINGS.index(sub)] = 1.0
    return np.concatenate([tables, onehot]).astype(np.float32)
