"""The restoration strength the encoder fits: the fit, the blend, and files that carry it."""

import numpy as np
import pytest

import codec
from codec.decoder.strength import apply, fit
from codec.encoder import maker
from codec.format.container import read_meta
from codec.utils.metrics import psnr


def _pair(seed=0, shape=(24, 32, 3)):
    rng = np.random.default_rng(seed)
    plain = rng.integers(40, 200, shape).astype(np.uint8)
    restored = np.clip(plain.astype(int) + rng.integers(-30, 31, shape), 0, 255).astype(np.uint8)
    return plain, restored


def test_fit_finds_the_blend_that_made_the_source():
    plain, restored = _pair()
    for s in (0.0, 0.25, 0.5, 1.0):
        assert fit(plain, restored, apply(plain, restored, s)) == pytest.approx(s, abs=1 / 64)


def test_fit_stays_in_0_1_and_on_the_grid():
    plain, restored = _pair()
    away = apply(restored, plain, 0.0)  # the source is the plain picture: s = 0
    assert fit(plain, restored, plain) == 0.0
    beyond = np.clip(2 * restored.astype(int) - plain, 0, 255).astype(np.uint8)  # s = 2
    assert fit(plain, restored, beyond) == 1.0
    assert fit(plain, plain, away) == 1.0  # nothing to blend
    s = fit(plain, restored, np.clip(plain.astype(int) + 3, 0, 255).astype(np.uint8))
    assert 0 <= s <= 1 and (s * 64) == int(s * 64)


def test_apply_ends_and_middle():
    plain, restored = _pair()
    assert apply(plain, restored, None) is restored and apply(plain, restored, 1.0) is restored
    assert np.array_equal(apply(plain, restored, 0.0), plain)
    mid = apply(plain, restored, 0.5).astype(int)
    assert np.abs(2 * mid - plain.astype(int) - restored).max() <= 1


def test_fitted_file_never_decodes_worse_than_plain_or_full(photo):
    rng = np.random.default_rng(1)  # grain at a fine step: where the network tends to hurt
    grainy = np.clip(photo.astype(int) + rng.normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
    for img, q, sub in ((photo, 30, None), (grainy, 95, "4:4:4")):
        fitted = codec.encode(img, quality=q, mode="regen", subsampling=sub)
        full = codec.encode(img, quality=q, mode="regen", subsampling=sub, fit=False)
        s = read_meta(fitted).strength
        assert s is not None and read_meta(full).strength is None
        assert len(fitted) == len(full) + 1  # one byte of side information
        got = psnr(img, np.asarray(codec.decode(fitted)))
        assert got >= psnr(img, codec.decode_plain(fitted))
        assert got >= psnr(img, np.asarray(codec.decode(full)))
        if q == 95:  # here the network alone is worse than the plain decode
            assert s < 1 and psnr(img, np.asarray(codec.decode(full))) < got


def test_another_model_ignores_the_strength(odd_photo):
    rng = np.random.default_rng(2)
    img = np.clip(odd_photo.astype(int) + rng.normal(0, 12, odd_photo.shape), 0, 255).astype(np.uint8)
    fitted = codec.encode(img, quality=95, mode="regen", subsampling="4:4:4")
    full = codec.encode(img, quality=95, mode="regen", subsampling="4:4:4", fit=False)
    meta = read_meta(fitted)
    assert meta.strength < 1
    own = np.asarray(codec.decode(fitted, model=meta.model_id))  # naming its own model: applied
    assert np.array_equal(own, np.asarray(codec.decode(fitted)))
    assert not np.array_equal(own, np.asarray(codec.decode(full)))
    other = "regen-fast" if meta.model_id != "regen-fast" else "regen-coarse"
    assert np.array_equal(np.asarray(codec.decode(fitted, model=other)),
                          np.asarray(codec.decode(full, model=other)))


def test_restored_array_of_a_fitted_file_is_its_decode(photo):
    maker._fitted.clear()
    data = codec.encode(photo, quality=30, mode="regen", device="cpu")
    assert len(maker._fitted) == 1
    cached = maker.restored_array(data)
    maker._fitted.clear()
    assert np.array_equal(cached, maker.restored_array(data))


def test_cli_fit_and_no_fit(cli, png_file, tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    assert cli("encode", str(png_file), "-o", str(a), "--mode", "regen").exit_code == 0
    assert cli("encode", str(png_file), "-o", str(b), "--mode", "regen", "--no-fit").exit_code == 0
    assert read_meta(a.read_bytes()).format_version == 3
    assert read_meta(b.read_bytes()).format_version == 2  # readable by 0.2.x decoders
    out = cli("info", str(a)).stdout
    assert "strength:" in out and "strength:" not in cli("info", str(b)).stdout
