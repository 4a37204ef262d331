"""Quantization table sets: the standard set is exactly libjpeg's, tuned sets travel in the file."""

import io

import numpy as np
import pytest
from PIL import Image

import codec
from codec.errors import CodecError
from codec.format.container import read_meta
from codec.format.jpeg import encode_jpeg
from codec.format.tables import STANDARD, TABLE_SETS, TableSet, get_table_set

FLAT = TableSet("flat-test")  # no shaping: must give back the IJG tables
SHAPED = TableSet("shaped-test", luma_tilt=0.8, chroma_tilt=-0.5, chroma_gain=1.3,
                  subsampling=((40, "4:2:0"), (80, "4:2:2"), (100, "4:4:4")))


def _tables(data: bytes) -> list[list[int]]:
    q = Image.open(io.BytesIO(data)).quantization
    return [list(q[k]) for k in sorted(q)]


@pytest.mark.parametrize("quality", [1, 5, 23, 30, 49, 50, 51, 77, 95, 100])
def test_unshaped_family_is_libjpeg(photo, quality):
    img = Image.fromarray(photo)
    assert encode_jpeg(img, quality) == encode_jpeg(img, quality, qtables=FLAT.qtables(quality))


@pytest.mark.parametrize("quality", [5, 40, 90])
def test_custom_tables_are_written_as_given(photo, quality):
    tables = SHAPED.qtables(quality)
    assert tables != FLAT.qtables(quality)
    data = encode_jpeg(Image.fromarray(photo), quality, qtables=tables)
    assert _tables(data) == tables


def test_quality_keeps_its_meaning(photo):
    """Higher quality: every table entry finer or equal, and a larger file."""
    img = Image.fromarray(photo)
    prev_t, prev_n = None, 0
    for q in range(5, 100, 10):
        t = np.array(SHAPED.qtables(q))
        n = len(encode_jpeg(img, q, qtables=t.tolist()))
        if prev_t is not None:
            assert (t <= prev_t).all()
            assert n > prev_n
        prev_t, prev_n = t, n


def test_subsampling_rule():
    assert [SHAPED.subsampling_for(q) for q in (1, 40, 41, 80, 81, 100)] == [
        "4:2:0", "4:2:0", "4:2:2", "4:2:2", "4:4:4", "4:4:4"]
    assert STANDARD.qtables(50) is None and STANDARD.subsampling_for(90) == "4:2:0"


def test_unknown_set_is_a_clear_error(photo):
    with pytest.raises(CodecError, match="unknown table set"):
        get_table_set("nope")
    with pytest.raises(CodecError, match="unknown table set"):
        codec.encode(photo, tables="nope")


@pytest.mark.parametrize("name", sorted(TABLE_SETS))
def test_every_shipped_set_round_trips(photo, name):
    ts = TABLE_SETS[name]
    data = codec.encode(photo, quality=30, tables=name)
    assert read_meta(data).tables == name
    want = ts.qtables(30)
    if want is not None:
        assert _tables(data) == want
    assert codec.info(data).subsampling == ts.subsampling_for(30)
    assert np.asarray(codec.decode(data, device="cpu")).shape == photo.shape


def test_cli_tables_option(cli, png_file, tmp_path):
    out = tmp_path / "o.jpg"
    name = sorted(TABLE_SETS)[-1]
    r = cli("encode", str(png_file), "-o", str(out), "--tables", name, "--subsampling", "4:4:4")
    assert r.exit_code == 0, r.output
    assert codec.info(out).subsampling == "4:4:4"
    assert read_meta(out.read_bytes()).tables == name
    r = cli("encode", str(png_file), "-o", str(tmp_path / "p.jpg"), "--tables", "nope")
    assert r.exit_code == 2 and "nope" in r.output
