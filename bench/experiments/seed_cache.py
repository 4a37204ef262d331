"""Re-seed a benchmark's per-image cache from its committed results.csv.

The cache (`<results>/cache/*.jsonl`) is git-ignored, so a fresh clone re-measures every
method. Quality and size figures are deterministic for the same code and weights, so the rows
of unchanged methods can be taken back from results.csv; only new methods are then measured.
Their timing columns stay those of the run that measured them (reports should say so).

    .venv/bin/python -m bench.experiments.seed_cache bench/results/kodak --images ../shared/data/kodak \
        --methods jpeg,webp,regen-fast

Each row gets the content hash of its image in --images (the cache's key with the file name).
`NEW=OLD` in --methods seeds method NEW from OLD's rows, for a method that makes the same files
under another name (`auto-e3-float32=auto-e3`: level 3's rows measured before the search ran in
bfloat16 on CPUs that have it); --csv reads another results.csv (e.g. one `git show` wrote).

    git show HEAD:bench/results/kodak/results.csv > /tmp/kodak-results.csv
    .venv/bin/python -m bench.experiments.seed_cache bench/results/kodak --images ../shared/data/kodak \
        --csv /tmp/kodak-results.csv --methods auto-e3-float32=auto-e3,auto+jxl-e3-float32=auto+jxl-e3
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from codec.bench.measure import _file_sha, available_methods

INT_FIELDS = {"quality", "bytes"}


def seed(results: Path, methods: list[str], images: Path, csv_path: Path | None = None) -> dict[str, int]:
    """Write cache/<method key>.jsonl for each named method (never over an existing cache);
    `NEW=OLD` takes OLD's rows for NEW. Rows come from `csv_path` (default: results.csv)."""
    avail = available_methods()
    source = dict(m.split("=", 1) if "=" in m else (m, m) for m in methods)
    wanted = {old: new for new, old in source.items()}
    rows: dict[str, list[dict]] = {}
    with open(csv_path or results / "results.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["method"] in wanted:
                row = {k: (int(v) if k in INT_FIELDS else v if k in ("method", "image", "run")
                           else float(v))
                       for k, v in r.items() if v != ""}
                rows.setdefault(wanted[r["method"]], []).append(
                    {**row, "method": wanted[r["method"]],
                     "image_sha256": _file_sha(Path(images) / r["image"])})
    done = {}
    (results / "cache").mkdir(exist_ok=True)
    for name in source:
        if name not in avail:
            raise SystemExit(f"{name}: not a method of this installation")
        if name not in rows:
            raise SystemExit(f"{name}: no rows of {source[name]} in {csv_path or results / 'results.csv'}")
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
    ap.add_argument("--csv", type=Path, default=None,
                    help="read the rows from this results.csv [default: the folder's]")
    a = ap.parse_args()
    seed(a.results, a.methods.split(","), a.images, a.csv)
