"""Lossless shrinking of finished JPEGs: smaller files, identical pixels, still standard."""

import io

import numpy as np
import pytest
from PIL import Image

import codec
from codec.format.container import header_segments, read_meta, write_meta
from codec.format.jpeg import decode_jpeg, encode_jpeg
from codec.format.shrink import compact_headers, shrink
from codec.format.tables import REGEN_V1


def _markers(data: bytes) -> list[int]:
    return [m for m, _, _ in header_segments(data)]


@pytest.mark.parametrize("q", [3, 30, 90])
@pytest.mark.parametrize("progressive", [False, True])
def test_shrink_keeps_every_pixel_and_never_grows(photo, q, progressive):
    data = encode_jpeg(Image.fromarray(photo), q, "4:2:0", progressive=progressive)
    small = shrink(data, progressive)
    assert len(small) <= len(data)
    assert np.array_equal(decode_jpeg(small)[0], decode_jpeg(data)[0])
    assert Image.open(io.BytesIO(small)).format == "JPEG"


def test_compact_headers_merges_tables_and_drops_jfif(photo):
    exif = Image.Exif()
    exif[0x010F] = "camera maker"
    data = encode_jpeg(Image.fromarray(photo), 30, "4:2:0", icc_profile=b"\0" * 64,
                       exif=exif.tobytes())
    assert _markers(data).count(0xDB) == 2 and _markers(data).count(0xC4) == 4
    small = compact_headers(data)
    assert len(small) == len(data) - 18 - 4 - 12
    assert _markers(small).count(0xDB) == 1 and _markers(small).count(0xC4) == 1
    assert 0xE0 not in _markers(small)
    im = Image.open(io.BytesIO(small))
    assert im.info["icc_profile"] == b"\0" * 64 and im.getexif()[0x010F] == "camera maker"
    assert np.array_equal(decode_jpeg(small)[0], decode_jpeg(data)[0])


def test_encoded_files_are_shrunk(photo):
    """encode's file is smaller than the same JPEG as Pillow writes it, and decodes the same
    (without the coefficient search, which changes the coefficients on purpose)."""
    data = codec.encode(photo, quality=30, mode="regen", effort=0)
    plain = encode_jpeg(Image.fromarray(photo), 30, "4:2:0", qtables=REGEN_V1.qtables(30))
    assert len(data) < len(write_meta(plain, read_meta(data)))
    assert np.array_equal(decode_jpeg(data)[0], decode_jpeg(plain)[0])


def test_huge_images_skip_the_mozjpeg_rewrite(photo, monkeypatch):
    import codec.format.shrink as S

    data = encode_jpeg(Image.fromarray(photo), 30, "4:2:0")
    monkeypatch.setattr(S, "MOZ_MAX_PIXELS", 100)
    assert shrink(data) == compact_headers(data)
    assert shrink(data, progressive=True) == data


def test_files_meant_for_jpeg_xl_stay_baseline(photo):
    """mozjpeg's progressive rewrite packs 0.2-1% larger, so `--pack jxl` files skip it."""
    from codec.format.pack import unpack

    data = encode_jpeg(Image.fromarray(photo), 30, "4:2:0")
    assert shrink(data, mozjpeg=False) == compact_headers(data)
    packed = codec.encode(photo, quality=30, mode="regen", pack="jxl")
    jpeg = unpack(packed)
    assert 0xC0 in _markers(jpeg) and 0xC2 not in _markers(jpeg)  # baseline frame
    assert np.array_equal(decode_jpeg(jpeg)[0], decode_jpeg(codec.encode(photo, quality=30, mode="regen"))[0])


def test_mozjpeg_rewrite_is_available(photo):
    """The dependency is installed and rewrites a file (else shrink silently does less)."""
    from codec.format.shrink import _mozjpeg

    data = encode_jpeg(Image.fromarray(photo), 30, "4:2:0")
    out = _mozjpeg(data)
    assert out is not None and 0xC2 in _markers(out)  # a progressive frame
