"""Lossless JPEG XL packing of JPEG files (storage at rest), and unpacking to the exact bytes.

JPEG XL can hold a JPEG's DCT coefficients and everything needed to rebuild the original file
byte for byte (our metadata segment included), typically 10-20% smaller. Packing verifies the
round trip before it returns, so a packed file always unpacks to the JPEG it came from.
"""

from __future__ import annotations

from ..errors import CodecError
from ..io.imageio import DEFAULT_MAX_PIXELS

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


#: Width : height of JPEG XL's SizeHeader ratio codes 1-7 (the width is height * num // den).
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


class _Bits:
    """JPEG XL's bit reader: least significant bit of each byte first."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        v = 0
        for i in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ValueError("truncated")
            v |= ((self.data[byte] >> (self.pos & 7)) & 1) << i
            self.pos += 1
        return v

    def side(self) -> int:
        """A SizeHeader dimension: U32(Bits(9), Bits(13), Bits(18), Bits(30)) + 1."""
        return self.u((9, 13, 18, 30)[self.u(2)]) + 1


def _codestream_start(data: bytes) -> bytes | None:
    """The first bytes of a JPEG XL file's codestream (naked, or in a jxlc / first jxlp box)."""
    if data[:2] == JXL_CODESTREAM:
        return data
    pos = 0
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        head = 8
        if size == 1:  # a 64-bit size follows the type
            size, head = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        body = data[pos + head:len(data) if size == 0 else pos + size]
        if kind == b"jxlc":
            return body
        if kind == b"jxlp":
            return body[4:]  # after the part's index
        if size == 0 or size < head:
            return None
        pos += size
    return None


def jxl_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG XL file's SizeHeader, read without decoding anything; None
    where the header cannot be found or read (libjxl then says what is wrong)."""
    cs = _codestream_start(data)
    if cs is None or cs[:2] != JXL_CODESTREAM:
        return None
    b = _Bits(cs[2:18])
    try:
        small = b.u(1)
        h = (b.u(5) + 1) * 8 if small else b.side()
        ratio = b.u(3)
        if ratio:
            num, den = _RATIOS[ratio]
            w = h * num // den
        else:
            w = (b.u(5) + 1) * 8 if small else b.side()
    except ValueError:
        return None
    return w, h


def unpack(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The exact JPEG bytes a packed file was made from. A file whose header declares more than
    `max_pixels` is refused before libjxl allocates anything for it."""
    if not is_jxl(data):
        raise CodecError("not a JPEG XL file")
    size = jxl_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise CodecError(f"the packed picture is {size[0]}x{size[1]} pixels, over the limit of "
                         f"{max_pixels:,} that decoding handles")
    try:
        return _codecs().jpegxl_decode_jpeg(data)
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"cannot unpack: not a JPEG XL file made from a JPEG, or damaged ({exc})") from None


def as_jpeg(data: bytes) -> bytes:
    """JPEG bytes for either form: packed files are unpacked, JPEGs returned as they are."""
    return unpack(data) if is_jxl(data) else data
