"""Decode speed of regeneration models, compared in one run on the same files and machine.

Each Kodak image is encoded once (regen mode, default tables) and decoded by each model in
turn (`decode(..., model=ID)`, CPU, the consistency step included), after one warm-up decode;
reports megapixels per second per model and each model's time relative to the first.

    .venv/bin/python -m bench.decode_speed --models regen-fast-proj,regen-coarse
        -> bench/results/decode-speed.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import codec

root = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="regen-fast-proj,regen-coarse")
    ap.add_argument("--images", type=Path, default=root.parent / "shared/data/kodak")
    ap.add_argument("--quality", type=int, default=50)
    ap.add_argument("--out", type=Path, default=root / "bench/results/decode-speed.json")
    a = ap.parse_args()
    models = a.models.split(",")
    files = sorted(p for p in a.images.iterdir() if p.suffix.lower() == ".png")
    if not files:
        sys.exit(f"no PNG images in {a.images}")
    images = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    data = [codec.encode(img, a.quality, mode="regen") for img in images]
    mpx = sum(img.shape[0] * img.shape[1] for img in images) / 1e6
    times = {}
    for m in models:
        codec.decode(data[0], device="cpu", model=m)  # warm-up: load the weights
        t0 = time.perf_counter()
        for d in data:
            codec.decode(d, device="cpu", model=m)
        times[m] = time.perf_counter() - t0
    first = models[0]
    res = {"images": len(files), "megapixels": round(mpx, 3), "quality": a.quality,
           "threads": torch.get_num_threads(), "machine": platform.machine(),
           "models": {m: {"seconds": round(t, 2), "mpx_per_s": round(mpx / t, 3),
                          f"time_vs_{first}": round(t / times[first], 3)} for m, t in times.items()},
           "reproduce": f".venv/bin/python -m bench.decode_speed --models {a.models}"}
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    for m, r in res["models"].items():
        print(f"{m}: {r['mpx_per_s']:.2f} MP/s ({r[f'time_vs_{first}']:.2f}x the time of {first})")


if __name__ == "__main__":
    main()
