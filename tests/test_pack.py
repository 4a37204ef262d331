"""Lossless JPEG XL packing: exact bytes back, direct decode/info, refusals."""

import numpy as np
import pytest

import codec
from codec.errors import CodecError
from codec.format.container import read_meta
from codec.format.pack import is_jxl, pack, unpack
from codec.registry import DEFAULT_MODEL


def test_pack_unpack_is_bit_exact_with_metadata(cli, png_file, tmp_path):
    jpg = tmp_path / "a.jpg"
    # quality 80: at the default quality this 120x168 photo makes a ~2.5 kB file, where the JPEG XL
    # container can cost more than recompression saves (2572 -> 2581 bytes with search rule cs2)
    assert cli("encode", png_file, "-o", jpg, "--quality", "80").exit_code == 0
    r = cli("pack", jpg)
    assert r.exit_code == 0, r.output
    jxl = tmp_path / "a.jxl"
    assert is_jxl(jxl.read_bytes()) and jxl.stat().st_size < jpg.stat().st_size
    r = cli("unpack", jxl, "-o", tmp_path / "b.jpg")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b.jpg").read_bytes() == jpg.read_bytes()
    info = cli("info", tmp_path / "b.jpg")
    assert DEFAULT_MODEL in info.stdout and "packed" not in info.stdout


def test_pack_says_larger_when_the_jxl_is_larger(cli, tmp_path):
    """A tiny JPEG packs into more bytes; pack said '-8.5% smaller'."""
    jpg = tmp_path / "tiny.jpg"
    jpg.write_bytes(codec.encode(np.full((8, 8, 3), 128, np.uint8), quality=40, fit=False))
    r = cli("pack", jpg)
    assert r.exit_code == 0, r.output
    n_jpg, n_jxl = jpg.stat().st_size, (tmp_path / "tiny.jxl").stat().st_size
    assert n_jxl > n_jpg and f"% larger than the {n_jpg}-byte JPEG" in r.stdout
    assert "(-" not in r.stdout


def test_encode_pack_then_decode_and_info_directly(cli, png_file, tmp_path, photo):
    r = cli("encode", png_file, "--pack", "jxl")
    assert r.exit_code == 0, r.output
    packed = tmp_path / "photo.rc.jxl"
    assert is_jxl(packed.read_bytes())
    assert read_meta(unpack(packed.read_bytes())).model_id == DEFAULT_MODEL
    info = cli("info", packed)
    assert info.exit_code == 0 and "packed:" in info.stdout and "JPEG XL" in info.stdout
    assert cli("decode", packed, "-o", tmp_path / "o.png").exit_code == 0
    # the packed file restores to exactly what its JPEG form restores to
    jpeg_form = unpack(packed.read_bytes())
    assert np.array_equal(np.asarray(codec.decode(packed.read_bytes())),
                          np.asarray(codec.decode(jpeg_form)))


def test_refusals(cli, png_file, tmp_path):
    with pytest.raises(CodecError, match="only JPEG"):
        pack(png_file.read_bytes())
    with pytest.raises(CodecError, match="not a JPEG XL"):
        unpack(png_file.read_bytes())
    packed = pack(codec.encode(png_file))
    with pytest.raises(CodecError, match="already packed"):
        pack(packed)
    r = cli("unpack", png_file, "-o", tmp_path / "x.jpg")
    assert r.exit_code == 2 and "not a JPEG XL" in r.stderr


def test_round_trip_that_is_not_exact_is_refused(cli, png_file, tmp_path, monkeypatch):
    import imagecodecs

    real = imagecodecs.jpegxl_decode_jpeg
    monkeypatch.setattr(imagecodecs, "jpegxl_decode_jpeg", lambda d: real(d)[:-2] + b"\x00\xff\xd9")
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(codec.encode(png_file))
    r = cli("pack", jpg, "-o", tmp_path / "a.jxl")
    assert r.exit_code == 2 and "not bit-exact" in r.stderr
    assert not (tmp_path / "a.jxl").exists()


def _jpeg(w: int, h: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(buf, "JPEG", quality=50)
    return buf.getvalue()


@pytest.mark.parametrize("w,h", [(1, 1), (8, 8), (100, 37), (768, 512), (512, 768), (1920, 1080),
                                 (1200, 1000), (513, 1025), (9000, 16)])
def test_jxl_size_reads_the_header(w, h):
    """Every SizeHeader form: multiples of 8 (the short code), ratios (16:9, 3:2, 6:5), free sizes."""
    from codec.format.pack import jxl_size

    assert jxl_size(pack(_jpeg(w, h))) == (w, h)
    assert jxl_size(b"\xff\x0a") is None and jxl_size(b"") is None


def _bits(fields: list[tuple[int, int]]) -> bytes:
    """(value, width) fields packed least significant bit first, as JPEG XL reads them."""
    acc = sum(v << sum(n for _, n in fields[:i]) for i, (v, _) in enumerate(fields))
    total = sum(n for _, n in fields)
    return acc.to_bytes((total + 7) // 8, "little")


def test_unpack_refuses_a_packed_bomb_from_its_header():
    """A packed file whose header declares 100,000 x 100,000 pixels reached libjxl, which would
    allocate for them: it is refused from the header, before libjxl sees it."""
    data = pack(_jpeg(64, 48))
    i = data.index(b"jxlp") - 4  # the first codestream part's box: size, type, index, FF 0A...
    size = int.from_bytes(data[i:i + 4], "big")
    assert data[i + 12:i + 14] == b"\xff\x0a"
    # not small; height: selector 3 (30 bits) 99,999; ratio 0; width the same way
    header = _bits([(0, 1), (3, 2), (99_999, 30), (0, 3), (3, 2), (99_999, 30)])
    part = data[i + 8:i + 14] + header
    bomb = data[:i] + (8 + len(part)).to_bytes(4, "big") + b"jxlp" + part + data[i + size:]
    from codec.format.pack import jxl_size

    assert jxl_size(bomb) == (100_000, 100_000)
    with pytest.raises(CodecError, match="100000x100000 pixels, over the limit"):
        unpack(bomb)
    with pytest.raises(CodecError, match="over the limit"):
        unpack(pack(_jpeg(64, 48)), max_pixels=64 * 48 - 1)
    assert unpack(pack(_jpeg(64, 48)), max_pixels=64 * 48) == _jpeg(64, 48)
