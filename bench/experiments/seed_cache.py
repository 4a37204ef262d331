"""Re-seed a benchmark's per-image cache from its committed results.csv.

The cache (`<results>/cache/*.jsonl`) is git-ignored, so a fresh clone re-measures every
method. Quality and size figures are deterministic for the same code and weights, so the rows
of unchanged methods can be taken back from results.csv; only new methods are then measured.
Their timing columns stay those of the run that measured them (reports should say so).

    .venv/bin/python -m bench.experiments.seed_cache bench/results/kodak --images ../shared/data/kodak \
        --methods jpeg,webp,regen-fast

Each row gets the content hash of its image in --images (the cache's key with the file name).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from codec.bench.measure import _file_sha, available_methods

INT_FIELDS = {"quality", "bytes"}


def seed(results: Path, methods: list[str], images: Path) -> dict[str, int]:
    """Write cache/<method key>.jsonl for each named method (never over an existing cache)."""
    avail = available_methods()
    rows: dict[str, list[dict]] = {}
    with open(results / "results.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["method"] in methods:
                row = {k: (int(v) if k in INT_FIELDS else v if k in ("method", "image", "run")
                           else float(v))
                       for k, v in r.items() if v != ""}
                rows.setdefault(r["method"], []).append(
                    {**row, "image_sha256": _file_sha(Path(images) / r["image"])})
    done = {}
    (results / "cache").mkdir(exist_ok=True)
    for name in methods:
        if name not in avail:
            raise SystemExit(f"{name}: not a method of this installation")
        if name not in rows:
            raise SystemExit(f"{name}: no rows in {results / 'results.csv'}")
        out = results / "cache" / f"{avail[name].cache_key}.jsonl"
        if out.exists():
            print(f"{out}: exists, left as it is")
            continue
        out.write_text("".join(json.dumps(r) + "\n" for r in rows[name]))
        done[name] = len(rows[name])
        print(f"{out}: {len(rows[name])} rows")
    return done


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="a results folder holding results.csv")
    ap.add_argument("--methods", required=True,
                    help="comma-separated methods whose code and weights are unchanged since")
    ap.add_argument("--images", type=Path, required=True,
                    help="the image folder the results were measured on")
    a = ap.parse_args()
    seed(a.results, a.methods.split(","), a.images)
