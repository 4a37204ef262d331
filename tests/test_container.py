"""The metadata segment: round trip, placement, and damaged or foreign files."""

import json
import struct

import pytest
from PIL import Image

from codec.errors import CodecError
from codec.format.container import APP_MARKER, SIGNATURE, RegenMeta, read_meta, strip_meta, write_meta

from .conftest import jpeg_bytes


def _meta(**kw):
    d = dict(mode="regen", model_id="regen-fast", model_sha256="ab" * 8, width=168,
             height=120, encoder_version="0.1.0")
    d.update(kw)
    return RegenMeta(**d)


def test_round_trip(photo):
    data = write_meta(jpeg_bytes(photo), _meta())
    assert read_meta(data) == _meta()


def test_plain_jpeg_has_no_meta(photo):
    assert read_meta(jpeg_bytes(photo)) is None


def test_rewrite_replaces_not_duplicates(photo):
    data = write_meta(write_meta(jpeg_bytes(photo), _meta()), _meta(model_id="other"))
    assert data.count(SIGNATURE) == 1
    assert read_meta(data).model_id == "other"
    assert read_meta(strip_meta(data)) is None


def test_segment_follows_jfif_exif_and_icc(photo):
    exif = Image.Exif()
    exif[0x010F] = "camera maker"
    icc = b"\x00" * 128
    data = write_meta(jpeg_bytes(photo, exif=exif.tobytes(), icc_profile=icc), _meta())
    markers = []
    pos = 2
    while data[pos + 1] != 0xDA:
        markers.append(data[pos + 1])
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    i = markers.index(APP_MARKER)
    assert all(0xE0 <= m <= 0xEF for m in markers[:i]) and 0xE1 in markers[:i]
    assert 0xE2 in markers[:i]  # ICC stays before our segment, standard tables after
    assert 0xDB in markers[i + 1:]
    im = Image.open(__import__("io").BytesIO(data))
    assert im.info["icc_profile"] == icc
    im.load()


def test_newer_format_is_refused(photo):
    """A newer format is one a newer encoder wrote (whose first fields still parse)."""
    data = write_meta(jpeg_bytes(photo), _meta(encoder_version="9.0.0"))
    i = data.index(SIGNATURE) + len(SIGNATURE)  # the version byte
    with pytest.raises(CodecError, match="newer"):
        read_meta(data[:i] + bytes([99]) + data[i + 1:])


def test_strength_needs_format_3_and_round_trips(photo):
    plain = write_meta(jpeg_bytes(photo), _meta())
    fitted = write_meta(jpeg_bytes(photo), _meta(strength=40 / 64))
    i = plain.index(SIGNATURE) + len(SIGNATURE)
    assert plain[i] == 2 and fitted[i] == 3  # files without a strength stay readable by 0.2.x
    assert len(fitted) == len(plain) + 1
    m = read_meta(fitted)
    assert m.strength == 40 / 64 and m.format_version == 3
    assert read_meta(plain).strength is None
    comrec = _meta(mode="comrec", extra={"comcnn_id": "regen-fast-com", "comcnn_sha256": "cd" * 8},
                   strength=1.0)
    assert read_meta(write_meta(jpeg_bytes(photo), comrec)).strength == 1.0


def test_strength_outside_0_1_is_refused(photo):
    with pytest.raises(CodecError, match="outside"):
        write_meta(jpeg_bytes(photo), _meta(strength=1.5))
    data = write_meta(jpeg_bytes(photo), _meta(strength=1.0))
    i = data.index(SIGNATURE)
    end = i + data[i - 2] * 256 + data[i - 1] - 2  # the segment's last byte is the strength
    with pytest.raises(CodecError, match="damaged"):
        read_meta(data[:end - 1] + bytes([65]) + data[end:])


def test_damaged_segment_is_an_error(photo):
    data = write_meta(jpeg_bytes(photo), _meta())
    i = data.index(SIGNATURE) + len(SIGNATURE)
    broken = data[:i] + b"{not json" + data[i + 9:]
    with pytest.raises(CodecError, match="damaged"):
        read_meta(broken)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n", b"\xff\xd8\xff\xe0\x00"])
def test_not_jpeg_or_truncated_header(data):
    with pytest.raises(CodecError):
        read_meta(data)


@pytest.mark.parametrize("com_id", ["cr-com", "someone-elses-com"])
def test_comrec_fields_round_trip_in_a_small_segment(photo, com_id):
    meta = _meta(mode="comrec", model_id="cr", width=100001, height=3, tables="regen-v1",
                 extra={"comcnn_id": com_id, "comcnn_sha256": "cd" * 8})
    assert RegenMeta.from_payload(meta.to_bytes()) == meta
    assert len(meta.to_bytes()) < 60 + len(com_id) * (com_id != "cr-com")


def test_full_hashes_are_shortened_to_their_prefix():
    meta = _meta(model_sha256="0123456789abcdef" + "f" * 48)
    assert RegenMeta.from_payload(meta.to_bytes()).model_sha256 == "0123456789abcdef"


def test_format_1_json_files_still_read(photo):
    """Files written before format 2 (JSON, full hashes) keep decoding."""
    fields = dict(mode="comrec", model_id="comrec-r7", model_sha256="85" * 32, width=768,
                  height=512, encoder_version="0.1.0", format_version=1, tables="regen-v1",
                  extra={"comcnn_id": "comrec-r7-com", "comcnn_sha256": "88" * 32})
    payload = SIGNATURE + json.dumps(fields, separators=(",", ":")).encode()
    data = jpeg_bytes(photo)
    data = data[:2] + bytes([0xFF, APP_MARKER]) + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    assert read_meta(data) == RegenMeta(**fields)


def test_truncated_binary_segment_is_damaged(photo):
    payload = _meta().to_bytes()
    for cut in (len(SIGNATURE) + 3, len(payload) - 1):
        data = jpeg_bytes(photo)
        body = payload[:cut]
        data = data[:2] + bytes([0xFF, APP_MARKER]) + struct.pack(">H", len(body) + 2) + body + data[2:]
        with pytest.raises(CodecError, match="damaged"):
            read_meta(data)
