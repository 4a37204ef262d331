"""Every input kind gets a defined behaviour: converted with a warning, or refused clearly."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from codec.errors import CodecError
from codec.io.imageio import CodecWarning, load_image


def _save(im, fmt="PNG", **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _png16_rgb(a: np.ndarray) -> bytes:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = a.shape
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_rgb_passes_unchanged(photo, recwarn):
    src = load_image(_save(Image.fromarray(photo)))
    assert np.array_equal(src.rgb, photo)
    assert not [w for w in recwarn if issubclass(w.category, CodecWarning)]


def test_alpha_is_composited_over_white(photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:10, :, 3] = 0
    with pytest.warns(CodecWarning, match="alpha"):
        src = load_image(_save(Image.fromarray(rgba, "RGBA")))
    assert (src.rgb[:10] == 255).all() and np.array_equal(src.rgb[10:], photo[10:])


def test_premultiplied_gray_alpha_image_is_composited_like_la(photo):
    """A PIL image in mode La (premultiplied) raised Pillow's 'conversion from La to L'."""
    la = Image.fromarray(photo).convert("LA")
    h, w = photo.shape[:2]
    la.putalpha(Image.fromarray((np.arange(w) * 255 // w).astype(np.uint8)[None].repeat(h, 0)))
    with pytest.warns(CodecWarning, match="alpha"):
        src = load_image(la.convert("La"))
    with pytest.warns(CodecWarning, match="alpha"):
        want = load_image(la).rgb
    assert np.abs(src.rgb.astype(int) - want).max() <= 1


def test_palette_with_transparency(photo):
    p = Image.fromarray(photo).quantize(16)
    p.info["transparency"] = 0
    with pytest.warns(CodecWarning, match="alpha"):
        assert load_image(_save(p, transparency=0)).rgb.shape == photo.shape


def test_palette_is_converted(photo):
    with pytest.warns(CodecWarning, match="palette"):
        assert load_image(_save(Image.fromarray(photo).quantize(64))).rgb.shape == photo.shape


def test_grayscale_stays_grayscale(photo):
    """No conversion, so no warning: `gray` says so, `rgb` holds the channel three times."""
    import warnings

    gray = Image.fromarray(photo).convert("L")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        src = load_image(_save(gray))
    assert src.gray and not load_image(_save(Image.fromarray(photo))).gray
    assert np.array_equal(src.rgb[..., 0], np.asarray(gray)) and np.array_equal(src.rgb[..., 0], src.rgb[..., 2])


def test_16bit_gray_is_reduced():
    a = (np.arange(40 * 50).reshape(40, 50) * 30).astype(np.uint16)
    with pytest.warns(CodecWarning, match="16-bit"):
        src = load_image(_save(Image.fromarray(a)))
    assert src.rgb.dtype == np.uint8 and src.rgb.max() > 200


def test_16bit_rgb_is_reduced():
    a = (np.arange(30 * 20 * 3).reshape(30, 20, 3) * 37).astype(np.uint16)
    with pytest.warns(CodecWarning, match="16-bit"):
        src = load_image(_png16_rgb(a))
    assert np.abs(src.rgb.astype(int) - (a >> 8)).max() <= 1


def test_16bit_array_is_reduced():
    with pytest.warns(CodecWarning, match="16-bit"):
        src = load_image(np.full((8, 8, 3), 65535, np.uint16))
    assert (src.rgb == 255).all()


def test_cmyk_is_converted_to_rgb(photo):
    cmyk = Image.fromarray(photo).convert("CMYK")
    with pytest.warns(CodecWarning, match="CMYK"):
        src = load_image(_save(cmyk, "JPEG", quality=95))
    assert src.rgb.shape == photo.shape and src.icc_profile is None
    assert np.abs(src.rgb.astype(int) - photo).mean() < 20


def test_exif_orientation_is_applied(photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    src = load_image(_save(Image.fromarray(photo), "JPEG", quality=95, exif=exif.tobytes()))
    assert src.rgb.shape == (photo.shape[1], photo.shape[0], 3)
    if src.exif:
        kept = Image.Exif()
        kept.load(src.exif)
        assert 0x0112 not in kept


def test_icc_profile_is_kept(photo):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert load_image(_save(Image.fromarray(photo), icc_profile=icc)).icc_profile == icc


@pytest.mark.parametrize("data,msg", [(b"", "empty"), (b"hello world" * 10, "not an image"),
                                      (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "not an image|unreadable|damaged")])
def test_bad_bytes_are_refused(data, msg):
    with pytest.raises(CodecError, match=msg):
        load_image(data)


def test_truncated_file_is_refused(photo):
    data = _save(Image.fromarray(photo), "JPEG")
    with pytest.raises(CodecError, match="truncated|damaged"):
        load_image(data[: len(data) // 2])


def test_huge_image_is_refused_before_decoding(photo):
    with pytest.raises(CodecError, match="megapixels"):
        load_image(_save(Image.fromarray(photo)), max_pixels=1000)


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h pixels, with almost no image data (a decompression bomb)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_pixel_limit_is_ours_not_pillows():
    """Pillow refuses above 179 megapixels on its own; the documented limit is 250 (raisable):
    an image between the two gets to our size check, and bombs are refused by it in one line."""
    from codec.io.imageio import DEFAULT_MAX_PIXELS

    with pytest.raises(CodecError, match="truncated|damaged"):  # 195 MP: past the size check
        load_image(_png_header_only(15000, 13000))
    with pytest.raises(CodecError, match=r"above the limit of 250,000,000 \(raise it with"):
        load_image(_png_header_only(100_000, 100_000))
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < DEFAULT_MAX_PIXELS


def test_pixel_limit_message_shows_the_difference_at_the_limit():
    """Just above 250 megapixels the message read '250 megapixels, above the limit of 250'."""
    with pytest.raises(CodecError, match=r"16000x15626 is 250,016,000 pixels \(250 megapixels\), "
                                         r"above the limit of 250,000,000"):
        load_image(_png_header_only(16000, 15626))
    with pytest.raises(CodecError, match="truncated|damaged"):  # exactly at the limit: allowed
        load_image(_png_header_only(16000, 15625))


def test_big_endian_uint16_array_is_16_bit():
    """A '>u2' array (raw and FITS data) was refused: 'must be uint8 or uint16, got >u2'."""
    a = (np.arange(30 * 20 * 3).reshape(30, 20, 3) * 37).astype(np.uint16)
    with pytest.warns(CodecWarning, match="16-bit"):
        want = load_image(a).rgb
    with pytest.warns(CodecWarning, match="16-bit"):
        assert np.array_equal(load_image(a.astype(">u2")).rgb, want)


@pytest.mark.parametrize("arr", [np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 3), np.float32)])
def test_bad_arrays_are_refused(arr):
    with pytest.raises(CodecError):
        load_image(arr)


@pytest.mark.parametrize("limit", [0, -1, "x", 2.5, True])
def test_max_pixels_must_be_a_positive_integer(limit):
    """encode(max_pixels=0) was a limit that refused every picture."""
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        load_image(np.zeros((8, 8, 3), np.uint8), max_pixels=limit)


def test_mode_I_images_are_read_by_their_range():
    """A PIL mode I image holding 8-bit values (`im.convert("I")`) came out nearly black, read as
    16-bit; in memory its values now say which range it holds."""
    a = (np.arange(64 * 64).reshape(64, 64) % 256).astype(np.uint8)
    with pytest.warns(CodecWarning, match="converted to RGB") as caught:
        narrow = load_image(Image.fromarray(a).convert("I"))
    assert np.array_equal(narrow.rgb[..., 0], a) and not any("16-bit" in str(w.message)
                                                              for w in caught)
    with pytest.warns(CodecWarning) as caught:
        wide = load_image(Image.fromarray(a.astype(np.int32) * 257, "I"))
    assert any("16-bit" in str(w.message) for w in caught)
    assert np.array_equal(wide.rgb[..., 0], a)
