"""Property-based fuzzing (hypothesis) of what reads regen-codec files: the metadata parser,
`info`, `decode` and `unpack`, on mutated and truncated real files (regen, comrec, format-1
JSON and packed JPEG XL), with mutations aimed at the metadata segment and the JPEG headers as
often as at the rest.

The property, for every case: the call returns a result of the size the file declares (the
metadata's, else the JPEG frame's) or raises codec.errors.CodecError; never another exception,
never longer than a time limit per case (REGEN_CODEC_FUZZ_SECONDS, default 30; a case stuck in
native code past three times that ends the run with a traceback, via faulthandler), and the
process's peak memory never grows by more than REGEN_CODEC_FUZZ_MEMORY_MB (default 2048) over
a test.

The default run is a few hundred cases in all (about a minute on one core). For a long run,
scale every test's number of cases:

    REGEN_CODEC_FUZZ_SCALE=50 python -m pytest -q tests/test_fuzz_files.py

A failure prints the smallest input hypothesis found and a `@reproduce_failure` line.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import resource
import signal
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import codec
from codec.errors import CodecError
from codec.format.container import APP_MARKER, SIGNATURE, RegenMeta, _varint, read_meta, segment, strip_meta

SCALE = float(os.environ.get("REGEN_CODEC_FUZZ_SCALE", "1"))
CASE_SECONDS = int(os.environ.get("REGEN_CODEC_FUZZ_SECONDS", "30"))
MEMORY_MB = int(os.environ.get("REGEN_CODEC_FUZZ_MEMORY_MB", "2048"))


def fuzz_settings(examples: int) -> settings:
    """`examples` cases (times REGEN_CODEC_FUZZ_SCALE); no hypothesis deadline (the per-case
    limit is ours: a loaded CI machine must not make a slow case a failure), no example
    database written into the checkout."""
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture],
                    print_blob=True)


class CaseTimeout(Exception):
    """A case ran past CASE_SECONDS."""


@contextlib.contextmanager
def case_limit():
    """The per-case time limit: SIGALRM interrupts Python code; faulthandler ends the process
    (with every thread's traceback) if native code is stuck past three times the limit."""
    def fire(signum, frame):
        raise CaseTimeout(f"a case took more than {CASE_SECONDS} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(CASE_SECONDS)
    faulthandler.dump_traceback_later(3 * CASE_SECONDS, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _peak_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


@pytest.fixture(autouse=True)
def memory_bound():
    """The process's peak resident memory may grow by at most MEMORY_MB during a test."""
    before = _peak_mb()
    yield
    grown = _peak_mb() - before
    assert grown <= MEMORY_MB, f"peak memory grew by {grown:.0f} MB during the test"


# --- seed files: small, real --------------------------------------------------------------------

def _crop(h: int, w: int) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.chelsea()[60:60 + h, 100:100 + w])


@pytest.fixture(scope="module")
def seeds() -> dict[str, bytes]:
    regen = codec.encode(_crop(48, 64), quality=30, mode="regen", effort=0)
    comrec = codec.encode(_crop(40, 56), quality=30, mode="comrec", effort=0)
    meta = read_meta(regen)
    import json

    from codec.registry import find_model

    fields = dict(mode="regen", model_id=meta.model_id,
                  model_sha256=find_model(meta.model_id).sha256, width=64,
                  height=48, encoder_version="0.1.0", format_version=1, tables="regen-v1",
                  extra={})
    payload = SIGNATURE + json.dumps(fields, separators=(",", ":")).encode()
    plain = strip_meta(regen)
    json_file = plain[:2] + segment(APP_MARKER, payload) + plain[2:]
    from codec.format.pack import pack

    return {"regen": regen, "comrec": comrec, "json": json_file, "jxl": pack(regen)}


def _interesting_region(data: bytes) -> tuple[int, int]:
    """Where mutations matter most: a JPEG's header up to its scan, or a JPEG XL file's first
    bytes (its headers and the stored JPEG's header)."""
    if data[:2] == b"\xff\xd8":
        sos = data.find(b"\xff\xda")
        return 0, (sos + 2 if sos > 0 else len(data))
    return 0, min(len(data), 400)


@st.composite
def mutated(draw, names: tuple[str, ...], seeds_: dict[str, bytes] | None = None):
    """(seed name, mutated bytes): 1-4 of bit flips, byte overwrites (often 0x00, 0xFF or a
    random value), insertions, deletions and truncation, mostly within the headers."""
    name = draw(st.sampled_from(names))
    data = bytearray(_SEEDS[name])
    lo, hi = _interesting_region(bytes(data))
    for _ in range(draw(st.integers(1, 4))):
        n = len(data)
        if n == 0:
            break
        in_header = draw(st.booleans())
        pos = draw(st.integers(lo, max(lo, min(hi, n) - 1))) if in_header else \
            draw(st.integers(0, n - 1))
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[pos] = draw(st.sampled_from([0, 0xFF, 0x7F, 0x80, 1])
                             | st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        else:
            del data[pos:]
    return name, bytes(data)


_SEEDS: dict[str, bytes] = {}


@pytest.fixture(autouse=True)
def _publish_seeds(seeds):
    _SEEDS.update(seeds)


def _valid(meta: RegenMeta) -> bool:
    """The fields a decoder relies on have their types and ranges (what RegenMeta.validated
    checks, spelled out here so that the property does not trust the code under test)."""
    import math

    from codec.format.modelid import is_model_id

    return (meta.mode in ("regen", "comrec") and is_model_id(meta.model_id)
            and isinstance(meta.model_sha256, str) and len(meta.model_sha256) in (16, 64)
            and meta.model_sha256.strip("0") != ""
            and all(c in "0123456789abcdef" for c in meta.model_sha256)
            and all(type(v) is int and 1 <= v <= 2 * 65535 for v in (meta.width, meta.height))
            and isinstance(meta.encoder_version, str) and meta.encoder_version.isprintable()
            and isinstance(meta.tables, str) and meta.tables.isprintable()
            and (meta.strength is None or isinstance(meta.strength, float)
                 and math.isfinite(meta.strength) and 0 <= meta.strength <= 1))


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """The size the file declares: its metadata's, else its JPEG frame's (None if neither can
    be read: then any successful result is suspect)."""
    from codec.format.jpeg import open_jpeg
    from codec.format.pack import as_jpeg

    try:
        jpeg = as_jpeg(data)
        meta = read_meta(jpeg)
        return (meta.width, meta.height) if meta else open_jpeg(jpeg).size
    except CodecError:
        return None


# --- the properties -----------------------------------------------------------------------------

@fuzz_settings(150)
@given(case=mutated(("regen", "comrec", "json")))
def test_metadata_parser(case):
    _, data = case
    with case_limit():
        try:
            meta = read_meta(data)
        except CodecError:
            return
    assert meta is None or isinstance(meta, RegenMeta) and _valid(meta)


@fuzz_settings(60)
@given(payload=st.binary(max_size=120), version=st.integers(0, 255))
def test_metadata_parser_on_random_records(payload, version):
    with case_limit():
        try:
            meta = RegenMeta.from_payload(SIGNATURE + bytes([version]) + payload)
        except CodecError as exc:
            assert "newer" not in str(exc) or version > 3
            return
    assert _valid(meta)


@fuzz_settings(60)
@given(case=mutated(("regen", "comrec", "json", "jxl")))
def test_info(case):
    _, data = case
    with case_limit(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            i = codec.info(data)
        except CodecError:
            return
    assert (i.width, i.height) == _jpeg_frame(data) and _agrees_with_frame(data)
    if i.metadata is not None:
        assert _valid(RegenMeta(**i.metadata))


def _agrees_with_frame(data: bytes) -> bool:
    """Whether a file's metadata size is one its JPEG frame can hold (the encoder's rule: the
    same size, or for comrec the compact size): a file that decodes must pass this, or part
    of its picture came from nowhere."""
    from codec.comcnn.model import compact_size
    from codec.format.pack import as_jpeg

    meta = read_meta(as_jpeg(data))
    if meta is None:
        return True
    w, h = _jpeg_frame(data)
    if meta.mode == "comrec":
        return compact_size(meta.height, meta.width) == (h, w)
    return (meta.width, meta.height) == (w, h)


def _jpeg_frame(data: bytes) -> tuple[int, int]:
    from codec.format.jpeg import open_jpeg
    from codec.format.pack import as_jpeg

    return open_jpeg(as_jpeg(data)).size


@pytest.mark.slow
@fuzz_settings(40)
@given(case=mutated(("regen", "comrec", "json", "jxl")))
def test_decode(case):
    _, data = case
    with case_limit(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = codec.decode(data, device="cpu")
        except CodecError:
            return
    assert img.size == _declared_size(data) and _agrees_with_frame(data)


@fuzz_settings(30)
@given(case=mutated(("jxl",)))
def test_unpack(case):
    from codec.format.pack import unpack

    _, data = case
    with case_limit():
        try:
            jpeg = unpack(data)
        except CodecError:
            return
    assert isinstance(jpeg, bytes)


@st.composite
def crafted_records(draw):
    """(seed name, file) whose metadata is a binary record rebuilt from the seed's own fields
    with its sizes often changed (to neighbours, multiples, 0 or anything up to 2**35) and
    each other field now and then replaced by arbitrary bytes."""
    name = draw(st.sampled_from(["regen", "comrec"]))
    real = read_meta(_SEEDS[name])

    def sometimes(value: bytes, other) -> bytes:
        return draw(other) if draw(st.integers(0, 9)) == 0 else value

    def text(value: str) -> bytes:
        raw = sometimes(value.encode(), st.binary(max_size=70))
        return bytes([len(raw)]) + raw

    def side(n: int) -> int:
        return draw(st.sampled_from([n, n, n - 1, n + 1, n + 2, 2 * n, 2 * n + 1, n // 2, 0, 1,
                                     2**16, 2**17 + 1]) | st.integers(0, 2**35 - 1))

    version = real.format_version
    body = sometimes(bytes([version]), st.binary(min_size=1, max_size=1))
    body += sometimes(bytes([("regen", "comrec").index(real.mode)]),
                      st.binary(min_size=1, max_size=1))
    body += _varint(side(real.width)) + _varint(side(real.height)) + text(real.model_id)
    body += sometimes(bytes.fromhex(real.model_sha256), st.binary(min_size=8, max_size=8))
    body += text(real.tables) + text(real.encoder_version)
    if real.mode == "comrec":
        body += text("") + sometimes(bytes.fromhex(real.extra["comcnn_sha256"]),
                                     st.binary(min_size=8, max_size=8))
    if version == 3:
        body += sometimes(bytes([round(real.strength * 64)]), st.binary(max_size=2))
    plain = strip_meta(_SEEDS[name])
    return name, plain[:2] + segment(APP_MARKER, SIGNATURE + body) + plain[2:]


@pytest.mark.slow
@fuzz_settings(40)
@given(case=crafted_records())
def test_decode_and_info_of_crafted_records(case):
    _, data = case
    with case_limit(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            i = codec.info(data)
            img = codec.decode(data, device="cpu")
        except CodecError:
            return
    assert img.size == _declared_size(data) == (i.metadata["width"], i.metadata["height"])
    assert _agrees_with_frame(data)


def test_seeds_are_what_the_properties_expect(seeds):
    """The unmutated seeds decode to their declared sizes (the properties' other branch)."""
    for name, data in seeds.items():
        assert _declared_size(data) is not None, name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert codec.decode(data, device="cpu").size == _declared_size(data), name
