"""bench/encode_speed.py end to end on two small pictures: every codec and level gets rows and a
ratio to AVIF, and --float32-too times the search in float32 beside bfloat16."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image, features


@pytest.mark.skipif(not features.check("avif"), reason="Pillow without AVIF")
def test_encode_speed_times_each_level_and_precision(tmp_path, photo, monkeypatch):
    from bench import encode_speed

    paths = []
    for i, crop in enumerate((photo, np.ascontiguousarray(photo[:64, :96]))):
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(crop).save(paths[-1])
    out = tmp_path / "speed.json"
    from codec.encoder import maker

    seen, real = [], maker.refine
    monkeypatch.setattr(maker, "refine", lambda *a, **k: seen.append(a[4].precision) or real(*a, **k))
    monkeypatch.setenv("REGEN_CODEC_SEARCH_PRECISION", "bfloat16")  # as on a CPU that has it
    monkeypatch.setattr(sys, "argv", ["encode_speed", *map(str, paths), "--qualities", "25",
                                      "--efforts", "0,1", "--float32-too", "--out", str(out)])
    encode_speed.main()
    res = json.loads(out.read_text())
    assert "bfloat16" in res["machine"] and "--float32-too" in res["command"]
    assert {"avif", "regen-codec-e0", "regen-codec-e1", "regen-codec-e1-float32"} <= set(res["summary"])
    assert "regen-codec-e0-float32" not in res["summary"]  # no search, nothing to compare
    assert len(res["rows"]) == 2 * len(res["summary"])
    assert {"bfloat16", "float32"} <= set(seen)  # each method searched in its arithmetic
    assert res["summary"]["avif"]["encode_time_vs_avif"] == 1.0
    assert all(s["encode_mpx_s"] > 0 and s["decode_mpx_s"] > 0 for s in res["summary"].values())
