"""Hostile and odd inputs get a clean result or one clean error; nothing leaks to stderr.

Odd metadata (garbage or oversized EXIF), library chatter, float and multi-frame images."""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
import pytest
from PIL import Image

from codec.errors import CodecError
from codec.imageio import CodecWarning, load_image


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """`jpeg` with one more segment right after SOI."""
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _encode(data: bytes) -> bytes:
    """The cheapest full encode (no search, no fit, no network run) of an input's bytes."""
    from codec.api import encode

    return encode(data, quality=40, mode="regen", fit=False, effort=0)


# --- unreadable or oversized metadata is dropped, the picture encoded --------------------------

def test_garbage_exif_is_dropped_with_a_warning(photo):
    data = _with_segment(_save(Image.fromarray(photo), "JPEG"), 0xE1, b"Exif\0\0" + b"garbage!" * 20)
    with pytest.warns(CodecWarning, match="EXIF"):
        src = load_image(data)
    assert src.exif is None and src.size == (photo.shape[1], photo.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodecWarning)
        out = Image.open(io.BytesIO(_encode(data)))
    assert out.size == src.size


def test_exif_too_large_for_a_jpeg_is_dropped_with_a_warning(photo):
    exif = Image.Exif()
    exif[0x010E] = "x" * 70_000  # ImageDescription: more than a JPEG segment holds
    data = _save(Image.fromarray(photo), "PNG", exif=exif.tobytes())
    with pytest.warns(CodecWarning, match="EXIF.*too large"):
        src = load_image(data)
    assert src.exif is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CodecWarning)
        assert Image.open(io.BytesIO(_encode(data))).size == src.size


def test_exif_that_fits_is_kept(photo):
    exif = Image.Exif()
    exif[0x010E] = "a cat"
    src = load_image(_save(Image.fromarray(photo), "PNG", exif=exif.tobytes()))
    assert src.exif is not None and b"a cat" in src.exif


# --- library chatter and object reprs ---------------------------------------------------------

def _lzw_tiff_with_bad_code(photo) -> bytes:
    """An LZW TIFF whose first code is not the clear code: libtiff prints "Using code not yet in
    table" on stderr (the strip starts at byte 8, where Pillow writes it)."""
    data = bytearray(_save(Image.fromarray(photo[:16, :20]), "TIFF", compression="tiff_lzw"))
    assert Image.open(io.BytesIO(bytes(data))).tag_v2[273] == (8,)
    data[8] = 0xFF
    return bytes(data)


def test_libtiff_chatter_becomes_the_error_naming_the_file(photo, capfd):
    with pytest.raises(CodecError) as exc:
        load_image(_lzw_tiff_with_bad_code(photo), name="scan.tif")
    msg = str(exc.value)
    assert msg.startswith("scan.tif: ") and "Using code not yet in table" in msg
    assert "tempfile" not in msg and "\n" not in msg
    err = capfd.readouterr().err
    assert "not yet in table" not in err and "tempfile" not in err


def test_unidentified_data_has_no_object_repr():
    with pytest.raises(CodecError) as exc:
        load_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, name="x.png")
    assert "object at 0x" not in str(exc.value) and str(exc.value).startswith("x.png: ")


def test_damaged_jpeg_errors_have_no_object_repr(photo):
    from codec.api import info

    data = bytearray(_save(Image.fromarray(photo), "JPEG"))
    data[data.index(b"\xff\xc0") + 9] = 55  # the frame claims 55 components: Pillow gives up
    with pytest.raises(CodecError) as exc:
        info(bytes(data))
    assert "object at 0x" not in str(exc.value) and "BytesIO" not in str(exc.value)


def _arithmetic_jpeg(photo) -> bytes:
    import tempfile
    from pathlib import Path

    import jpeglib

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "a.jpg"
        with jpeglib.version("9e"):
            jpeglib.from_spatial(np.ascontiguousarray(photo[:32, :48])).write_spatial(
                str(path), flags=["+ARITH_CODE"])
        data = path.read_bytes()
    assert b"\xff\xc9" in data  # SOF9: arithmetic coding
    return data


def test_arithmetic_jpeg_decodes_without_libjpeg_chatter(photo, capfd):
    from codec.api import decode

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = decode(_arithmetic_jpeg(photo), device="cpu")
    assert img.size == (48, 32)
    err = capfd.readouterr().err
    assert "Sorry" not in err and "arithmetic" not in err
    texts = [str(w.message) for w in caught]
    assert not any("/tmp" in t or ".jpg" in t for t in texts), texts
    assert any("consistency skipped" in t and "arithmetic" in t for t in texts), texts


# --- float images --------------------------------------------------------------------------------

def _float_tiff(a: np.ndarray) -> bytes:
    return _save(Image.fromarray(a.astype(np.float32), "F"), "TIFF")


def test_float_image_in_0_1_is_scaled_from_its_range(photo):
    gray = photo[..., 1].astype(np.float64)
    with pytest.warns(CodecWarning, match="0-1"):
        src = load_image(_float_tiff(gray / 255))
    assert np.abs(src.rgb[..., 0].astype(float) - gray).max() <= 1


def test_float_image_in_0_255_is_kept(photo):
    gray = photo[..., 1].astype(np.float64)
    with pytest.warns(CodecWarning, match="float"):
        src = load_image(_float_tiff(gray))
    assert np.abs(src.rgb[..., 0].astype(float) - gray).max() <= 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -0.5, 1e6])
def test_float_image_out_of_any_range_is_refused(photo, bad):
    a = photo[..., 1].astype(np.float64) / 255
    a[3, 4] = bad
    with pytest.raises(CodecError, match="float"):
        load_image(_float_tiff(a), name="f.tif")


# --- several frames ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF", "PNG"])
def test_only_the_first_frame_is_encoded_with_a_warning(photo, fmt):
    frames = [Image.fromarray(np.roll(photo, 7 * k, 1)) for k in range(3)]
    data = _save(frames[0], fmt, save_all=True, append_images=frames[1:])
    with pytest.warns(CodecWarning, match="only the first of 3 frames"):
        src = load_image(data)
    first = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(src.rgb, first)


def test_a_single_frame_gives_no_frame_warning(photo, recwarn):
    load_image(_save(Image.fromarray(photo), "GIF"))
    assert not any("frame" in str(w.message) for w in recwarn)
