"""Trellis-quantized coding (codec/format/trellis.py): our tables and subsampling, smaller files, the
source's metadata kept, and the same coding in training as in `encode`."""

import io

import numpy as np
import pytest
from PIL import Image

import codec
from codec.errors import CodecError
from codec.format.jpeg import decode_jpeg, encode_jpeg, open_jpeg, read_info
from codec.format.tables import TABLE_SETS, get_table_set
from codec.format.trellis import ICC_CHUNK, encode_trellis
from codec.regen.data import jpeg_roundtrip
from codec.utils.metrics import psnr

TRELLIS_SETS = sorted(n for n, ts in TABLE_SETS.items() if ts.trellis)


def test_a_trellis_set_ships():
    assert TRELLIS_SETS


@pytest.mark.parametrize("sub", ["4:2:0", "4:2:2", "4:4:4"])
def test_tables_and_subsampling_as_asked(photo, sub):
    tables = get_table_set(TRELLIS_SETS[0]).qtables(40)
    data = encode_trellis(photo, sub, tables)
    im = open_jpeg(data)
    info = read_info(im)
    assert info.qtables == tables and info.subsampling == sub
    assert not im.info.get("progressive")  # one baseline scan, as Pillow writes
    assert decode_jpeg(data)[0].shape == photo.shape


@pytest.mark.parametrize("quality", [10, 50, 90])
def test_smaller_than_rounding_at_equal_tables(photo, quality):
    """Trellis spends fewer bytes on the same tables, and the plain decode stays close."""
    tables = get_table_set(TRELLIS_SETS[0]).qtables(quality)
    ours = encode_trellis(photo, "4:2:0", tables)
    theirs = encode_jpeg(Image.fromarray(photo), quality, "4:2:0", qtables=tables)
    assert len(ours) < len(theirs)
    assert psnr(photo, decode_jpeg(ours)[0]) > psnr(photo, decode_jpeg(theirs)[0]) - 1.0


def test_metadata_kept(photo):
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    icc = bytes(range(256)) * ((2 * ICC_CHUNK + 1000) // 256)  # three APP2 chunks
    data = encode_trellis(photo, "4:2:0", get_table_set(TRELLIS_SETS[0]).qtables(30),
                          icc_profile=icc, exif=exif.tobytes())
    im = Image.open(io.BytesIO(data))
    assert im.info["icc_profile"] == icc
    assert im.getexif()[0x010F] == "TestCam"
    assert decode_jpeg(data)[0].shape == photo.shape


def test_bad_subsampling_is_a_clear_error(photo):
    with pytest.raises(CodecError, match="subsampling"):
        encode_trellis(photo, "4:1:1", get_table_set(TRELLIS_SETS[0]).qtables(30))


def test_training_codes_as_encode_does(photo):
    ts = get_table_set(TRELLIS_SETS[0])
    tables = ts.qtables(25)
    dec, _, data = jpeg_roundtrip(photo, 25, "4:2:0", tables, trellis=True)
    assert data == encode_trellis(photo, "4:2:0", tables)
    assert np.array_equal(dec, decode_jpeg(data)[0])


def test_encode_keeps_quality_meaning(photo):
    """Through `encode`: a higher quality gives a larger file and a better plain decode."""
    sizes, scores = [], []
    for q in (10, 40, 80):
        data = codec.encode(photo, quality=q, tables=TRELLIS_SETS[0], fit=False)
        sizes.append(len(data))
        scores.append(psnr(photo, decode_jpeg(data)[0]))
    assert sizes == sorted(sizes) and scores == sorted(scores)


def test_encode_keeps_icc_and_exif(photo):
    """Through `encode` (and its lossless shrink), a trellis set keeps the source's metadata."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "PNG", icc_profile=icc, exif=exif.tobytes())
    data = codec.encode(buf.getvalue(), quality=30, tables=TRELLIS_SETS[0], fit=False)
    im = Image.open(io.BytesIO(data))
    assert im.info.get("icc_profile") == icc
    assert im.getexif().get(0x010F) == "TestCam"
