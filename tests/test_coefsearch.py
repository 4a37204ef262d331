"""The decoder-aware coefficient search (codec.encoder.coefsearch): its differentiable decode matches
libjpeg's, the search only keeps rounds that lower its loss, and the files stay the same JPEGs
in every other respect (tables, size, subsampling, Exif and ICC segments)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from codec.decoder.consistency import read_coefficients
from codec.encoder import coefsearch
from codec.encoder.coefsearch import SearchSettings, _Search, _spans, decode_blocks, refine
from codec.errors import CodecError
from codec.format.jpeg import encode_jpeg, open_jpeg, read_info
from codec.format.tables import get_table_set
from codec.registry import load_model


def _coefs(data: bytes):
    c = read_coefficients(data)
    return c.blocks, c.qtables, c.factors


@pytest.mark.parametrize("sub", ["4:2:0", "4:2:2", "4:4:4"])
def test_decode_matches_libjpeg(photo, odd_photo, tmp_path, sub):
    for img in (photo, odd_photo):
        data = encode_jpeg(Image.fromarray(img), 30, sub)
        blocks, qts, factors = _coefs(data)
        h, w = img.shape[:2]
        ours = decode_blocks([torch.from_numpy(b.astype(np.float32)) for b in blocks],
                             [torch.from_numpy(q) for q in qts], factors, h, w)
        ours = ours.permute(1, 2, 0).numpy() * 255
        theirs = np.asarray(open_jpeg(data).convert("RGB"), np.float32)
        diff = np.abs(ours - theirs)
        # libjpeg rounds each plane to integers before upsampling and colour conversion
        assert diff.max() <= 3.0 and diff.mean() < 0.8, (sub, diff.max(), diff.mean())


def _search(photo, q=25, rounds=6):
    ts = get_table_set("regen-v1")
    data = encode_jpeg(Image.fromarray(photo), q, ts.subsampling_for(q), qtables=ts.qtables(q))
    return data, ts, q


@pytest.mark.parametrize("rate,precision", [("proxy", "float32"), ("huffman", "float32"),
                                            ("huffman", "bfloat16")])
def test_search_keeps_only_rounds_that_lower_the_loss(photo, tmp_path, rate, precision):
    from codec.encoder.jpegrate import CodeLengths
    from codec.format.jpeg import cond_vector

    data, _, q = _search(photo)
    blocks, qts, factors = _coefs(data)
    model = load_model("regen-coarse4")
    for p in model.parameters():
        p.requires_grad_(False)
    cond = torch.from_numpy(cond_vector(read_info(open_jpeg(data)))[None])
    s = _Search(model, cond, photo, blocks, qts, factors, q, SearchSettings(rounds=8, rate=rate, precision=precision),
                "cpu", CodeLengths.of_file(data))
    assert (s.lengths is None) == (rate == "proxy")
    (tile,) = s.tiles()
    before = s.tile_loss(*tile)
    s.run_tile(*tile)
    after = s.tile_loss(*tile)
    assert after < before  # eight rounds on a real photo find something, and keep only gains
    moved = [np.abs(c.numpy() - c0) for c, c0 in zip(s.cur, blocks)]
    assert sum(int((m > 0).sum()) for m in moved) > 0
    assert max(int(m.max()) for m in moved) <= s.s.reach


def test_refine_keeps_the_file_a_plain_jpeg(photo, tmp_path):
    icc = b"\x00" * 700  # opaque bytes: only their survival is checked
    exif = Image.Exif()
    exif[0x010E] = "a description"
    ts = get_table_set("regen-v1")
    data = encode_jpeg(Image.fromarray(photo), 25, "4:2:0", qtables=ts.qtables(25),
                       icc_profile=icc, exif=exif.tobytes())
    out = refine(data, photo, load_model("regen-coarse4"), 25, SearchSettings(rounds=4))
    assert out != data
    a, b = read_info(open_jpeg(data)), read_info(open_jpeg(out))
    assert (a.width, a.height, a.subsampling, a.qtables) == (b.width, b.height, b.subsampling, b.qtables)
    im = Image.open(io.BytesIO(out))
    assert im.info.get("icc_profile") == icc
    assert im.getexif()[0x010E] == "a description"
    im.load()  # a complete, valid JPEG


def test_refine_zero_rounds_and_foreign_files(photo):
    data = encode_jpeg(Image.fromarray(photo), 25, "4:2:0")
    model = load_model("regen-coarse4")
    assert refine(data, photo, model, 25, SearchSettings(rounds=0)) == data
    gray = io.BytesIO()
    Image.fromarray(photo[..., 0]).save(gray, "JPEG", quality=25)
    assert refine(gray.getvalue(), photo, model, 25, SearchSettings(rounds=2)) == gray.getvalue()
    # a file of another picture size is not searched against this source
    assert refine(data, photo[:64], model, 25, SearchSettings(rounds=2)) == data


def test_tiles_cover_every_block_once(photo, tmp_path, monkeypatch):
    monkeypatch.setattr(coefsearch, "CONTEXT", 16)
    data, _, q = _search(photo)
    blocks, qts, factors = _coefs(data)
    s = _Search(None, None, photo, blocks, qts, factors, q, SearchSettings(rounds=1), "cpu")
    tiles = s.tiles(tile=48)
    assert len(tiles) > 1
    h, w = photo.shape[:2]
    cover = np.zeros((h, w), int)
    for y0, y1, x0, x1 in tiles:
        cover[y0:y1, x0:x1] += 1
        assert min(y1 - y0, x1 - x0) >= 33  # room for MS-SSIM
    assert (cover == 1).all()


def test_spans():
    assert _spans(100, 16, 48) == [(0, 48), (48, 100)]  # a 4-pixel strip joins the one before
    assert _spans(200, 16, 64) == [(0, 64), (64, 128), (128, 200)]
    assert _spans(40, 8, 1000) == [(0, 40)]


def test_encode_effort(photo, tmp_path):
    import codec

    p = tmp_path / "a.png"
    Image.fromarray(photo).save(p)
    plain = codec.encode(p, quality=25, mode="regen", effort=0)
    searched = codec.encode(p, quality=25, mode="regen", effort="fast")
    assert plain != searched
    assert read_info(open_jpeg(plain)).qtables == read_info(open_jpeg(searched)).qtables
    assert np.asarray(codec.decode(searched)).shape == photo.shape
    for bad in (1.5, True, b"1"):
        with pytest.raises(TypeError, match="effort"):
            codec.encode(p, quality=25, effort=bad)
    for bad in (-1, 4, 20, "x", "20"):
        with pytest.raises(CodecError, match="effort level"):
            codec.encode(p, quality=25, effort=bad)


def test_default_effort(monkeypatch):
    from codec.encoder import effort
    from codec.encoder.coefsearch import SearchSettings, search_id

    monkeypatch.delenv("REGEN_CODEC_EFFORT")
    monkeypatch.setenv("REGEN_CODEC_SEARCH_PRECISION", "float32")
    assert effort.default_level("cpu") == effort.CPU_DEFAULT == 2
    assert effort.default_level("cuda:0") == effort.GPU_DEFAULT == 3
    assert search_id(device="cpu") == "cs2-r4-s0.04" and search_id(3) == "cs2-r20"  # cache keys
    assert SearchSettings.for_level(3) == SearchSettings()  # `best` is the search before levels
    assert SearchSettings.for_level(0).rounds == 0
    rounds = [SearchSettings.for_level(lv.number).rounds for lv in effort.LEVELS]
    assert rounds == sorted(rounds) and len(set(rounds)) == len(rounds)  # each level does more
    monkeypatch.setenv("REGEN_CODEC_EFFORT", "0")
    assert effort.default_level("cuda") == 0
    monkeypatch.setenv("REGEN_CODEC_EFFORT", "Fast")
    assert effort.default_level() == 1
    for bad in ("-1", "x", "1.5", "20"):
        monkeypatch.setenv("REGEN_CODEC_EFFORT", bad)
        with pytest.raises(CodecError, match="REGEN_CODEC_EFFORT"):
            effort.default_level()
    with pytest.raises(CodecError, match="closest to 3 .best."):
        effort.level(20)  # an old round count is told which level it became
    assert effort.level(np.int64(2)).name == "balanced" and effort.level(" Best ").number == 3


def test_cli_effort(cli, png_file, tmp_path):
    out = tmp_path / "a.jpg"
    r = cli("encode", png_file, "-o", out, "--mode", "regen", "--effort", "0")
    assert r.exit_code == 0, r.output
    r = cli("encode", png_file, "-o", tmp_path / "b.jpg", "--mode", "regen", "--effort", "3")
    assert r.exit_code == 0, r.output
    assert out.read_bytes() != (tmp_path / "b.jpg").read_bytes()
    r = cli("encode", png_file, "-o", tmp_path / "c.jpg", "--effort", "-1")
    assert r.exit_code == 2 and "effort" in r.output


@pytest.fixture()
def tiny_rec():
    from codec.reccnn.model import RecCNN

    torch.manual_seed(0)
    rec = RecCNN(width1=8, width2=8, depth=1)
    torch.nn.init.normal_(rec.tail.weight, std=0.01)
    return rec.eval()


@pytest.mark.parametrize("which", ["photo", "odd_photo"])
def test_comrec_search_sees_what_decode_restores_and_lowers_its_loss(which, request, tiny_rec):
    """A comrec file (the half-size picture) searched against the full-size source: the search's
    differentiable route (decode, bicubic 2x upscale, RecCNN, no consistency step) restores what
    codec.reccnn.infer.restore does, and rounds only lower the loss."""
    from codec.comcnn.model import downscale
    from codec.encoder.jpegrate import CodeLengths
    from codec.format.jpeg import cond_vector, decode_jpeg
    from codec.reccnn.infer import restore
    from codec.utils.metrics import psnr

    img = request.getfixturevalue(which)
    small = downscale(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)
    small = small[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    data = encode_jpeg(Image.fromarray(small), 10, "4:2:0")
    blocks, qts, factors = _coefs(data)
    cond = torch.from_numpy(cond_vector(read_info(open_jpeg(data)))[None])
    for p in tiny_rec.parameters():
        p.requires_grad_(False)
    s = _Search(tiny_rec, cond, img, blocks, qts, factors, 10, SearchSettings(rounds=6), "cpu",
                CodeLengths.of_file(data), scale=2, slope_value=50.0)
    (tile,) = s.tiles()
    assert tile == (0, small.shape[0], 0, small.shape[1])
    win = s._window(*tile)
    _, _, err = s._evaluate(win, win.take(s.cur))
    ours = 10 * np.log10(255 ** 2 * img.size / err)
    rgb, info = decode_jpeg(data)
    theirs = psnr(img, restore(tiny_rec, rgb, cond_vector(info), img.shape[:2]))
    assert ours == pytest.approx(theirs, abs=0.15)  # rounding of the planes and the upscale
    before = s.tile_loss(*tile)
    s.run_tile(*tile)
    assert s.tile_loss(*tile) < before


def test_refine_comrec_file(photo, tiny_rec):
    from codec.comcnn.model import downscale

    small = downscale(torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255)
    small = small[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    data = encode_jpeg(Image.fromarray(small), 10, "4:2:0")
    out = refine(data, photo, tiny_rec, 10, SearchSettings(rounds=3), comrec=True)
    assert out != data
    a, b = read_info(open_jpeg(data)), read_info(open_jpeg(out))
    assert (a.width, a.height, a.subsampling, a.qtables) == (b.width, b.height, b.subsampling, b.qtables)
    # sizes that do not pair up are not searched: a half-size file as a regen file, and the reverse
    assert refine(data, photo, tiny_rec, 10, SearchSettings(rounds=3)) == data
    full = encode_jpeg(Image.fromarray(photo), 10, "4:2:0")
    assert refine(full, photo, tiny_rec, 10, SearchSettings(rounds=3), comrec=True) == full


def test_comrec_slope():
    from codec.encoder.coefsearch import COMREC_SLOPES, comrec_slope

    lo, hi = min(COMREC_SLOPES), max(COMREC_SLOPES)
    assert comrec_slope(1) == COMREC_SLOPES[lo] and comrec_slope(99) == COMREC_SLOPES[hi]
    assert COMREC_SLOPES[4] < comrec_slope(3) < COMREC_SLOPES[2]


@pytest.mark.parametrize("size", [(120, 200), (176, 176), (40, 64), (20, 30)])
def test_quality_ref_matches_pytorch_msssim(size):
    """The search's MS-SSIM with the reference's terms computed once gives pytorch_msssim's
    value and gradient (sizes that take the 11, 7 and 3 windows, and one too small for it)."""
    from pytorch_msssim import ms_ssim

    from codec.encoder.coefsearch import QualityRef, quality_db
    from codec.utils.metrics import MSSSIM_MIN_SIDE, msssim_window

    g = torch.Generator().manual_seed(0)
    ref = torch.rand(3, *size, generator=g)
    out = (ref + 0.1 * torch.randn(3, *size, generator=g)).clamp(0, 1)
    a, b = out.clone().requires_grad_(True), out.clone().requires_grad_(True)
    got = quality_db(a, QualityRef(ref), 0.5)
    got.backward()
    psnr = -10 * torch.log10(((b - ref) ** 2).mean())
    if min(size) < MSSSIM_MIN_SIDE:
        want = psnr
    else:
        ms = ms_ssim(b[None] * 255, ref[None] * 255, data_range=255, win_size=msssim_window(min(size)))
        want = 0.5 * -10 * torch.log10(1 - ms) + 0.5 * psnr
    want.backward()
    assert float(got) == pytest.approx(float(want), rel=1e-4)  # float32 sums in another order
    assert float((a.grad - b.grad).abs().max()) <= 1e-3 * float(b.grad.abs().max())


def test_search_precision(monkeypatch, tmp_path):
    """bfloat16 where the CPU computes it natively, float32 elsewhere and on GPUs; the variable
    overrides it; the choice is part of the levels' settings and of the cache keys."""
    from codec.encoder import precision
    from codec.encoder.coefsearch import SearchSettings, search_id

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n")
    assert "avx512_bf16" in precision._cpu_flags.__wrapped__(str(info))
    assert precision._cpu_flags.__wrapped__(str(tmp_path / "absent")) == frozenset()
    monkeypatch.delenv(precision.ENV, raising=False)
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert precision.search_precision("cpu") == "bfloat16"
    assert precision.search_precision("cuda:0") == "float32"
    assert SearchSettings.for_level(2).precision == "bfloat16"
    assert search_id(2) == "cs2-r4-s0.04-bf16" and search_id(0) == "cs2-r0"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx512f", "avx2"}))
    assert precision.search_precision("cpu") == "float32" and search_id(2) == "cs2-r4-s0.04"
    monkeypatch.setenv(precision.ENV, "BFloat16")
    assert precision.search_precision("cpu") == "bfloat16"
    monkeypatch.setenv(precision.ENV, "half")
    with pytest.raises(CodecError, match="REGEN_CODEC_SEARCH_PRECISION"):
        precision.search_precision("cpu")
    with precision.forced("float32"):
        assert precision.search_precision("cpu") == "float32"
    with precision.forced(None):  # nothing forced: the variable as it was
        assert os.environ[precision.ENV] == "half"
    assert os.environ[precision.ENV] == "half"

