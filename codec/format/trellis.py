"""Trellis quantization: JPEG coding by mozjpeg, which picks each block's quantized coefficients
by rate-distortion instead of rounding them (issue 7's coefficient-level RDO).

mozjpeg is one of the libjpeg builds that jpeglib bundles, so no entropy coding is written here.
It codes with our tables and subsampling; its progressive scans are rewritten as one
Huffman-optimized baseline scan (the same coefficients, so the same pixels), as Pillow writes
them. A table set with `trellis=True` (codec/format/tables.py) codes this way, in `encode` and in
`train regen`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import CodecError
from .container import header_segments, segment

#: jpeglib's name of the mozjpeg build used; a set that names trellis codes with this one.
MOZJPEG = "mozjpeg403"
#: (vertical, horizontal) sampling factors of Y, Cb, Cr, as jpeglib takes them.
SAMPLING = {"4:2:0": [[2, 2], [1, 1], [1, 1]], "4:2:2": [[1, 2], [1, 1], [1, 1]],
            "4:4:4": [[1, 1], [1, 1], [1, 1]]}
#: jpeglib flags: trellis on AC coefficients only (trellis on DC bought nothing after
#: regeneration, bench/results/tables/trellis.json).
TRELLIS_FLAGS = ["+TRELLIS_QUANT", "-TRELLIS_QUANT_DC"]


#: Bytes of an ICC profile per APP2 segment (the ICC spec's chunking: 65,535 less the length,
#: the "ICC_PROFILE\0" tag and the chunk's number and count).
ICC_CHUNK = 65519


def metadata_segments(icc_profile: bytes | None, exif: bytes | None) -> bytes:
    """APP1 (Exif) and APP2 (ICC profile, in chunks) segments, as Pillow writes them."""
    out = b""
    if exif:
        if not exif.startswith(b"Exif\x00\x00"):
            exif = b"Exif\x00\x00" + exif
        if len(exif) + 2 > 0xFFFF:
            raise CodecError("the Exif data is too large for a JPEG segment")
        out += segment(0xE1, exif)
    if icc_profile:
        chunks = [icc_profile[i:i + ICC_CHUNK] for i in range(0, len(icc_profile), ICC_CHUNK)]
        if len(chunks) > 255:
            raise CodecError("the ICC profile is too large for a JPEG file")
        for i, chunk in enumerate(chunks):
            out += segment(0xE2, b"ICC_PROFILE\x00" + bytes([i + 1, len(chunks)]) + chunk)
    return out


def encode_trellis(rgb: np.ndarray, subsampling: str, qtables, flags=TRELLIS_FLAGS, *,
                   icc_profile: bytes | None = None, exif: bytes | None = None) -> bytes:
    """A baseline JPEG of `rgb` (H, W, 3 uint8) coded by mozjpeg with these [luma, chroma]
    tables (natural order) and subsampling, Huffman tables optimized; the ICC profile and Exif
    data go in after the JFIF segment, where Pillow puts them."""
    import jpeglib  # loads libjpeg builds at import: only for the trellis table set

    if subsampling not in SAMPLING:
        raise CodecError(f"subsampling must be one of {', '.join(SAMPLING)}, got {subsampling!r}")
    qt = np.stack([np.asarray(t, np.uint16).reshape(8, 8) for t in qtables])
    path = None
    try:  # jpeglib writes files only
        fd, path = tempfile.mkstemp(suffix=".jpg")
        os.close(fd)
        with jpeglib.version(MOZJPEG):
            im = jpeglib.from_spatial(np.ascontiguousarray(rgb, dtype=np.uint8))
            im.samp_factor = np.array(SAMPLING[subsampling])
            im.write_spatial(path, qt=qt, flags=list(flags))
        with jpeglib.version("6b"):  # one baseline scan, optimized Huffman tables
            jpeglib.read_dct(path).write_dct(path, flags=["+OPTIMIZE_CODING"])
        data = Path(path).read_bytes()
    except (OSError, RuntimeError, ValueError) as e:
        raise CodecError(f"trellis coding failed: {e}") from None
    finally:
        if path is not None:
            Path(path).unlink(missing_ok=True)
    meta = metadata_segments(icc_profile, exif)
    if not meta:
        return data
    first = next(header_segments(data), None)  # after the JFIF segment, if there is one
    at = first[2] if first is not None and first[0] == 0xE0 else 2
    return data[:at] + meta + data[at:]
