"""Lossless JPEG XL packing of JPEG files (storage at rest), and unpacking to the exact bytes.

JPEG XL can hold a JPEG's DCT coefficients and everything needed to rebuild the original file
byte for byte (our metadata segment included), typically 10-20% smaller. Packing verifies the
round trip before it returns, so a packed file always unpacks to the JPEG it came from.
"""

from __future__ import annotations

from ..errors import CodecError

JXL_CODESTREAM = b"\xff\x0a"
JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"


def _codecs():
    try:
        import imagecodecs  # heavy (all its codecs load): only when packing or unpacking
    except ImportError:  # pragma: no cover - a declared dependency
        raise CodecError("JPEG XL packing needs the imagecodecs package (pip install imagecodecs)") from None
    if not imagecodecs.JPEGXL.available:  # pragma: no cover
        raise CodecError("this imagecodecs build has no JPEG XL support")
    return imagecodecs


def is_jxl(data: bytes) -> bool:
    return data[:2] == JXL_CODESTREAM or data[:12] == JXL_CONTAINER


def pack(jpeg: bytes) -> bytes:
    """The JPEG XL form of a JPEG file; refuses unless unpacking gives the identical bytes."""
    if is_jxl(jpeg):
        raise CodecError("already packed (JPEG XL)")
    if jpeg[:2] != b"\xff\xd8":
        raise CodecError("only JPEG files can be packed")
    ic = _codecs()
    try:
        packed = ic.jpegxl_encode_jpeg(jpeg)
        back = ic.jpegxl_decode_jpeg(packed)
    except Exception as exc:  # imagecodecs raises its own error types
        raise CodecError(f"cannot pack this JPEG losslessly ({exc})") from None
    if back != jpeg:
        raise CodecError("cannot pack this JPEG: the JPEG XL round trip is not bit-exact "
                         f"({len(back)} bytes back for {len(jpeg)}); keeping the JPEG")
    return packed


def packed_size(jpeg: bytes) -> int:
    """Bytes of `jpeg` once packed (what a byte budget counts when the output is packed)."""
    return len(pack(jpeg))


def unpack(data: bytes) -> bytes:
    """The exact JPEG bytes a packed file was made from."""
    if not is_jxl(data):
        raise CodecError("not a JPEG XL file")
    try:
        return _codecs().jpegxl_decode_jpeg(data)
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"cannot unpack: not a JPEG XL file made from a JPEG, or damaged ({exc})") from None


def as_jpeg(data: bytes) -> bytes:
    """JPEG bytes for either form: packed files are unpacked, JPEGs returned as they are."""
    return unpack(data) if is_jxl(data) else data
