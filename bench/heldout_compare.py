"""Compare regeneration models on held-out crops of the training pool (never Kodak).

Each model runs on files coded with each table set; every curve is scored by BD-rate against the
plain decode of standard-table JPEG at the same qualities (the Kodak baseline's recipe, on the
crops `train regen` keeps aside). Used to decide which model is the default before Kodak is
measured, so the choice is not tuned on the benchmark.

    .venv/bin/python -m bench.heldout_compare --models regen-fast,regen-fast-tuned \
        --tables standard,regen-v1 [--consistency]  -> bench/results/tables/heldout-compare.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bench.tuning import QUALITIES, evaluate, load_crops, plain_curve, root, score
from codec.format.tables import STANDARD, get_table_set
from codec.registry import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="regen-fast")
    ap.add_argument("--tables", default="standard,regen-v1")
    ap.add_argument("--crops", type=int, default=48)
    ap.add_argument("--shared", type=Path, default=root.parent / "shared")
    ap.add_argument("--out", type=Path, default=root / "bench/results/tables/heldout-compare.json")
    ap.add_argument("--consistency", action="store_true",
                    help="restored outputs go through decode's consistency step (codec/decoder/consistency.py)")
    args = ap.parse_args()
    crops = load_crops(args.shared, args.crops)
    models = args.models.split(",")
    sets = [get_table_set(t) for t in args.tables.split(",")]
    nets = {mid: load_model(mid) for mid in models}
    curves = {(mid, ts.name): evaluate(nets[mid], crops, ts, consistency=args.consistency)
              for mid in models for ts in sets}
    # the anchor: plain decodes of standard-table files (the same under every model)
    base = curves.get((models[0], STANDARD.name)) or evaluate(nets[models[0]], crops, STANDARD)
    plain = plain_curve(base)
    rows = []
    for mid in models:
        for ts in sets:
            curve = curves[(mid, ts.name)]
            s = score(plain, curve)
            rows.append({"model": mid, "tables": ts.name,
                         "bd_msssim_db_vs_plain_jpeg": s["bd_msssim_db"],
                         "bd_psnr_vs_plain_jpeg": s["bd_psnr"], "curve": curve})
            print(f"{mid:>20} @ {ts.name:<10} BD-rate vs plain JPEG: MS-SSIM dB "
                  f"{s['bd_msssim_db']:+.1f}%  PSNR {s['bd_psnr']:+.1f}%")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "reproduce": f".venv/bin/python -m bench.heldout_compare --models {args.models} "
                     f"--tables {args.tables} --crops {args.crops}"
                     + (" --consistency" if args.consistency else "")
                     + f" --out {os.path.relpath(args.out, root)}",
        "crops": len(crops), "crop_px": crops[0].shape[:2], "qualities": QUALITIES,
        "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
