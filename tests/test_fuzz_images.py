"""Property-based fuzzing of the image reader (codec.io.imageio.load_image) on mutated PNG, GIF,
TIFF, WebP and JPEG files: truncations, byte flips, overwritten header fields, inserted and
deleted runs, PNG chunks with their CRCs made right again so the damage reaches the decoder.

The property, for every case: either a picture of the declared size (8-bit RGB, within the
pixel limit) that the JPEG writer accepts together with the metadata the reader kept, or
CodecError with a one-line message and no object repr; never another exception, nothing written
on stderr by a C library, no case longer than a time limit, no memory growth beyond a bound.

The default run is small and deterministic (a fixed set of examples, a few seconds). A long run:

    REGEN_CODEC_FUZZ_EXAMPLES=20000 python -m pytest -q tests/test_fuzz_images.py

(random examples, different each run; hypothesis prints a failing case's bytes to reproduce it).
REGEN_CODEC_FUZZ_CASE_SECONDS sets the time limit per case (default 10 s, generous for a loaded
CI machine: one case takes milliseconds); a case stuck inside C code for three times that ends
the run with exit status 1 (with -s, the stacks are printed).
"""

from __future__ import annotations

import atexit
import faulthandler
import io
import os
import resource
import signal
import struct
import sys
import tempfile
import warnings
import zlib
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from codec.errors import CodecError
from codec.format.jpeg import encode_jpeg
from codec.io.imageio import CodecWarning, load_image

EXAMPLES = int(os.environ.get("REGEN_CODEC_FUZZ_EXAMPLES", "200"))
CASE_SECONDS = float(os.environ.get("REGEN_CODEC_FUZZ_CASE_SECONDS", "10"))
MAX_PIXELS = 1_000_000  # a mutated header may claim any size: what is decoded stays bounded
MEMORY_BOUND = 512 * 2**20  # growth of the peak resident size over the whole run, in bytes


def _picture(w: int = 24, h: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], axis=2)
    return np.clip(base + rng.integers(-20, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _seeds() -> dict[str, bytes]:
    """Small valid files of each format and of the modes the reader converts."""
    rgb = Image.fromarray(_picture())
    frames = [Image.fromarray(_picture(seed=k)) for k in range(3)]
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotated
    exif[0x010E] = "fuzz"
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    gray16 = Image.fromarray(_picture()[..., 0].astype(np.uint16) * 257)
    return {
        "png": _save(rgb, "PNG"),
        "png-palette-alpha": _save(pal, "PNG", transparency=0),
        "png-16bit": _save(gray16, "PNG"),
        "png-exif": _save(rgb, "PNG", exif=exif.tobytes()),
        "apng": _save(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "gif": _save(pal, "GIF"),
        "gif-animated": _save(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "tiff": _save(rgb, "TIFF"),
        "tiff-lzw": _save(rgb, "TIFF", compression="tiff_lzw"),
        "tiff-deflate": _save(rgb, "TIFF", compression="tiff_deflate"),
        "tiff-packbits": _save(rgb, "TIFF", compression="packbits"),
        "tiff-pages": _save(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "tiff-float": _save(Image.fromarray(_picture()[..., 0] / np.float32(255), "F"), "TIFF"),
        "webp": _save(rgb, "WEBP", quality=80),
        "webp-lossless": _save(rgb, "WEBP", lossless=True),
        "webp-animated": _save(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "jpeg": _save(rgb, "JPEG", quality=80),
        "jpeg-progressive-exif": _save(rgb, "JPEG", quality=80, progressive=True, exif=exif),
        "jpeg-cmyk": _save(rgb.convert("CMYK"), "JPEG", quality=80),
        "jpeg-gray": _save(rgb.convert("L"), "JPEG", quality=80),
    }


SEEDS = _seeds()
INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]


def _fix_png_crcs(data: bytearray) -> bytearray:
    """Recompute each PNG chunk's CRC where the chunk structure still parses, so that the
    damage reaches the decoder instead of stopping at the checksum."""
    pos = 8
    while pos + 12 <= len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        end = pos + 8 + n
        if end + 4 > len(data):
            break
        data[end:end + 4] = struct.pack(">I", zlib.crc32(bytes(data[pos + 4:end])))
        pos = end + 4
    return data


_OPS = st.tuples(
    st.sampled_from(["truncate", "flip", "byte", "u16", "u32", "insert", "delete", "repeat"]),
    st.one_of(st.integers(0, 255), st.integers(0, 1 << 20)),  # position: header-heavy
    st.integers(0, 255),
    st.sampled_from(INTERESTING),
    st.integers(1, 64),
)


@st.composite
def mutated_files(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[kind])
    for op, pos, byte, big, n in draw(st.lists(_OPS, min_size=1, max_size=6)):
        if not data:
            break
        pos %= len(data)
        if op == "truncate":
            del data[max(pos, 1):]
        elif op == "flip":
            data[pos] ^= 1 << (byte % 8)
        elif op == "byte":
            data[pos] = byte
        elif op == "u16":
            data[pos:pos + 2] = struct.pack(">H" if byte % 2 else "<H", big & 0xFFFF)
        elif op == "u32":
            data[pos:pos + 4] = struct.pack(">I" if byte % 2 else "<I", big)
        elif op == "insert":
            data[pos:pos] = bytes([byte]) * n
        elif op == "delete":
            del data[pos:pos + n]
        elif op == "repeat":
            data[pos:pos] = data[pos:pos + n]
    if kind.startswith(("png", "apng")) and draw(st.booleans()):
        data = _fix_png_crcs(data)
    return kind, bytes(data)


class CaseTooSlow(Exception):
    pass


#: stderr as it was at import, for faulthandler's report: a case's own fd 2 is captured
#: (_fd2_text). Under pytest's default capture that is pytest's file, lost when faulthandler
#: ends the run: rerun with -s to see the stacks of a case that hung.
_REAL_STDERR = os.fdopen(os.dup(2), "w")
atexit.register(_REAL_STDERR.close)


@contextmanager
def _time_limit(seconds: float):
    """CaseTooSlow after `seconds` in Python code; for a hang inside C code, where no Python
    signal handler runs, faulthandler ends the whole run with every thread's stack instead."""
    def expire(signum, frame):
        raise CaseTooSlow(f"one case ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(3 * seconds, exit=True, file=_REAL_STDERR)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextmanager
def _fd2_text():
    """What is written on file descriptor 2 (by C libraries too) inside the block."""
    out: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            out.append(sink.read().decode("utf-8", "replace"))


def _peak_rss() -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


_BASELINE = {}


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
@settings(max_examples=EXAMPLES, deadline=None, derandomize="REGEN_CODEC_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
          database=None)
@given(mutated_files())
def test_image_reader_on_mutated_files(case):
    kind, data = case
    _BASELINE.setdefault("rss", _peak_rss())
    result = None
    with _fd2_text() as said, warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        with _time_limit(CASE_SECONDS):
            try:
                result = load_image(data, name="fuzzed-input", max_pixels=MAX_PIXELS)
            except CodecError as exc:
                msg = str(exc)
                assert msg.startswith("fuzzed-input: ") or "fuzzed-input" in msg, msg
                assert "\n" not in msg and "object at 0x" not in msg, msg
            if result is not None:  # what was kept must also be writable
                encode_jpeg(Image.fromarray(result.rgb), 50, icc_profile=result.icc_profile,
                            exif=result.exif)
    assert said == [""], f"{kind}: a library wrote on stderr: {said[0]!r}"
    foreign = [f"{w.category.__name__}: {w.message}" for w in warned
               if not issubclass(w.category, CodecWarning)]
    assert not foreign, f"{kind}: warnings not translated into CodecWarning: {foreign}"
    if result is not None:
        rgb = result.rgb
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
        assert (rgb.shape[1], rgb.shape[0]) in ((w, h), (h, w)), kind  # EXIF may turn it
        assert 0 < rgb.shape[0] * rgb.shape[1] <= MAX_PIXELS
    assert _peak_rss() - _BASELINE["rss"] < MEMORY_BOUND, "memory grew beyond the bound"


def test_every_seed_reads():
    """The seeds themselves are valid: the fuzzing starts from files the reader accepts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodecWarning)
        for kind, data in SEEDS.items():
            assert load_image(data).rgb.shape[2] == 3, kind
