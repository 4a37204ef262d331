"""Lossless size reduction of a finished JPEG: the same coefficients, so the same decoded pixels.

At the low rates where regen-codec wins most a file is 2-10 kB, and fixed costs are a large
part of it. Two rewrites, whichever is smaller is kept:
- header compaction: the optional JFIF segment is dropped (Exif cameras never write it; a
  3-component file without it decodes as YCbCr everywhere), and the tables go in one DQT and
  one DHT segment instead of two and four (both legal in baseline JPEG);
- mozjpeg's lossless progressive rewrite (the mozjpeg-lossless-optimization package), which
  tries many scan scripts: 1-5% smaller on most full-size files, larger on many small ones
  (bench/file_overhead.py measures both); skipped above MOZ_MAX_PIXELS.
The rewrite is checked: its decode must equal the input's, else the input is kept.
"""

from __future__ import annotations

from ..errors import CodecError
from .container import header_segments, segment
from .jpeg import decode_jpeg, open_jpeg

SOS, DQT, DHT, APP0 = 0xDA, 0xDB, 0xC4, 0xE0
#: Larger images skip the mozjpeg rewrite (its pixel check holds two decodes in memory).
MOZ_MAX_PIXELS = 64_000_000


def compact_headers(data: bytes) -> bytes:
    """`data` without its JFIF segment and with its tables merged into one DQT and one DHT."""
    segs = [(m, start, data[start + 4:end]) for m, start, end in header_segments(data)]
    out, done = [b"\xff\xd8"], set()
    for marker, start, payload in segs:
        if marker == SOS:
            out.append(data[start:])  # the scan header and everything after it
        elif marker == APP0 and payload.startswith(b"JFIF\x00"):
            continue
        elif marker in (DQT, DHT):
            if marker not in done:  # all tables of this kind, where the first one stood
                done.add(marker)
                out.append(segment(marker, b"".join(p for m, _, p in segs if m == marker)))
        else:
            out.append(segment(marker, payload))
    return b"".join(out)


def _mozjpeg(data: bytes) -> bytes | None:
    try:
        import mozjpeg_lossless_optimization as moz  # a C extension needed for progressive files only
    except ImportError:  # optional at run time: without it only the headers are compacted
        return None
    try:
        return moz.optimize(data, copy=moz.COPY_MARKERS.ALL)
    except ValueError:
        return None


def shrink(data: bytes, progressive: bool = False, mozjpeg: bool = True) -> bytes:
    """The smallest lossless form of a JPEG that Pillow wrote; with `progressive`, mozjpeg's
    progressive form (or `data` itself). No rewrite changes a decoded pixel: mozjpeg's output
    is decoded and compared before it is kept. `mozjpeg=False` compacts the headers only: for
    a file that will be packed as JPEG XL, whose packed form of the baseline file is 0.2-1%
    smaller than that of mozjpeg's rewrite."""
    best = data if progressive else compact_headers(data)
    w, h = open_jpeg(data).size
    if not mozjpeg or w * h > MOZ_MAX_PIXELS:  # the check below decodes twice: bound memory
        return best
    moz = _mozjpeg(data)
    if moz is not None:
        moz = compact_headers(moz)
        if (progressive or len(moz) < len(best)) and _same_pixels(data, moz):
            best = moz
    return best if len(best) <= len(data) else data


def _same_pixels(a: bytes, b: bytes) -> bool:
    try:
        return bool((decode_jpeg(a)[0] == decode_jpeg(b)[0]).all())
    except CodecError:
        return False
