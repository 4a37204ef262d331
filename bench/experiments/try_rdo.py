"""Does coefficient pruning pay after regeneration? (the mozjpeg-trellis idea, much simplified)

Zeroes the AC coefficients of magnitude 1 at zigzag positions >= K (their bits buy little in a
plain decode, and the network may restore what they carried), rewrites the file with
jpeglib (libjpeg, Huffman-optimized), and scores it like bench/tune_tables.py: BD-rate of the
regenerated output against the unpruned file under the same network, on held-out crops of the
training pool (never Kodak), plus the plain decode's PSNR change at equal bytes.

    .venv/bin/pip install jpeglib && .venv/bin/python -m bench.experiments.try_rdo [--tables SET]
    -> bench/results/tables/rdo.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.tuning import evaluate, load_crops, root, score
from codec.format.tables import get_table_set
from codec.registry import load_model


def _zigzag() -> np.ndarray:
    idx = sorted(((u, v) for u in range(8) for v in range(8)),
                 key=lambda p: (p[0] + p[1], p[0] if (p[0] + p[1]) % 2 else p[1]))
    z = np.zeros((8, 8), int)
    for k, (u, v) in enumerate(idx):
        z[u, v] = k
    return z


ZZ = _zigzag()


def pruner(k0: int, chroma: bool = True):
    import jpeglib

    mask = ZZ >= k0

    def post(data: bytes, q: int) -> bytes:
        with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
            src, dst = Path(d) / "a.jpg", Path(d) / "b.jpg"
            src.write_bytes(data)
            j = jpeglib.read_dct(str(src))
            planes = [j.Y] + ([j.Cb, j.Cr] if chroma and j.Cb is not None else [])
            for p in planes:
                p[(np.abs(p) == 1) & mask] = 0
            j.write_dct(str(dst), flags=["+OPTIMIZE_CODING"])
            return dst.read_bytes()
    return post


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="regen-fast")
    ap.add_argument("--tables", default="standard")
    ap.add_argument("--crops", type=int, default=48)
    ap.add_argument("--shared", type=Path, default=root.parent / "shared")
    ap.add_argument("--out", type=Path, default=root / "bench/results/tables")
    a = ap.parse_args()
    model = load_model(a.model)
    crops = load_crops(a.shared, a.crops)
    ts = get_table_set(a.tables)
    anchor = evaluate(model, crops, ts, post=pruner(64))  # rewritten by jpeglib, nothing pruned
    rows = []
    for k0 in (40, 28, 16, 6):
        r = {"zigzag_from": k0, **score(anchor, evaluate(model, crops, ts, post=pruner(k0)))}
        rows.append(r)
        print(json.dumps(r), flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "rdo.json").write_text(json.dumps({
        "model": a.model, "tables": a.tables, "crops": len(crops), "rows": rows,
        "reproduce": f".venv/bin/python -m bench.experiments.try_rdo --tables {a.tables}"}, indent=1) + "\n")


if __name__ == "__main__":
    main()
