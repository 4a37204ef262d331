"""Training with the crops JPEG-coded on the device (`train regen --device-jpeg`), timed
checkpoints with interim exports, and the device call script (bin/train-on-gpu)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

TINY = ["--patch", "48", "--batch", "2", "--width1", "4", "--width2", "8", "--depth", "1"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Path:
    from skimage import data

    from codec.regen.croppack import write_pack

    d = tmp_path_factory.mktemp("imgs")
    img = data.astronaut()
    for i in range(6):
        Image.fromarray(img[40 * i:40 * i + 96, 30 * i:30 * i + 96]).save(d / f"p{i}.png")
    out = tmp_path_factory.mktemp("pack") / "crops.npz"
    write_pack([d], out, patch=64, max_mb=1, val_fraction=0.2)
    return out


def _weights(d: Path, model_id: str) -> dict:
    from safetensors.torch import load_file

    (f,) = d.glob(f"{model_id}-*.safetensors")
    return load_file(f)


def test_device_jpeg_trains_the_same_weights_as_pillow_batches(cli, pack, tmp_path):
    """The device route makes the batches the CPU route makes (same draws, exact JPEG), so a
    run ends with the same weights, consistency step and table sets included."""
    args = ["--pack", pack, "--id", "d", "--steps", 2, "--val-every", 2, "--consistency",
            "--tables", "regen-v1", "--device", "cpu", *TINY]
    a = cli("train", "regen", "--workdir", tmp_path / "cpu", *args)
    assert a.exit_code == 0, a.output
    b = cli("train", "regen", "--workdir", tmp_path / "dev", "--device-jpeg", *args)
    assert b.exit_code == 0, b.output
    wa, wb = _weights(tmp_path / "cpu", "d"), _weights(tmp_path / "dev", "d")
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    assert json.loads((tmp_path / "dev" / "config.json").read_text())["device_jpeg"] is True


def test_device_jpeg_refuses_trellis_sets_in_one_line(cli, pack, tmp_path):
    r = cli("train", "regen", "--pack", pack, "--id", "t", "--device-jpeg", "--tables", "regen-t1",
            "--workdir", tmp_path / "t", *TINY)
    assert r.exit_code != 0 and "trellis" in r.output and "Traceback" not in r.output


def test_timed_checkpoints_export_on_the_way(pack, tmp_path, monkeypatch):
    """--ckpt-minutes checkpoints and exports during the run (a call killed from outside keeps
    both); the interim export is replaced, not added to."""
    import codec.regen.train as T

    exported = []
    real = T.save_model

    def spy(model, model_id, directory, **k):
        exported.append(k.get("summary", ""))
        return real(model, model_id, directory, **k)

    monkeypatch.setattr(T, "save_model", spy)
    T.train(T.TrainConfig(data=[], pack=str(pack), id="c", steps=3, batch=2, patch=48,
                          val_every=100, ckpt_every=100, ckpt_minutes=1e-9, device="cpu",
                          workdir=str(tmp_path / "c"), arch=dict(width1=4, width2=8, depth=1),
                          device_jpeg=True))
    assert sum("interim" in s for s in exported) == 2  # after steps 1 and 2; step 3 is the last
    assert len(list((tmp_path / "c").glob("c-*.safetensors"))) == 1


@pytest.mark.slow
def test_call_script_writes_into_out_and_resumes(pack, tmp_path):
    """bin/train-on-gpu as a device call runs it: results in $OUT (flat enough to come back, a
    large checkpoint in parts), the run folder only read; the next call, given what came back,
    resumes from it."""
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=str(ROOT))
    run = tmp_path / "keep"  # where the session keeps the run between calls
    sizes = {}  # the first call's checkpoint size
    for call, steps in ((1, 2), (2, 4), (3, 5)):
        out = tmp_path / f"out{call}"
        out.mkdir()
        env["OUT"] = str(out)
        # parts from call 2 on: two of them
        env["CKPT_PART_BYTES"] = str(10 ** 9 if call == 1 else sizes["checkpoint"] // 2 + 1)
        before = _snapshot(run)
        r = subprocess.run(["bin/train-on-gpu", str(run), "s", str(pack), "--steps", str(steps),
                            "--val-every", "2", "--device", "cpu", "--call-limit", "300", *TINY],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert _snapshot(run) == before  # the run folder is only read
        files = sorted(_snapshot(out))
        assert len(files) <= 8 and all(f.count("/") <= 1 for f in files)
        assert len([f for f in files if f.startswith("s-") and f.endswith(".safetensors")]) == 1
        assert "run/log.csv" in files
        if call == 1:
            sizes["checkpoint"] = (out / "run" / "checkpoint.pt").stat().st_size
        else:
            assert "run/checkpoint.pt" not in files and "run/checkpoint.pt.part01" in files
            assert f"resuming from step {2 * call - 2}" in r.stdout
        record = json.loads((out / "run" / "train_record.json").read_text())
        assert record["steps"] == steps and record["config"]["device_jpeg"] is True
        # the session copies what came back into the run folder, for the next call's carry
        run = tmp_path / f"keep{call}"
        shutil.copytree(out, run)
    assert [int(x) for x in _steps(out / "run" / "log.csv")] == [2, 4, 5]


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()} \
        if d.exists() else {}


def _steps(log: Path) -> list[str]:
    import csv

    return [row["step"] for row in csv.DictReader(open(log))]


def test_pack_shards_are_disjoint_shares_of_one_order(cli, tmp_path):
    """`train pack --shards N`: N packs within the budget each, successive shares of the same
    random order of crops (no crop twice, none skipped between them), same validation crops."""
    from skimage import data

    from codec.regen.croppack import read_pack
    from codec.regen.data import build_pool, list_images, split

    d = tmp_path / "imgs"
    d.mkdir()
    img = data.astronaut()
    for i in range(5):
        Image.fromarray(img[50 * i:50 * i + 256, 60 * i:60 * i + 256]).save(d / f"q{i}.png")
    out = tmp_path / "pool.npz"
    r = cli("train", "pack", "--data", d, "--out", out, "--patch", 48, "--max-mb", 0.1,
            "--shards", 3, "--val-fraction", 0.2)
    assert r.exit_code == 0, r.output
    assert r.output.count("wrote ") == 3 and "MiB" in r.output
    parts = [read_pack(tmp_path / f"pool-{k}.npz") for k in range(3)]
    assert all((tmp_path / f"pool-{k}.npz").stat().st_size <= 0.1 * 2 ** 20 for k in range(3))
    tr, _ = split(list_images([d]), 0.2)
    pool = build_pool(tr, 48, 0)
    order = np.random.default_rng(0).permutation(len(pool))
    got = np.concatenate([p[0] for p in parts])
    assert np.array_equal(got, pool[order[:len(got)]])
    assert all(np.array_equal(p[1], parts[0][1]) for p in parts)
    again = cli("train", "pack", "--data", d, "--out", out, "--shards", 3)
    assert again.exit_code != 0 and "exists" in again.output
