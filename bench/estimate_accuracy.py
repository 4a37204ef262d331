"""How good is `estimate`? Its 50-file sample against converting every file of a folder.

For each folder: the estimate from a seeded 50-file sample (with its 95% interval) and the
true saving from converting all files (the same search, on every file), same target.
Run: .venv/bin/python -m bench.estimate_accuracy [--target-msssim X] FOLDER ...
     -> bench/results/estimate-accuracy.json
"""

import argparse
import json
from pathlib import Path

from codec.batch.estimate import estimate
from codec.encoder.target import Target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--match-jpeg-quality", type=int, default=75)
    ap.add_argument("--target-msssim", type=float, default=None)
    ap.add_argument("--sample", type=int, default=50)
    args = ap.parse_args()
    target = Target(msssim=args.target_msssim) if args.target_msssim else None
    q = None if target else args.match_jpeg_quality
    rows = []
    for folder in args.folders:
        est = estimate([folder], target, q, sample=args.sample, seed=0)
        full = estimate([folder], target, q, sample=10**9, seed=0)
        lo, hi = est.saving_ci95
        rows.append({"folder": folder, "files": full.files_in_tree, "target": est.target,
                     "estimate_pct": round(float(est.saving_pct), 2),
                     "ci95": [round(float(lo), 2), round(float(hi), 2)],
                     "true_pct": round(float(full.saving_pct), 2),
                     "error_pct_points": round(float(est.saving_pct - full.saving_pct), 2),
                     "true_within_ci": bool(lo <= full.saving_pct <= hi)})
        print(json.dumps(rows[-1]))
        out = Path(__file__).parent / "results" / "estimate-accuracy.json"
        out.parent.mkdir(parents=True, exist_ok=True)  # written after each folder
        out.write_text(json.dumps({"reproduce": "bench/estimate_accuracy.py " + " ".join(args.folders),
                                   "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
