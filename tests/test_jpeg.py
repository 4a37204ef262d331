"""JPEG coding: compatibility with another decoder, tables, quality estimate, subsampling."""

import io
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import codec
from codec.format.jpeg import COND_DIM, cond_vector, decode_jpeg, encode_jpeg, estimate_quality


@pytest.mark.parametrize("progressive", [False, True])
def test_output_decodes_identically_with_djpeg(tmp_path, photo, progressive):
    """Our file is a standard JPEG: Pillow and libjpeg-turbo's djpeg give identical pixels."""
    djpeg = shutil.which("djpeg")
    if djpeg is None:
        pytest.skip("djpeg not found: install Debian's libjpeg-turbo-progs to run this check")
    data = codec.encode(photo, quality=30, progressive=progressive)
    path = tmp_path / "f.jpg"
    path.write_bytes(data)
    ppm = subprocess.run([djpeg, "-ppm", str(path)], check=True, capture_output=True).stdout
    theirs = np.asarray(Image.open(io.BytesIO(ppm)).convert("RGB"))
    ours = np.asarray(Image.open(path).convert("RGB"))
    assert theirs.shape == ours.shape == photo.shape
    assert np.array_equal(theirs, ours)


@pytest.mark.parametrize("q", [5, 10, 25, 40, 50, 75, 90, 95])
def test_quality_estimate_recovers_setting(photo, q):
    _, info = decode_jpeg(encode_jpeg(Image.fromarray(photo), q))
    assert abs(estimate_quality(info.qtables[0]) - q) <= 1


@pytest.mark.parametrize("sub", ["4:4:4", "4:2:2", "4:2:0"])
def test_subsampling_is_read_back(photo, sub):
    _, info = decode_jpeg(encode_jpeg(Image.fromarray(photo), 50, sub))
    assert info.subsampling == sub


def test_cond_vector_depends_on_tables_and_subsampling(photo):
    im = Image.fromarray(photo)
    a = cond_vector(decode_jpeg(encode_jpeg(im, 20))[1])
    b = cond_vector(decode_jpeg(encode_jpeg(im, 80))[1])
    c = cond_vector(decode_jpeg(encode_jpeg(im, 80, "4:4:4"))[1])
    assert a.shape == (COND_DIM,) and a.dtype == np.float32
    assert not np.allclose(a[:128], b[:128])
    assert np.allclose(b[:128], c[:128]) and not np.allclose(b[128:], c[128:])


def test_huffman_optimization_changes_bytes_not_pixels(photo):
    im = Image.fromarray(photo)
    opt, plain = encode_jpeg(im, 40, optimize=True), encode_jpeg(im, 40, optimize=False)
    assert len(opt) < len(plain)
    assert np.array_equal(decode_jpeg(opt)[0], decode_jpeg(plain)[0])


def test_near_lossless_noise_with_custom_tables_encodes():
    # a detailed image with fine tables overflows the buffer Pillow sizes for quality 50
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (128, 192, 3), dtype=np.uint8))
    ones = [[1] * 64, [1] * 64]
    data = encode_jpeg(noise, 95, "4:4:4", qtables=ones)
    assert len(data) > 128 * 192 and Image.open(io.BytesIO(data)).size == (192, 128)


def test_huge_jpeg_header_is_read_and_its_decode_refused(photo):
    """A JPEG whose SOF claims 20000x20000 pixels: info reads its headers, decoding refuses it
    by size, before allocating (Pillow's bomb limit used to call it damaged)."""
    import struct

    from codec.errors import CodecError

    buf = io.BytesIO()
    Image.fromarray(photo[:16, :16]).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    struct.pack_into(">HH", data, data.find(b"\xff\xc0") + 5, 20000, 20000)
    i = codec.info(bytes(data))
    assert (i.width, i.height) == (20000, 20000)
    with pytest.raises(CodecError, match=r"\(400 megapixels\), above the 250,000,000 that decoding handles"):
        decode_jpeg(bytes(data))
    with pytest.raises(CodecError, match="megapixels"), pytest.warns(codec.CodecWarning):
        codec.decode(bytes(data), device="cpu")  # a plain JPEG: the default model, warned
