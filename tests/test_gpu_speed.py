"""bench/gpu_speed.py's reduced CPU form: the GPU measurement script runs end to end here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a new process encodes and decodes small pictures: about a minute on 2 cores
def test_gpu_speed_smoke_writes_every_section(tmp_path):
    out = tmp_path / "gpu-speed.json"
    env = {**os.environ, "OUT": str(tmp_path / "device-out"), "PYTHONPATH": str(ROOT)}
    (tmp_path / "device-out").mkdir()
    subprocess.run([sys.executable, str(ROOT / "bench/gpu_speed.py"), "--smoke", "--device", "cpu",
                    "--budget", "3000", "--out", str(out)], check=True, env=env, cwd=ROOT,
                   capture_output=True, text=True)
    res = json.loads(out.read_text())
    assert json.loads((tmp_path / "device-out" / "gpu-speed.json").read_text()) == res
    assert res["smoke"] and res["device"] == "cpu" and not res["skipped_for_time"]
    assert res["decode_kodak_size"]["mpx_per_s"] > 0 and res["decode_large"]["mpx_per_s"] > 0
    same = res["cpu_vs_device"]["large"]  # the CPU against itself: identical
    assert same["pixels_differing"] == 0 and same["pixels"] == 256 * 192
    half = res["half_precision"]["by_quality"]["40"]
    assert half["psnr_half"] > 20 and half["difference"][0]["pixels"] == 128 * 96
    assert sum(d["values_differing"] for d in half["difference"]) > 0  # bfloat16 did run
    assert set(res["encode_kodak_size"]) == {"effort0_q40", "effort1_q40"}
    assert set(res["encode_large"]) == {"effort0_q40", "effort1_q40"}
    both = res["search_precision"]["effort1_q40"]  # the slowest level, in both arithmetics
    assert set(both) == {"float32", "bfloat16"}
    assert all(r["mpx_per_s"] > 0 and r["psnr"] > 20 and r["msssim_db"] > 5 for r in both.values())
