"""The DCT consistency step: the source is a fixed point, the projection brings a picture closer
to the source, strips match one pass, and it applies only where it should."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

import codec
import codec.decoder.consistency as C
from codec.format.jpeg import cond_vector, decode_jpeg, encode_jpeg
from codec.format.tables import get_table_set
from codec.regen.infer import regenerate
from codec.registry import DEFAULT_MODEL
from codec.utils.metrics import psnr


def _file(img, sub, q=30):
    ts = get_table_set("regen-v1")
    return encode_jpeg(Image.fromarray(img), q, sub, qtables=ts.qtables(q))


@pytest.fixture()
def exact_intervals(monkeypatch):
    """The whole quantization interval (the plain projection onto the consistent set)."""
    monkeypatch.setattr(C, "FRACTION_A", 1.0)
    monkeypatch.setattr(C, "FRACTION_B", 0.0)


@pytest.mark.parametrize("sub", ["4:2:0", "4:2:2", "4:4:4"])
def test_source_is_a_fixed_point(odd_photo, sub, exact_intervals):
    """The source's own coefficients lie in the intervals, so it is left as it is."""
    data = _file(odd_photo, sub)
    assert np.array_equal(C.make_consistent(odd_photo, data), odd_photo)


@pytest.mark.parametrize("sub", ["4:2:0", "4:4:4"])
def test_projection_moves_a_noisy_decode_towards_the_source(odd_photo, sub, exact_intervals):
    data = _file(odd_photo, sub, q=90)  # fine steps: the intervals are tighter than the noise
    dec = decode_jpeg(data)[0]
    rng = np.random.default_rng(0)
    noisy = np.clip(dec.astype(int) + rng.integers(-8, 9, dec.shape), 0, 255).astype(np.uint8)
    fixed = C.make_consistent(noisy, data)
    assert psnr(odd_photo, fixed) > psnr(odd_photo, noisy) + 0.2


def test_narrowed_intervals_pull_harder():
    """The kept share grows with the step and never passes the whole interval."""
    f = C.interval_fraction(np.array([1.0, 4.0, 16.0, 64.0, 255.0]))
    assert np.all(np.diff(f) >= 0) and f[0] == pytest.approx(C.FRACTION_A) and f.max() <= 1.0


def test_strips_equal_one_pass(odd_photo, monkeypatch):
    data = _file(odd_photo, "4:2:0")
    noisy = np.clip(decode_jpeg(data)[0].astype(int) + 5, 0, 255).astype(np.uint8)
    monkeypatch.setattr(C, "STRIP_MCUS", 1)
    strips = C.make_consistent(noisy, data)
    monkeypatch.setattr(C, "STRIP_MCUS", 1000)
    assert np.array_equal(strips, C.make_consistent(noisy, data))
    assert not np.array_equal(strips, noisy)


def test_grayscale_and_foreign_sizes_are_left_alone(odd_photo):
    gray = np.asarray(Image.fromarray(odd_photo).convert("L"))
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, "JPEG", quality=30)
    rgb = np.stack([gray] * 3, -1)
    assert C.make_consistent(rgb, buf.getvalue()) is rgb
    data = _file(odd_photo, "4:2:0")
    other = odd_photo[:-8]
    assert C.make_consistent(other, data) is other


def test_projection_is_differentiable(odd_photo):
    data = _file(odd_photo, "4:2:0")
    x = torch.from_numpy(decode_jpeg(data)[0].copy()).permute(2, 0, 1).float().div(255) + 0.02
    x.requires_grad_(True)
    y = C.project_tensor(x, C.read_coefficients(data))
    (y - torch.from_numpy(odd_photo).permute(2, 0, 1) / 255).abs().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_decode_applies_it_unless_asked_not_to(odd_photo):
    data = codec.encode(odd_photo, quality=20, mode="regen", fit=False)  # no strength to blend
    raw = np.asarray(codec.decode(data, consistency=False))
    rgb, info = decode_jpeg(data)
    assert np.array_equal(raw, regenerate(codec.load_model(DEFAULT_MODEL), rgb, cond_vector(info)))
    done = np.asarray(codec.decode(data))
    assert np.array_equal(done, C.make_consistent(raw, data)) and not np.array_equal(done, raw)


def test_unreadable_coefficients_warn_and_keep_the_picture(odd_photo, monkeypatch):
    """A temp dir that is full (or a file libjpeg refuses) skips the step with a warning."""
    import tempfile

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    data = _file(odd_photo, "4:2:0")
    with pytest.warns(codec.CodecWarning, match="consistency skipped"):
        assert C.make_consistent(odd_photo, data) is odd_photo


def test_batched_projection_matches_one_picture_at_a_time(photo):
    """Training projects a batch of crops of mixed subsampling in groups; each crop comes out as
    project_tensor makes it alone (and a picture without coefficients passes unchanged)."""
    crops = [photo[:64, :64], photo[32:96, 16:80], photo[56:120, :64], photo[:64, 64:128]]
    subs = ["4:2:0", "4:4:4", "4:2:0", "4:2:2"]
    files = [_file(c, s) for c, s in zip(crops, subs)]
    x = torch.stack([torch.from_numpy(decode_jpeg(d)[0].copy()).permute(2, 0, 1).float() / 255
                     for d in files]) + 0.01
    coefs = [C.read_coefficients(d) for d in files]
    coefs[2] = None
    y = C.project_batch(x, coefs)
    for i, c in enumerate(coefs):
        want = x[i] if c is None else C.project_tensor(x[i], c)
        assert torch.allclose(y[i], want, atol=1e-5), i
    assert not torch.allclose(y[0], x[0])
