"""Encode time of the coefficient search under two settings, compared in one run on one machine.

Each image is coded at each quality with the default table set, then searched once per setting
(codec.encoder.coefsearch.refine, default rounds, the default model) in alternating order, so that a
machine getting slower or faster during the run weighs on both alike. Reports seconds and
searched bytes per file and setting, and the mean time of each setting relative to the first.

    .venv/bin/python -m bench.search_speed --images ../shared/data/kodak \
        --pick kodim01,kodim05,kodim13,kodim23 -> bench/results/search-speed.json
    .venv/bin/python -m bench.search_speed --pair bfloat16 --pick kodim05,kodim23 \
        --qualities 10,40 --out bench/results/search-speed-bf16.json
    .venv/bin/python -m bench.search_speed --pair bfloat16 --level 2 --pick kodim05,kodim23 \
        --qualities 10,40 --out bench/results/search-speed-bf16-level2.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from codec.encoder import effort
from codec.encoder.coefsearch import SearchSettings, refine, search_id
from codec.format.jpeg import encode_jpeg
from codec.format.tables import DEFAULT_TABLES, get_table_set
from codec.registry import DEFAULT_MODEL, load_model

root = Path(__file__).resolve().parents[1]

#: The pairs of settings this compares (--pair): cs1 (the proxy bit cost, lam 1) against the
#: current default, and the default against the same search with the network in bfloat16.
PAIRS = {
    "cs1": {"cs1": SearchSettings(lam=1.0, rate="proxy"), "default": SearchSettings()},
    "bfloat16": {"default": SearchSettings(), "bfloat16": SearchSettings(precision="bfloat16")},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, default=root.parent / "shared/data/kodak")
    ap.add_argument("--pick", default="kodim01,kodim05,kodim13,kodim23",
                    help="comma-separated image names without extension ('' = all)")
    ap.add_argument("--qualities", default="10,40,80")
    ap.add_argument("--pair", choices=sorted(PAIRS), default="cs1",
                    help="which two settings to compare (the first is the reference)")
    ap.add_argument("--level", type=int, choices=[lv.number for lv in effort.LEVELS if lv.rounds],
                    help="both settings with this effort level's rounds and first-round share "
                         "(default: the pair's own, level 3's)")
    ap.add_argument("--out", type=Path, default=root / "bench/results/search-speed.json")
    a = ap.parse_args()
    settings = PAIRS[a.pair]
    if a.level is not None:
        lv = effort.level(a.level)
        settings = {n: replace(s, rounds=lv.rounds, share=lv.share) for n, s in settings.items()}
    pick = [s for s in a.pick.split(",") if s]
    files = sorted(p for p in a.images.iterdir() if p.suffix.lower() == ".png"
                   and (not pick or p.stem in pick))
    if not files:
        sys.exit(f"no matching PNG images in {a.images}")
    qs = [int(q) for q in a.qualities.split(",")]
    model = load_model(DEFAULT_MODEL).eval()
    ts = get_table_set(DEFAULT_TABLES)
    names = list(settings)
    rows = []
    for i, p in enumerate(files):
        rgb = np.asarray(Image.open(p).convert("RGB"))
        for j, q in enumerate(qs):
            data = encode_jpeg(Image.fromarray(rgb), q, ts.subsampling_for(q), qtables=ts.qtables(q))
            order = names if (i + j) % 2 == 0 else names[::-1]
            for name in order:
                t0 = time.perf_counter()
                out = refine(data, rgb, model, q, settings[name])
                dt = time.perf_counter() - t0
                rows.append({"image": p.name, "quality": q, "setting": name, "seconds": dt,
                             "bytes_in": len(data), "bytes_out": len(out)})
                print(f"{p.name} q{q} {name}: {dt:.1f} s, {len(data)} -> {len(out)} bytes",
                      flush=True)
    mean = {n: float(np.mean([r["seconds"] for r in rows if r["setting"] == n])) for n in names}
    ratio = "ratio_to_" + names[0]
    summary = {"mean_seconds": mean, ratio: {n: mean[n] / mean[names[0]] for n in names},
               "default_search": search_id(), "settings": {n: vars(s) for n, s in settings.items()},
               "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
               "command": "python -m bench.search_speed " + " ".join(sys.argv[1:]), "rows": rows}
    a.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: summary[k] for k in ("mean_seconds", ratio)}))


if __name__ == "__main__":
    main()
