"""Crafted metadata segments: sizes that disagree with the JPEG frame, absurd sizes, fields of
the wrong type or range in every format, damaged version bytes. Each is refused with one clean
CodecError before any network runs or any picture is allocated."""

from __future__ import annotations

import json
import struct
from dataclasses import replace

import numpy as np
import pytest

import codec
from codec.errors import CodecError
from codec.format.container import APP_MARKER, SIGNATURE, RegenMeta, read_meta, segment, strip_meta, write_meta


@pytest.fixture(scope="module")
def comrec_file() -> bytes:
    """A real 128x96 comrec file (compact frame 64x48)."""
    from skimage import data

    rgb = np.ascontiguousarray(data.chelsea()[60:156, 100:228])
    return codec.encode(rgb, quality=30, mode="comrec", effort=0)


@pytest.fixture(scope="module")
def regen_file() -> bytes:
    from skimage import data

    rgb = np.ascontiguousarray(data.chelsea()[60:108, 100:164])
    return codec.encode(rgb, quality=30, mode="regen", effort=0)


def _with_meta(data: bytes, **changes) -> bytes:
    """`data` with its metadata changed (written by the normal writer: a well-formed segment)."""
    meta = read_meta(data)
    fields = {k: getattr(meta, k) for k in meta.__dataclass_fields__}
    fields.update(changes)
    m = RegenMeta(**fields)
    payload = m.to_bytes()
    return _with_payload(data, payload)


def _with_payload(data: bytes, payload: bytes) -> bytes:
    data = strip_meta(data)
    return data[:2] + segment(APP_MARKER, payload) + data[2:]


def _sof(data: bytes) -> int:
    """Offset of the SOF segment's marker."""
    for m in (b"\xff\xc0", b"\xff\xc2", b"\xff\xc1"):
        i = data.find(m)
        if i > 0:
            return i
    raise AssertionError("no SOF")


def _frame(data: bytes, width: int, height: int) -> bytes:
    """`data` with the JPEG frame's declared size changed (the scan data stays as it was)."""
    i = _sof(data) + 5  # marker, length, precision
    return data[:i] + struct.pack(">HH", height, width) + data[i + 4:]


def _refused(data: bytes, cli, tmp_path, says: str) -> None:
    with pytest.raises(CodecError, match=says):
        codec.decode(data, device="cpu")
    with pytest.raises(CodecError, match=says):
        codec.info(data)
    f = tmp_path / "crafted.jpg"
    f.write_bytes(data)
    for args in (("decode", f, "-o", tmp_path / "out.png", "--device", "cpu"), ("info", f)):
        r = cli(*args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.startswith("regen-codec: error: ") and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.output
    assert not (tmp_path / "out.png").exists()


def test_real_files_agree_with_their_frames(comrec_file, regen_file):
    assert codec.info(comrec_file).width == 64 and codec.info(comrec_file).metadata["width"] == 128
    assert codec.decode(comrec_file, device="cpu").size == (128, 96)
    assert codec.decode(regen_file, device="cpu").size == (64, 48)


@pytest.mark.parametrize("size", [(53, 77), (77, 53), (1, 1), (3, 2)])
def test_comrec_odd_sizes_follow_the_encoders_rule(size):
    """ceil(w/2) x ceil(h/2), as codec.comcnn.model.compact_size makes it."""
    from skimage import data

    h, w = size
    rgb = np.ascontiguousarray(data.astronaut()[100:100 + h, 200:200 + w])
    out = codec.decode(codec.encode(rgb, quality=40, mode="comrec", effort=0), device="cpu")
    assert out.size == (w, h)


@pytest.mark.parametrize("width,height", [(128, 200), (128, 20000), (256, 96), (127, 95),
                                          (130, 96), (128, 98)])
def test_comrec_size_must_agree_with_the_compact_frame(comrec_file, cli, tmp_path, width, height):
    """(127, 95) still gives a 64x48 compact frame: only it may differ from 128x96 and decode."""
    data = _with_meta(comrec_file, width=width, height=height)
    if (width, height) == (127, 95):
        assert codec.decode(data, device="cpu").size == (127, 95)
        return
    _refused(data, cli, tmp_path, "damaged")


@pytest.mark.parametrize("width,height", [(0, 0), (0, 96), (128, 0), (128, 2_000_000),
                                          (10**9, 10**9)])
def test_impossible_sizes_are_damaged_metadata(comrec_file, cli, tmp_path, width, height):
    _refused(_with_meta(comrec_file, width=width, height=height), cli, tmp_path, "damaged")


def test_regen_size_must_equal_the_frame(regen_file, cli, tmp_path):
    for w, h in ((64, 49), (65, 48), (128, 96), (32, 24)):
        _refused(_with_meta(regen_file, width=w, height=h), cli, tmp_path, "damaged")


@pytest.mark.parametrize("which", ["height", "width"])
def test_a_flipped_sof_byte_is_refused(comrec_file, regen_file, cli, tmp_path, which):
    for data in (comrec_file, regen_file):
        i = _sof(data) + (5 if which == "height" else 7) + 1  # low byte of the side
        flipped = data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:]
        _refused(flipped, cli, tmp_path, "damaged")


def test_pixel_limit_applies_to_the_output_before_allocation(comrec_file, cli, tmp_path,
                                                           monkeypatch):
    """A 10000x10000 compact frame (100 MP, under the limit) whose metadata asks for the
    20000x20000 (400 MP) it restores to: refused from the headers, nothing decoded."""
    import codec.api as A

    data = _frame(_with_meta(comrec_file, width=20000, height=20000), 10000, 10000)
    monkeypatch.setattr(A, "decode_jpeg", lambda *a: pytest.fail("decoded pixels"))
    monkeypatch.setattr(A, "_registry_load", lambda *a, **k: pytest.fail("loaded a network"))
    _refused(data, cli, tmp_path, "above the 250,000,000")


# --- every field of every format, type- and range-checked (format 1 is JSON) -----------------

FORMAT1 = dict(mode="regen", model_id="regen-coarse4", model_sha256="ee074706" + "0" * 56,
               width=64, height=48, encoder_version="0.1.0", format_version=1,
               tables="regen-v1", extra={})


def _format1(regen_file: bytes, **changes) -> bytes:
    fields = {**FORMAT1, **changes}
    fields = {k: v for k, v in fields.items() if v is not _DROP}
    payload = SIGNATURE + json.dumps(fields, separators=(",", ":")).encode()
    return _with_payload(regen_file, payload)


_DROP = object()


def test_a_well_formed_format_1_record_reads(regen_file):
    meta = read_meta(_format1(regen_file))
    assert meta.model_id == "regen-coarse4" and meta.width == 64 and meta.strength is None


@pytest.mark.parametrize("changes", [
    {"model_sha256": 123}, {"model_sha256": ""}, {"model_sha256": "ee074706"},
    {"model_sha256": "EE074706" + "0" * 56}, {"model_sha256": "zz" * 32}, {"model_sha256": "0" * 64},
    {"tables": ["x"]}, {"tables": ""}, {"tables": "a b"}, {"tables": "x\x1b[2J"},
    {"strength": "0.5"}, {"strength": 5.0}, {"strength": -3.0}, {"strength": float("nan")},
    {"strength": float("inf")}, {"strength": True},
    {"width": "64"}, {"width": 64.0}, {"width": True}, {"width": -64}, {"height": None},
    {"mode": "Regen"}, {"mode": 0}, {"model_id": "../../x"}, {"model_id": "A\nforged"},
    {"model_id": 5}, {"encoder_version": "0.1\n.0"}, {"encoder_version": 1},
    {"extra": []}, {"extra": {"comcnn_id": "x"}}, {"format_version": 2}, {"format_version": "1"},
    {"format_version": 91}, {"format_version": True}, {"unknown": 1}, {"model_id": _DROP},
    {"mode": "comrec", "extra": {"comcnn_id": "../x", "comcnn_sha256": "0" * 64}},
    {"mode": "comrec", "extra": {"comcnn_id": "x", "comcnn_sha256": 5}},
])
def test_format_1_fields_are_type_and_range_checked(regen_file, changes):
    with pytest.raises(CodecError, match="damaged"):
        read_meta(_format1(regen_file, **changes))


@pytest.mark.parametrize("body", [b"[1, 2]", b'"x"', b"{" * 5000 + b"}" * 5000, b"{}",
                                  b'{"mode": NaN}'])
def test_format_1_structure_is_checked(regen_file, body):
    with pytest.raises(CodecError, match="damaged"):
        read_meta(_with_payload(regen_file, SIGNATURE + body))


def test_an_empty_hash_is_refused_not_skipped(regen_file, cli, tmp_path, monkeypatch):
    """model_sha256 "" used to skip the hash check: the network ran unchecked."""
    import codec.api as A

    monkeypatch.setattr(A, "_registry_load", lambda *a, **k: pytest.fail("loaded a network"))
    _refused(_format1(regen_file, model_sha256=""), cli, tmp_path, "hash")


@pytest.mark.parametrize("changes", [{"model_id": "Upper"}, {"model_id": "a/b"},
                                     {"model_id": "esc\x1b[31m"}, {"tables": "a\nb"},
                                     {"encoder_version": ""}, {"model_sha256": ""},
                                     {"model_sha256": "00" * 8}])
def test_binary_fields_are_checked_too(regen_file, changes):
    with pytest.raises(CodecError, match="damaged"):
        read_meta(_with_meta(regen_file, **changes))


def test_format_3_strength_byte_range(regen_file):
    data = _with_meta(regen_file, strength=1.0, format_version=3)
    end = _end_of_segment(data)
    assert read_meta(data).strength == 1.0
    with pytest.raises(CodecError, match="damaged"):
        read_meta(data[:end - 1] + bytes([65]) + data[end:])


def _end_of_segment(data: bytes) -> int:
    i = data.index(SIGNATURE)
    return i - 2 + struct.unpack(">H", data[i - 2:i])[0]


def test_output_of_info_never_carries_control_characters(regen_file, cli, tmp_path):
    f = tmp_path / "f.jpg"
    f.write_bytes(_format1(regen_file, encoder_version="0.1\x1b[2J"))
    r = cli("info", f)
    assert r.exit_code == 2 and "\x1b" not in r.output and r.stderr.count("\n") == 1


# --- the version byte ---------------------------------------------------------------------------

def _version_byte(data: bytes) -> int:
    return data.index(SIGNATURE) + len(SIGNATURE)


@pytest.mark.parametrize("version", [4, 91, 200, 255])
def test_a_damaged_version_byte_is_damage_not_a_newer_format(regen_file, version):
    """An older encoder's record with its first byte hit: not 'upgrade regen-codec'."""
    i = _version_byte(regen_file)
    data = regen_file[:i] + bytes([version]) + regen_file[i + 1:]
    with pytest.raises(CodecError, match="damaged") as e:
        read_meta(data)
    assert "newer" not in str(e.value)


@pytest.mark.parametrize("tail", [b"", b"\x00", b"\x05\xff\xff\xff\xff\xff\xff\xff\xff",
                                  bytes(range(40))])
def test_garbage_after_a_high_version_byte_is_damage(regen_file, tail):
    with pytest.raises(CodecError, match="damaged"):
        read_meta(_with_payload(regen_file, SIGNATURE + bytes([91]) + tail))


@pytest.mark.parametrize("version", [0, 1])
def test_binary_records_below_format_2_do_not_exist(regen_file, version):
    i = _version_byte(regen_file)
    with pytest.raises(CodecError, match="damaged"):
        read_meta(regen_file[:i] + bytes([version]) + regen_file[i + 1:])


def test_a_plausible_newer_format_asks_for_an_upgrade(regen_file):
    """A newer encoder's record of a later version, with fields added at the end."""
    newer = _with_meta(regen_file, encoder_version="9.1.0")
    i = _version_byte(newer)
    end = _end_of_segment(newer)
    payload = newer[i - len(SIGNATURE):end]
    payload = payload[:len(SIGNATURE)] + bytes([7]) + payload[len(SIGNATURE) + 1:] + b"\x01new"
    with pytest.raises(CodecError, match="version 7 is newer.*upgrade"):
        read_meta(_with_payload(regen_file, payload))


def test_meta_records_round_trip_validated(regen_file, comrec_file):
    for data in (regen_file, comrec_file):
        meta = read_meta(data)
        assert meta.validated() is meta
        assert read_meta(write_meta(data, replace(meta))) == meta


@pytest.mark.parametrize("size", [(200, 128), (96, 130), (94, 128), (0, 0)])
def test_upscale_never_leaves_rows_unwritten(size):
    """The comrec upscale refuses a size its compact image does not make (it left rows of
    uninitialized memory in the picture)."""
    from codec.reccnn.infer import upscale_image

    small = np.full((48, 64, 3), 128, np.uint8)
    assert upscale_image(small, (95, 127)).shape == (95, 127, 3)
    with pytest.raises(CodecError, match="damaged"):
        upscale_image(small, size)
