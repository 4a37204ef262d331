"""Training: a few steps on tiny data, resume, and two processes under torchrun (gloo)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

TINY = ["--patch", "64", "--batch", "2", "--width1", "8", "--width2", "8", "--depth", "1"]


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    from skimage import data

    d = tmp_path_factory.mktemp("train")
    img = data.astronaut()
    for i in range(8):
        y, x = 40 * i, 30 * i
        Image.fromarray(img[y:y + 160, x:x + 160]).save(d / f"p{i}.png")
    Image.fromarray(img[:300, :300]).save(d / "src.jpg", quality=95)
    Image.fromarray(data.chelsea()).save(d / "zz-val-candidate.png")
    return d


def _rows(workdir):
    return list(csv.DictReader(open(workdir / "log.csv")))


def test_train_checkpoint_resume_export(cli, train_dir, tmp_path):
    work = tmp_path / "run"
    r = cli("train", "regen", "--data", train_dir, "--id", "t", "--steps", 2, "--val-every", 2,
            "--ckpt-every", 1, "--workdir", work, *TINY)
    assert r.exit_code == 0, r.output
    assert [int(x["step"]) for x in _rows(work)] == [1, 2]
    again = cli("train", "regen", "--data", train_dir, "--id", "t", "--steps", 4,
                "--val-every", 2, "--ckpt-every", 1, "--workdir", work, *TINY)
    assert again.exit_code != 0 and "--resume" in again.output  # never clobbers a run
    r = cli("train", "regen", "--data", train_dir, "--id", "t", "--steps", 4, "--val-every", 2,
            "--ckpt-every", 1, "--workdir", work, "--resume", *TINY)
    assert r.exit_code == 0, r.output
    rows = _rows(work)
    assert [int(x["step"]) for x in rows] == [1, 2, 3, 4]
    assert rows[-1]["psnr_gain_q10"] != ""
    assert (work / "curves.png").is_file() and (work / "train_record.json").is_file()
    assert len(list(work.glob("t-*.safetensors"))) == 1


def test_two_processes_with_gloo(train_dir, tmp_path):
    work = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "codec", "train", "regen", "--data", str(train_dir), "--id", "ddp", "--steps", "3",
         "--val-every", "3", "--ckpt-every", "3", "--workdir", str(work), "--device", "cpu", *TINY],
        capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    record = (work / "train_record.json").read_text()
    assert '"world size 2' in record or "world size 2" in record
    assert len(list(work.glob("ddp-*.safetensors"))) == 1
    assert np.isfinite(float(_rows(work)[-1]["loss"]))


def test_batches_mix_in_table_sets(photo):
    """With --tables, part of each batch is coded with the set's tables (seen in the condition)."""
    from codec.format.jpeg import JpegInfo, cond_vector
    from codec.format.tables import TableSet
    from codec.regen.data import sample_batch

    ts = TableSet("t", luma_tilt=1.0, subsampling=((100, "4:4:4"),))
    pool = np.stack([photo[:64, :64]] * 4)
    b = sample_batch(pool, 64, np.random.default_rng(0), table_sets=(ts,), tuned_prob=0.5)
    tuned = 0
    for c in b.cond:
        for q in range(5, 96):
            if np.allclose(c, cond_vector(JpegInfo(64, 64, ts.qtables(q), "4:4:4", 3))):
                tuned += 1
                break
    assert 16 < tuned < 48


def test_train_comrec_rounds_rate_term_resume_and_init(cli, train_dir, tmp_path, user_models):
    tiny = ["--patch", "64", "--batch", "2", "--com-width", "4", "--rec-width1", "4",
            "--rec-width2", "4", "--rec-depth", "1", "--rec-steps", "2", "--com-steps", "2"]
    work = tmp_path / "cr"
    r = cli("train", "comrec", "--data", train_dir, "--id", "tcr", "--rounds", "1",
            "--rate-weight", "0.3", "--workdir", work, "--export", tmp_path / "out", *tiny)
    assert r.exit_code == 0, r.output
    r = cli("train", "comrec", "--data", train_dir, "--id", "tcr", "--rounds", "2", "--patience",
            "5", "--rate-weight", "0.3", "--workdir", work, "--export", tmp_path / "out", "--resume",
            *tiny)
    assert r.exit_code == 0, r.output
    rows = _rows(work)
    assert [int(x["round"]) for x in rows] == [1, 2]
    assert all(np.isfinite(float(x["score"])) and float(x["bpp_q10"]) > 0 for x in rows)
    wrote = [line.split("wrote ", 1)[1].strip() for line in r.output.splitlines()
             if line.startswith("wrote ")]
    names = [Path(w).name for w in wrote]  # the best pair of the whole run: ComCNN, RecCNN
    assert len(names) == 2 and sum(n.startswith("tcr-com-") for n in names) == 1
    assert all(n.startswith("tcr-") for n in names)
    for w in wrote:
        assert Path(w).is_file() and cli("models", "import", w).exit_code == 0
    r = cli("train", "comrec", "--data", train_dir, "--id", "tcr2", "--rounds", "1", "--init",
            "tcr", "--qmin", "1", "--qmax", "20", "--msssim-weight", "1.5",
            "--workdir", tmp_path / "cr2", *tiny)
    assert r.exit_code == 0, r.output
    rows = _rows(tmp_path / "cr2")  # round 0: the initial pair's score, the bar to beat
    assert [int(x["round"]) for x in rows] == [0, 1] and rows[0]["phase_loss_rec"] == ""
    config = json.loads((tmp_path / "cr2" / "config.json").read_text())
    assert config["qmin"] == 1 and config["msssim_weight"] == 1.5
    assert config["device"] in ("cpu", "cuda")  # auto resolves to where it ran
    if not torch.cuda.is_available():
        r = cli("train", "comrec", "--data", train_dir, "--id", "tcr4", "--device", "cuda",
                "--workdir", tmp_path / "cr4", *tiny)
        assert r.exit_code != 0 and "no CUDA GPU" in r.output
        assert not (tmp_path / "cr4").exists()
    r = cli("train", "comrec", "--data", train_dir, "--id", "tcr3", "--qmin", "30", "--qmax", "20",
            "--workdir", tmp_path / "cr3", *tiny)
    assert r.exit_code != 0 and "--qmin" in r.output


def test_train_comrec_stop_signal_exports_the_best_pair_so_far(cli, train_dir, tmp_path,
                                                                monkeypatch):
    """SIGTERM in round 2: that round is dropped, round 1's pair is exported, the exit status
    says so, and --resume runs round 2 again."""
    import signal

    import codec.reccnn.train as CT

    tiny = ["--patch", "64", "--batch", "2", "--com-width", "4", "--rec-width1", "4",
            "--rec-width2", "4", "--rec-depth", "1", "--rec-steps", "2", "--com-steps", "2"]
    real, calls = CT.restoration_loss, []

    def signalled_in_round_two(*a, **k):
        calls.append(1)
        if len(calls) == 5:  # round 1 makes 2 + 2 steps
            signal.raise_signal(signal.SIGTERM)
        return real(*a, **k)

    monkeypatch.setattr(CT, "restoration_loss", signalled_in_round_two)
    work = tmp_path / "cr"
    args = ["--data", train_dir, "--id", "tcs", "--rounds", "3", "--patience", "5",
            "--workdir", work, "--export", tmp_path / "out", *tiny]
    r = cli("train", "comrec", *args)
    assert r.exit_code == 128 + signal.SIGTERM, r.output
    assert "stopped by SIGTERM in round 2" in r.output and "round 1" in r.output
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert [int(x["round"]) for x in _rows(work)] == [1]
    assert len(list((tmp_path / "out").glob("tcs-*.safetensors"))) == 2
    assert json.loads((work / "train_record.json").read_text())["stopped_by_signal"] == "SIGTERM"
    monkeypatch.setattr(CT, "restoration_loss", real)
    r = cli("train", "comrec", *args, "--resume")
    assert r.exit_code == 0, r.output
    assert [int(x["round"]) for x in _rows(work)] == [1, 2, 3]


def test_rate_score_reads_the_curve_at_fixed_rates():
    from codec.reccnn.train import SCORE_BPP, VAL_QUALITIES, score_at_rates

    # MS-SSIM dB = 10 + 4 * log2(bpp / 0.2): the score is the curve's mean at SCORE_BPP
    bpps = np.geomspace(0.08, 0.7, len(VAL_QUALITIES))
    row = {}
    for q, b in zip(VAL_QUALITIES, bpps):
        row[f"bpp_q{q}"], row[f"msssim_db_q{q}"] = b, 10 + 4 * np.log2(b / 0.2)
    want = np.mean([10 + 4 * np.log2(b / 0.2) for b in SCORE_BPP])
    assert abs(score_at_rates(row) - want) < 1e-9
    richer = dict(row, **{f"bpp_q{q}": b * 1.2 for q, b in zip(VAL_QUALITIES, bpps)})
    assert score_at_rates(richer) < score_at_rates(row)  # same quality, more bytes


def test_deepen_starts_as_the_same_function_and_then_learns():
    import torch

    from codec.format.jpeg import COND_DIM
    from codec.regen.model import RegenNet, deepen

    torch.manual_seed(1)
    base = RegenNet(width1=8, width2=16, depth=2)
    for p in base.parameters():
        torch.nn.init.normal_(p, 0, 0.1)  # a "trained" model: nothing at its zero init
    deep = deepen(base, 3)
    assert deep.config["depth"] == 5 and len(deep.mid) == 5
    x, c = torch.rand(2, 3, 18, 22), torch.rand(2, COND_DIM)
    assert torch.equal(base(x, c), deep(x, c))
    (deep(x, c) - torch.rand_like(x)).abs().mean().backward()
    torch.optim.SGD(deep.parameters(), lr=0.5).step()
    # The closed gates (gamma = -1) get a gradient because the new convolutions are random,
    # so one step opens them: the new layers are not stuck at zero.
    cut = 2 * (8 * 1 + 16 * 2)  # FiLM rows of enc and the two old mid layers
    gamma = deep.cond(c)[:, cut:cut + 16].detach()
    assert (gamma + 1).abs().max() > 1e-4


def test_coarse_branch_starts_silent_learns_and_tiles(photo):
    """add_coarse grows an eighth-resolution branch: the same function at first, a branch that
    trains, old configs unchanged, and tiled decoding still equal to a single pass."""
    from codec.format.jpeg import COND_DIM, cond_vector, decode_jpeg
    from codec.regen.infer import regenerate
    from codec.regen.model import RegenNet, add_coarse
    from codec.registry import count_macs_per_pixel

    from .conftest import jpeg_bytes

    torch.manual_seed(1)
    base = RegenNet(width1=8, width2=16, depth=2)
    for p in base.parameters():
        torch.nn.init.normal_(p, 0, 0.1)
    grown = add_coarse(base, depth3=2, width3=32)
    assert "depth3" not in base.config and grown.config["depth3"] == 2
    x, c = torch.rand(2, 3, 32, 40), torch.rand(2, COND_DIM)
    assert torch.allclose(base(x, c), grown(x, c), atol=1e-6)
    assert count_macs_per_pixel(grown) > count_macs_per_pixel(base)
    with pytest.raises(ValueError):
        add_coarse(grown)
    (grown(x, c) - torch.rand_like(x)).abs().mean().backward()
    assert grown.up3.weight.grad.abs().sum() > 0  # the silent branch gets a gradient
    torch.nn.init.normal_(grown.up3.weight, 0, 0.1)  # now it speaks
    assert not torch.allclose(base(x, c), grown(x, c), atol=1e-3)
    assert grown.context > base.context
    img = np.ascontiguousarray(np.concatenate([photo, photo[:, ::-1]], 1))
    coded, info = decode_jpeg(jpeg_bytes(img, 30))
    whole = regenerate(grown, coded, cond_vector(info), tile=4096)
    tiled = regenerate(grown, coded, cond_vector(info), tile=64)
    assert np.abs(tiled.astype(int) - whole).max() <= 1


def test_train_grow_depth_needs_init_and_exports_the_deeper_model(cli, train_dir, tmp_path,
                                                                 user_models):
    r = cli("train", "regen", "--data", train_dir, "--id", "g", "--steps", 1, "--grow-depth", 2,
            "--workdir", tmp_path / "x", *TINY)
    assert r.exit_code != 0 and "--init" in r.output
    base = tmp_path / "base"
    r = cli("train", "regen", "--data", train_dir, "--id", "b", "--steps", 1, "--val-every", 1,
            "--workdir", base, "--export", base, *TINY)
    assert r.exit_code == 0, r.output
    init = next(base.glob("b-*.safetensors"))
    work = tmp_path / "grown"
    r = cli("train", "regen", "--data", train_dir, "--id", "g", "--steps", 1, "--val-every", 1,
            "--init", init, "--grow-depth", 2, "--workdir", work, "--export", work, *TINY)
    assert r.exit_code == 0, r.output
    from codec.registry import _read_info

    info = _read_info(next(work.glob("g-*.safetensors")), builtin=False)
    assert info.config["depth"] == 3
    coarse = tmp_path / "coarse"
    r = cli("train", "regen", "--data", train_dir, "--id", "gc", "--steps", 1, "--val-every", 1,
            "--init", init, "--grow-coarse", 1, "--width3", 16, "--workdir", coarse, "--export",
            coarse, *TINY)
    assert r.exit_code == 0, r.output
    info = _read_info(next(coarse.glob("gc-*.safetensors")), builtin=False)
    assert info.config["depth3"] == 1 and info.config["width3"] == 16
    blend = tmp_path / "blend"
    r = cli("train", "regen", "--data", train_dir, "--id", "gb", "--steps", 2, "--val-every", 1,
            "--init", init, "--grow-blend", "--workdir", blend, "--export", blend, *TINY)
    assert r.exit_code == 0, r.output
    assert _read_info(next(blend.glob("gb-*.safetensors")), builtin=False).config["blend"] is True
    r = cli("train", "regen", "--data", train_dir, "--id", "g", "--steps", 1, "--grow-blend",
            "--workdir", tmp_path / "y", *TINY)
    assert r.exit_code != 0 and "--init" in r.output
    scratch = tmp_path / "scratch"
    r = cli("train", "regen", "--data", train_dir, "--id", "s3", "--steps", 1, "--val-every", 1,
            "--depth3", 1, "--width3", 8, "--workdir", scratch, "--export", scratch, *TINY)
    assert r.exit_code == 0, r.output
    assert _read_info(next(scratch.glob("s3-*.safetensors")), builtin=False).config["depth3"] == 1


def test_tables_share_reaches_the_config(cli, train_dir, tmp_path):
    work = tmp_path / "share"
    r = cli("train", "regen", "--data", train_dir, "--id", "tshare", "--steps", "2", "--val-every",
            "2", "--ckpt-every", "2", "--workdir", work, "--device", "cpu", "--tables", "regen-v1",
            "--tables-share", "1.0", *TINY)
    assert r.exit_code == 0, r.output
    config = json.loads((work / "config.json").read_text())
    assert config["tables"] == ["regen-v1"] and config["tables_share"] == 1.0
    r = cli("train", "regen", "--data", train_dir, "--id", "tshare2", "--tables-share", "1.5",
            "--workdir", tmp_path / "share2", *TINY)
    assert r.exit_code != 0 and "tables-share" in r.output


def test_consistency_training_runs_the_decode_projection(cli, train_dir, tmp_path, monkeypatch):
    """--consistency trains the output after codec.decoder.consistency's projection, as `decode` makes it."""
    import codec.decoder.consistency as C

    calls = []
    real = C.project_batch
    monkeypatch.setattr("codec.regen.train.project_batch",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    work = tmp_path / "c"
    r = cli("train", "regen", "--data", train_dir, "--id", "c", "--steps", 1, "--val-every", 1,
            "--workdir", work, "--consistency", *TINY)
    assert r.exit_code == 0, r.output
    assert json.loads((work / "config.json").read_text())["consistency"] is True
    assert len(calls) >= 2  # a training batch of 2 crops, then validation


def test_batches_are_a_function_of_the_step_whatever_the_workers(photo):
    """Worker processes and resumed runs see the very batches of an unbroken one-process run."""
    from codec.regen.loader import batch_maker, batches

    pool = np.stack([photo[y:y + 48, y:y + 48] for y in range(0, 72, 12)])
    make = batch_maker(pool, 3, seed=5, rank=0, patch=32, coefficients=True)
    alone = list(batches(make, 0, 5))
    assert all(b.clean.shape == (3, 32, 32, 3) and len(b.coefs) == 3 for b in alone)
    for got in (list(batches(make, 0, 5, workers=2)), [None, None] + list(batches(make, 2, 5, 2))):
        for a, b in zip(alone, got):
            if b is not None:
                assert np.array_equal(a.clean, b.clean) and np.array_equal(a.coded, b.coded)
                assert a.files == b.files
    assert not np.array_equal(alone[0].clean, alone[1].clean)
    other = batch_maker(pool, 3, seed=5, rank=1, patch=32)(0)
    assert not np.array_equal(alone[0].clean, other.clean)  # each rank draws its own crops


def test_resumed_run_ends_with_the_weights_of_an_unbroken_one(cli, train_dir, tmp_path):
    from safetensors.torch import load_file

    threads = torch.get_num_threads()
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["--id", "r", "--val-every", 4, "--ckpt-every", 2, *TINY]
    r = cli("train", "regen", "--data", train_dir, "--steps", 4, "--workdir", one, *args)
    assert r.exit_code == 0, r.output
    r = cli("train", "regen", "--data", train_dir, "--steps", 4, "--workdir", two,
            "--workers", 2, "--time-limit", 100, *args)
    assert r.exit_code == 0, r.output  # a time limit far away changes nothing
    w1 = load_file(next(one.glob("r-*.safetensors")))
    w2 = load_file(next(two.glob("r-*.safetensors")))
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert torch.get_num_threads() == threads  # the run with workers gave its threads back
    # killed after step 2 (a checkpoint), resumed with workers: the same weights again
    import codec.regen.train as T

    real = T.batches

    def killed_after_two(*a, **k):
        for i, b in enumerate(real(*a, **k)):
            if i == 2:
                raise KeyboardInterrupt
            yield b

    three = tmp_path / "three"
    T.batches = killed_after_two
    try:
        with pytest.raises(KeyboardInterrupt):
            T.train(T.TrainConfig(data=[str(train_dir)], id="r", steps=4, batch=2, patch=64,
                                  val_every=4, ckpt_every=2, workdir=str(three),
                                  arch=dict(width1=8, width2=8, depth=1)))
    finally:
        T.batches = real
    assert torch.load(three / "checkpoint.pt", weights_only=True)["step"] == 2
    r = cli("train", "regen", "--data", train_dir, "--steps", 4, "--workdir", three,
            "--workers", 2, "--resume", *args)
    assert r.exit_code == 0, r.output
    w3 = load_file(next(three.glob("r-*.safetensors")))
    assert all(torch.equal(w1[k], w3[k]) for k in w1)


def test_lr_anneals_by_steps_or_time_whichever_is_further():
    from codec.regen.train import WARMUP, lr_factor

    assert lr_factor(WARMUP, 10 * WARMUP) == pytest.approx(0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi / 10)))
    assert lr_factor(WARMUP, 10 * WARMUP, elapsed=50, limit_s=100) == pytest.approx(0.51)
    assert lr_factor(WARMUP, 10 * WARMUP, elapsed=500, limit_s=100) == pytest.approx(0.02)
    assert lr_factor(0, 10, elapsed=0, limit_s=100) == pytest.approx(1 / WARMUP)


def test_time_limit_stops_validates_and_exports(cli, train_dir, tmp_path):
    work = tmp_path / "t"
    r = cli("train", "regen", "--data", train_dir, "--id", "tl", "--steps", 100000,
            "--time-limit", 0.001, "--val-every", 100000, "--workdir", work, *TINY)
    assert r.exit_code == 0, r.output
    assert "--time-limit" in r.output
    record = json.loads((work / "train_record.json").read_text())
    assert record["stopped_by_time_limit"] is True and record["steps"] < 100000
    assert _rows(work)[-1]["psnr_gain_q10"] != ""  # the last step validated
    assert len(list(work.glob("tl-*.safetensors"))) == 1


def test_pack_holds_the_split_and_trains_without_the_folders(cli, train_dir, tmp_path):
    from codec.regen.croppack import read_pack
    from codec.regen.data import build_pool, list_images, split

    pack = tmp_path / "crops.npz"
    r = cli("train", "pack", "--data", train_dir, "--out", pack, "--patch", 96, "--max-mb", 1)
    assert r.exit_code == 0, r.output
    train, val, info = read_pack(pack)
    tr, va = split(list_images([train_dir]))
    assert (info.train_files, info.val_files) == (len(tr), len(va))
    assert train.shape[1:] == (96, 96, 3) and 0 < len(train) <= info.pool_crops
    assert pack.stat().st_size <= 2 ** 20
    # lossless, and the crops `train regen` would cut (same seed), in the pack's random order
    pool = build_pool(tr, 96, 0)
    order = np.random.default_rng(0).permutation(len(pool))
    assert np.array_equal(train, pool[order[:len(train)]])
    # a machine whose Pillow codes JPEG differently is told so
    import codec.regen.data as D

    real = D.jpeg_roundtrip
    D.jpeg_roundtrip = lambda img, q, *a, **k: real(img, q + 1, *a, **k)
    try:
        with pytest.warns(UserWarning, match="codes JPEG differently"):
            read_pack(pack)
    finally:
        D.jpeg_roundtrip = real
    again = cli("train", "pack", "--data", train_dir, "--out", pack, "--max-mb", 1)
    assert again.exit_code != 0 and "exists" in again.output  # never overwritten
    work = tmp_path / "p"
    r = cli("train", "regen", "--pack", pack, "--id", "p", "--steps", 2, "--val-every", 2,
            "--workdir", work, *TINY)
    assert r.exit_code == 0, r.output
    assert json.loads((work / "train_record.json").read_text())["train_crops"] == len(train)
    big = cli("train", "regen", "--pack", pack, "--id", "p2", "--steps", 1, "--workdir",
              tmp_path / "p2", *TINY[2:], "--patch", 128)
    assert big.exit_code != 0 and "larger than the pack" in big.output
    assert "Traceback" not in big.output
    both = cli("train", "regen", "--pack", pack, "--data", train_dir, "--id", "p3", *TINY)
    assert both.exit_code != 0 and "--pack" in both.output
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a pack")
    r = cli("train", "regen", "--pack", bad, "--id", "p4", "--workdir", tmp_path / "p4", *TINY)
    assert r.exit_code != 0 and "not a readable crop pack" in r.output



@pytest.mark.parametrize("side,win", [(64, 3), (128, 7), (176, 11)])
def test_restoration_loss_window_follows_crop_size(side, win):
    """The MS-SSIM term uses the benchmarks' 11-pixel window where the crop allows five scales
    with it, smaller windows below: the loss is L1 + w (1 - MS-SSIM) with exactly that window."""
    from pytorch_msssim import ms_ssim

    from codec.regen.train import restoration_loss

    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, side, side, generator=g)
    out = (target + 0.1 * torch.randn(2, 3, side, side, generator=g)).clamp(0, 1)
    want = (out - target).abs().mean() + 0.5 * (1 - ms_ssim(out, target, data_range=1.0, win_size=win))
    assert torch.allclose(restoration_loss(out, target, 0.5), want)
    assert torch.allclose(restoration_loss(out, target, 0.0), (out - target).abs().mean())


def test_blended_kernels_start_as_the_init_learn_and_cost_no_macs_at_decode(photo):
    """add_blend gives the quarter/eighth-res layers second kernels mixed in per picture: the same
    function at first, kernels that train, a merged single pass for one picture equal to the
    per-picture sum, and the same multiply-accumulates per pixel as the init."""
    from codec.format.jpeg import COND_DIM, cond_vector, decode_jpeg
    from codec.regen.infer import regenerate
    from codec.regen.model import RegenNet, add_blend
    from codec.registry import count_macs_per_pixel

    from .conftest import jpeg_bytes

    torch.manual_seed(1)
    base = RegenNet(width1=8, width2=16, depth=2, depth3=1, width3=16)
    for p in base.parameters():
        torch.nn.init.normal_(p, 0, 0.1)
    grown = add_blend(base)
    assert "blend" not in base.config and grown.config["blend"] is True
    with pytest.raises(ValueError):
        add_blend(grown)
    x, c = torch.rand(2, 3, 32, 40), torch.rand(2, COND_DIM)
    assert torch.allclose(base(x, c), grown(x, c), atol=1e-6)
    (grown(x, c) - torch.rand_like(x)).abs().mean().backward()
    assert all(m.delta.weight.grad.abs().sum() > 0 for m in grown.mid)  # the new kernels train
    for m in list(grown.mid) + list(grown.coarse):
        torch.nn.init.normal_(m.delta.weight, 0, 0.1)
    with torch.no_grad():
        both = grown(x, c)  # two pictures: conv(x) + a * delta(x) per picture
        one = grown(x[1:], c[1:])  # one picture: a single convolution with the merged kernel
    assert torch.allclose(both[1:], one, atol=1e-5)
    assert not torch.allclose(base(x, c), both, atol=1e-3)
    assert count_macs_per_pixel(grown) == pytest.approx(count_macs_per_pixel(base), rel=0.01)
    again = RegenNet(**grown.config)
    again.load_state_dict(grown.state_dict())
    img = np.ascontiguousarray(np.concatenate([photo, photo[:, ::-1]], 1))
    coded, info = decode_jpeg(jpeg_bytes(img, 30))
    whole = regenerate(again, coded, cond_vector(info), tile=4096)
    tiled = regenerate(again, coded, cond_vector(info), tile=64)
    assert np.abs(tiled.astype(int) - whole).max() <= 1
    assert np.abs(whole.astype(int) - regenerate(grown, coded, cond_vector(info), tile=4096)).max() == 0



def test_training_process_keeps_the_cores_its_workers_leave():
    """With batch-making workers, the training process takes only the cores they leave (more
    threads oversubscribe the CPU: PyTorch's spinning OpenMP threads starve the workers)."""
    import torch

    from codec.regen.train import main_threads

    assert main_threads(14, cores=16) == 2
    assert main_threads(7, cores=16) == 9
    assert main_threads(4, cores=2) == 1
    assert main_threads(0, cores=16) == torch.get_num_threads()  # no workers: as it is


@pytest.mark.parametrize("workers", [0, 2])
def test_a_stop_signal_checkpoints_and_exports_then_exits_128_plus_signal(cli, train_dir, tmp_path,
                                                                          workers):
    """SIGTERM (a scheduler's or `timeout`'s) mid-run: the step ends, the checkpoint and the
    weights are written, the exit status says so, and --resume continues to the same end."""
    import signal

    import codec.regen.train as T

    real = T.batches

    def signalled_at_two(*a, **k):
        for i, b in enumerate(real(*a, **k)):
            if i == 2:
                signal.raise_signal(signal.SIGTERM)
            yield b

    run = tmp_path / "run"
    args = ["--id", "s", "--steps", 6, "--val-every", 6, "--ckpt-every", 6, "--workers", workers,
            "--workdir", run, *TINY]
    T.batches = signalled_at_two
    try:
        r = cli("train", "regen", "--data", train_dir, *args)
    finally:
        T.batches = real
    assert r.exit_code == 128 + signal.SIGTERM, r.output
    assert "stopped by SIGTERM at step 3" in r.output and "--resume" in r.output
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers given back
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 3
    assert len(list(run.glob("s-*.safetensors"))) == 1
    record = json.loads((run / "train_record.json").read_text())
    assert record["steps"] == 3 and record["stopped_by_signal"] == "SIGTERM"
    r = cli("train", "regen", "--data", train_dir, "--resume", *args)
    assert r.exit_code == 0, r.output
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 6
