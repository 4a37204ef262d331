"""The metadata segment: round trip, placement, and damaged or foreign files."""

import struct

import pytest
from PIL import Image

from codec.container import APP_MARKER, SIGNATURE, RegenMeta, read_meta, strip_meta, write_meta
from codec.errors import CodecError

from .conftest import jpeg_bytes


def _meta(**kw):
    d = dict(mode="regen", model_id="regen-fast", model_sha256="ab" * 32, width=168,
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
    payload = _meta(format_version=99)
    with pytest.raises(CodecError, match="newer"):
        read_meta(write_meta(jpeg_bytes(photo), payload))


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
