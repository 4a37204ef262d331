"""The two-network mode: file format, odd sizes, tiling, the differentiable JPEG stand-in."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

import codec
from codec.comcnn.infer import compact
from codec.comcnn.model import ComCNN, downscale
from codec.comcnn.standin import identity_standin, jpeg_standin
from codec.format.container import read_meta
from codec.format.jpeg import decode_jpeg, encode_jpeg
from codec.reccnn.infer import upscale_image
from codec.reccnn.model import RecCNN, upscale
from codec.registry import find_model, import_model, save_model


@pytest.fixture()
def tiny_comrec(tmp_path, user_models):
    torch.manual_seed(0)
    com, rec = ComCNN(width=8), RecCNN(width1=8, width2=8, depth=1)
    torch.nn.init.normal_(com.tail.weight, std=0.01)
    torch.nn.init.normal_(rec.tail.weight, std=0.01)
    d = tmp_path / "export"
    import_model(save_model(com, "tiny-cr-com", d, arch="comcnn", mode="comcnn", summary="t"))
    import_model(save_model(rec, "tiny-cr", d, arch="reccnn", mode="comrec", summary="t"))
    return "tiny-cr"


def test_comrec_file_is_a_half_size_jpeg_that_decodes_to_full_size(tiny_comrec, odd_photo):
    data = codec.encode(odd_photo, quality=30, mode="comrec", model=tiny_comrec)
    meta = read_meta(data)
    assert meta.mode == "comrec" and meta.model_id == "tiny-cr"
    assert meta.extra["comcnn_id"] == "tiny-cr-com"
    assert find_model("tiny-cr-com").sha256.startswith(meta.extra["comcnn_sha256"])
    h, w = odd_photo.shape[:2]
    assert Image.open(io.BytesIO(data)).size == ((w + 1) // 2, (h + 1) // 2)
    out = codec.decode(data)
    assert out.size == (w, h)


def test_cli_comrec_and_wrong_model_kind(cli, tiny_comrec, png_file, tmp_path):
    r = cli("encode", png_file, "-o", tmp_path / "c.jpg", "--mode", "comrec", "-m", tiny_comrec)
    assert r.exit_code == 0, r.output
    assert cli("info", tmp_path / "c.jpg").stdout.count("comrec") >= 1
    r = cli("encode", png_file, "-o", tmp_path / "d.jpg", "--mode", "comrec", "-m", "regen-fast")
    assert r.exit_code == 2 and "not a comrec model" in r.stderr


def test_untrained_comcnn_is_the_bicubic_baseline(photo):
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    assert torch.allclose(ComCNN()(x), downscale(x))


def test_compact_tiles_match_whole(photo):
    torch.manual_seed(1)
    com = ComCNN(width=8).eval()
    torch.nn.init.normal_(com.tail.weight, std=0.05)
    img = np.ascontiguousarray(np.concatenate([photo, photo[::-1]], 0)[:, :167])  # odd width
    whole, tiled = compact(com, img, tile=4096), compact(com, img, tile=64)
    assert whole.shape == (120, 84, 3)
    assert np.abs(whole.astype(int) - tiled).max() <= 1


def test_upscale_strips_match_whole(odd_photo):
    small = odd_photo[::2, ::2]
    size = (2 * small.shape[0] - 1, 2 * small.shape[1] - 1)
    import codec.reccnn.infer as ri

    whole = upscale_image(small, size)
    old = ri.STRIP
    ri.STRIP = 5
    try:
        strips = upscale_image(small, size)
    finally:
        ri.STRIP = old
    assert whole.shape == (*size, 3) and np.array_equal(whole, strips)
    t = torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255
    ref = (upscale(t, size)[0] * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(ref, whole)


def test_jpeg_standin_tracks_the_real_codec_and_passes_gradients(photo):
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float().div(255).requires_grad_()
    from codec.reccnn.train import _tables

    for q in (20, 60):
        real, _ = decode_jpeg(encode_jpeg(Image.fromarray(photo), q, "4:2:0"))
        approx = jpeg_standin(x, *_tables(q))
        a = (approx[0].detach() * 255).round().byte().permute(1, 2, 0).numpy()
        err_approx = np.abs(a.astype(int) - real).mean()
        err_identity = np.abs(photo.astype(int) - real).mean()
        assert err_approx < 0.6 * err_identity, (q, err_approx, err_identity)
    approx.mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.equal(identity_standin(x.detach()), (x.detach() * 255).round() / 255)


def test_auto_never_spends_more_than_regen_and_keeps_the_better(tiny_comrec, photo, monkeypatch):
    from codec.encoder import auto, maker
    from codec.encoder.options import EncodeOptions
    from codec.io.imageio import load_image
    from codec.utils import metrics

    monkeypatch.setattr(maker, "DEFAULT_COMREC", tiny_comrec)
    src = load_image(photo)
    regen = codec.encode(photo, quality=10, mode="regen", tables="standard")
    c = auto.choose(src, EncodeOptions(quality=10, tables="standard"), max_bpp=float("inf"))  # the tiny photo is dense
    assert len(c.data) <= len(regen)
    assert set(c.msssim) == {"regen", "comrec"}  # no threshold: both compared
    wins = c.msssim["comrec"] > c.msssim["regen"] and c.psnr["comrec"] > c.psnr["regen"]
    assert c.mode == ("comrec" if wins else "regen")  # comrec only when better in both measures
    assert read_meta(c.data).mode == c.mode
    out = np.asarray(codec.decode(c.data))
    assert metrics.ms_ssim(photo, out) == pytest.approx(c.msssim[c.mode])
    assert metrics.psnr(photo, out) == pytest.approx(c.psnr[c.mode])
    for other in ("regen", "comrec"):  # never worse than the other candidate in either measure
        if other != c.mode:
            assert not (c.msssim[other] > c.msssim[c.mode] and c.psnr[other] > c.psnr[c.mode])
    # above the rate threshold auto is plain regen, without decoding anything
    hi = auto.choose(src, EncodeOptions(quality=95, tables="standard"))
    assert hi.mode == "regen" and hi.msssim == {} == hi.psnr
    assert hi.data == codec.encode(photo, 95, mode="regen", tables="standard")


def test_auto_fits_comrec_within_the_regen_bytes():
    from codec.encoder.auto import best_within

    sizes = {q: 100 + 10 * q for q in range(1, 101)}
    assert best_within(lambda q: b"x" * sizes[q], 650) == (55, b"x" * 650)
    sizes[56] = 640  # a dip just above the bisection's answer is found
    assert best_within(lambda q: b"x" * sizes[q], 650) == (56, b"x" * 640)
    assert best_within(lambda q: b"x" * sizes[q], 50) is None


def test_auto_spends_comrecs_gain_on_bytes_counted_as_written(photo, monkeypatch):
    """Rule (codec.encoder.auto): the smallest comrec file that beats the regen file in both measures and
    is no larger, sizes counted packed when packing. Stand-ins: comrec's file at quality q has
    10q bytes (20q packed) and scores 0.85 + q/1000 in MS-SSIM, 25 + q/5 dB: it beats regen's
    (0.9, 30 dB) from quality 51."""
    from codec.encoder import auto
    from codec.encoder.options import EncodeOptions
    from codec.io.imageio import load_image
    from codec.utils import metrics

    src = load_image(photo)
    regen = b"R" * 600
    monkeypatch.setattr(auto, "regen_file", lambda src, o, m: (o.quality, regen))
    monkeypatch.setattr(auto, "file_maker", lambda src, mode, m, o: lambda q, **k: bytes([q]) * (10 * q))
    monkeypatch.setattr(auto, "restored_array", lambda d, device="cpu": d)
    monkeypatch.setattr(metrics, "ms_ssim", lambda a, d: 0.9 if d == regen else 0.85 + d[0] / 1000)
    monkeypatch.setattr(metrics, "psnr", lambda a, d: 30.0 if d == regen else 25 + d[0] / 5)
    monkeypatch.setattr(auto, "packed_size", lambda d: len(d) if d == regen else 20 * d[0])
    c = auto.choose(src, EncodeOptions(quality=10, tables="standard"), max_bpp=float("inf"))
    assert (c.mode, c.quality, c.data) == ("comrec", 51, bytes([51]) * 510)  # not 60, the largest that fits
    assert c.msssim == {"regen": 0.9, "comrec": pytest.approx(0.901)}
    # packed, comrec's files fit only up to quality 30, which loses: regen is kept
    c = auto.choose(src, EncodeOptions(quality=10, tables="standard", pack="jxl"), max_bpp=float("inf"))
    assert (c.mode, c.data) == ("regen", regen)
    assert c.psnr == {"regen": 30.0, "comrec": pytest.approx(31.0)}  # quality 30's file, compared


def test_auto_steps_down_with_searched_comrec_files(photo, monkeypatch):
    """Step 3 of the rule: the kept comrec file's searched form, and the searched files below it
    while they still pass and fit. Stand-ins as above; a searched file at quality q restores as
    the plain file at q + 3 does, in 9q bytes, so it passes from quality 48."""
    from codec.encoder import auto
    from codec.encoder.options import EncodeOptions
    from codec.io.imageio import load_image
    from codec.utils import metrics

    src = load_image(photo)
    regen = b"R" * 600
    searched = []

    def make_files(src, mode, m, o):
        def make(q, search_comrec=False):
            if search_comrec and o.effort != 0:
                return searched.append(q) or bytes([q + 3]) * (9 * q)
            return bytes([q]) * (10 * q)
        return make

    monkeypatch.setattr(auto, "regen_file", lambda src, o, m: (o.quality, regen))
    monkeypatch.setattr(auto, "file_maker", make_files)
    monkeypatch.setattr(auto, "restored_array", lambda d, device="cpu": d)
    monkeypatch.setattr(metrics, "ms_ssim", lambda a, d: 0.9 if d == regen else 0.85 + d[0] / 1000)
    monkeypatch.setattr(metrics, "psnr", lambda a, d: 30.0 if d == regen else 25 + d[0] / 5)
    c = auto.choose(src, EncodeOptions(quality=10, tables="standard"), max_bpp=float("inf"))
    assert (c.mode, c.quality, c.data) == ("comrec", 48, bytes([51]) * 432)
    assert searched == [51, 50, 49, 48, 47]  # down from the bisection's answer to the first miss
    searched.clear()
    c = auto.choose(src, EncodeOptions(quality=10, tables="standard", effort=0), max_bpp=float("inf"))
    assert (c.quality, c.data, searched) == (51, bytes([51]) * 510, [])


def test_smallest_passing_bisects_below_the_budgets_answer():
    from codec.encoder.auto import smallest_passing

    made = []

    def make(q):
        made.append(q)
        return bytes([q])

    assert smallest_passing(make, lambda d: d[0] >= 37, 60) == (37, bytes([37]))
    assert len(made) <= 8  # a bisection, not a scan
    assert smallest_passing(make, lambda d: d[0] >= 61, 60) is None
    assert smallest_passing(make, lambda d: True, 1) == (1, bytes([1]))


def test_cli_auto_and_targets_in_auto_mode(cli, tiny_comrec, png_file, tmp_path):
    r = cli("encode", png_file, "-o", tmp_path / "a.jpg", "--mode", "auto", "-m", tiny_comrec,
            "-q", "10")
    assert r.exit_code == 0, r.output
    assert "mode " in r.stdout
    r = cli("encode", png_file, "-o", tmp_path / "b.jpg", "--mode", "auto", "-m", tiny_comrec,
            "--max-bytes", "3000")
    assert r.exit_code == 0, r.output
    assert "mode)" in r.stderr and (tmp_path / "b.jpg").stat().st_size <= 3000


def test_rate_proxy_follows_the_real_file_size_and_passes_gradients(photo):
    from codec.comcnn.standin import rate_proxy
    from codec.reccnn.train import _tables

    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float().div(255).requires_grad_()
    est, real = [], []
    for q in (10, 30, 60, 90):
        est.append(rate_proxy(x, *_tables(q)).item())
        real.append(len(encode_jpeg(Image.fromarray(photo), q, "4:2:0")))
    assert est == sorted(est) and real == sorted(real)  # both grow with quality
    assert np.corrcoef(est, real)[0, 1] > 0.98
    flat = torch.full_like(x, 0.5)
    assert rate_proxy(flat, *_tables(60)).item() < 0.05 * est[2]  # nothing to code, ~no bits
    rate_proxy(x, *_tables(30)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_auto_keeps_regen_for_an_image_too_small_for_msssim(tiny_comrec, photo, monkeypatch):
    """A 24-pixel-high strip once reached pytorch_msssim's assertion (a traceback) in auto mode."""
    from codec.encoder import auto, maker
    from codec.encoder.options import EncodeOptions
    from codec.errors import CodecError
    from codec.io.imageio import load_image
    from codec.utils import metrics

    monkeypatch.setattr(maker, "DEFAULT_COMREC", tiny_comrec)
    strip = np.ascontiguousarray(photo[:24])
    with pytest.raises(CodecError, match="too small for MS-SSIM"):
        metrics.ms_ssim(strip, strip)
    c = auto.choose(load_image(strip), EncodeOptions(quality=10, tables="standard"), max_bpp=float("inf"))
    assert c.mode == "regen" and read_meta(c.data).mode == "regen"
