"""Search JPEG quantization tables (and subsampling per quality) for a restoring decoder.

Scores a table set by the BD-rate of the *restored* output against standard tables under
the same network, on held-out crops of the training pool (the files `train regen` keeps aside
for validation; never Kodak). Coordinate search over the family in codec/format/tables.py, then a
per-quality choice of subsampling, then the plain-viewer check (a plain decode at equal bytes
must stay within 1 dB PSNR of standard tables). Writes <out>/search.{json,md}.

A comrec model (`--model comrec-r7`) is searched the same way on its own route: its ComCNN
makes the compact images that are coded, its RecCNN restores their bicubic 2x upscale, at
comrec's lower qualities; the plain decode is then that bicubic upscale.

    .venv/bin/python -m bench.tune_tables [--model regen-fast] [--crops 48]   -> results/tables/
    .venv/bin/python -m bench.tune_tables --model comrec-r7 --name comrec-v1 \
        --out bench/results/tables-comrec
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from bench.tuning import (
    COMREC_QUALITIES,
    QUALITIES,
    SUBS,
    best_subsampling,
    evaluate,
    load_crops,
    root,
    rule_to_ranges,
    score,
)
from codec.format.tables import STANDARD, TABLE_SETS, TableSet
from codec.registry import find_model, load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="regen-fast")
    ap.add_argument("--name", default="regen-v1", help="name of the set found")
    ap.add_argument("--crops", type=int, default=48)
    ap.add_argument("--shared", type=Path, default=root.parent / "shared")
    ap.add_argument("--out", type=Path, default=root / "bench/results/tables")
    ap.add_argument("--shrink", action="store_true",
                    help="score the files as `encode` writes them (codec/format/shrink.py), not as Pillow does")
    ap.add_argument("--consistency", action="store_true",
                    help="score the output after decode's consistency step, as `decode` makes it")
    ap.add_argument("--start", choices=[n for n in TABLE_SETS if n != STANDARD.name],
                    help="refine a shipped set: start from it and search steps of 0.1 and 0.2 "
                         "around it (default: search from standard tables in steps of 0.5)")
    a = ap.parse_args()
    t0 = time.time()
    model = load_model(a.model)
    com = load_model(f"{a.model}-com") if find_model(a.model).mode == "comrec" else None
    qualities = COMREC_QUALITIES if com is not None else QUALITIES
    crops = load_crops(a.shared, a.crops)
    print(f"{len(crops)} held-out crops of 176x176, qualities {qualities}", flush=True)

    post = None
    if a.shrink:
        from codec.format.shrink import shrink

        post = lambda data, q: shrink(data)  # noqa: E731

    def curve(ts: TableSet, sub: str | None = None) -> dict:
        return evaluate(model, crops, ts, sub=sub, com=com, qualities=qualities, post=post,
                        consistency=a.consistency)

    anchor = curve(STANDARD)
    log = [{"set": asdict(STANDARD), **score(anchor, anchor)}]

    def try_set(ts: TableSet) -> dict:
        r = {"set": asdict(ts), **score(anchor, curve(ts))}
        log.append(r)
        print(f"  tilt {ts.luma_tilt:+.2f}/{ts.chroma_tilt:+.2f} chroma gain {ts.chroma_gain:.2f}"
              f" {ts.subsampling}: MS-SSIM {r['bd_msssim_db']:+.2f}% PSNR {r['bd_psnr']:+.2f}%"
              f" plain {r['plain_bd_psnr_db']:+.2f} dB", flush=True)
        return r

    shipped = {name: try_set(ts) for name, ts in TABLE_SETS.items() if name != STANDARD.name}
    grids = {"luma_tilt": [-1.0, -0.5, 0.5, 1.0], "chroma_gain": [0.7, 1.4, 2.0],
             "chroma_tilt": [-1.0, -0.5, 0.5, 1.0]}
    best = TableSet("search", subsampling=STANDARD.subsampling)
    steps = (-0.25, 0.25)
    if a.start:  # refine around a shipped set, keeping its subsampling rule while searching
        best = replace(TABLE_SETS[a.start], name="search")
        steps = (-0.1, 0.1)
        grids = {k: sorted({round(getattr(best, k) + d, 2) for d in (-0.2, 0.2)})
                 for k in grids}
    best_r = try_set(best)
    for rnd in range(2):
        for name, grid in grids.items():
            for v in grid:
                if rnd and v == getattr(best, name):
                    continue
                ts = replace(best, **{name: v})
                r = try_set(ts)
                if r["objective"] < best_r["objective"] - (0.05 if a.start else 0.1):
                    best, best_r = ts, r
            print(f"round {rnd + 1}, after {name}: {best}", flush=True)
        grids = {k: sorted({round(getattr(best, k) + d, 2) for d in steps}) for k in grids}

    curves = {s: curve(best, sub=s) for s in SUBS}
    rule = rule_to_ranges(best_subsampling(curves, qualities))
    final = replace(best, name=a.name, subsampling=rule)
    final_r = try_set(final)
    subs_only = try_set(replace(STANDARD, name="subsampling-only", subsampling=rule))
    result = {"model": a.model, "crops": len(crops), "qualities": qualities, "anchor": anchor,
              "tables_only": best_r, "subsampling_only": subs_only, "final": final_r,
              "shipped_sets": shipped, "subsampling_curves": curves, "log": log,
              "seconds": round(time.time() - t0)}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "search.json").write_text(json.dumps(result, indent=1))
    md = [f"# Table search for {a.model}", "",
          f"{len(crops)} held-out 176x176 crops of the training pool (not Kodak), qualities "
          f"{qualities}. BD-rate of the restored output against standard tables (4:2:0) "
          "under the same network; plain = PSNR change of a plain decode at equal bytes.", "",
          "| step | set | BD MS-SSIM dB | BD PSNR | plain decode |", "|---|---|---|---|---|"]
    rows = [("tables only", best_r), ("subsampling only", subs_only), ("both", final_r)]
    for label, r in rows + [(f"shipped {n}", r) for n, r in shipped.items()]:
        s = r["set"]
        md.append(f"| {label} | tilt {s['luma_tilt']:+.2f} / {s['chroma_tilt']:+.2f}, chroma gain "
                  f"{s['chroma_gain']:.2f}, {s['subsampling']} | {r['bd_msssim_db']:+.2f}% | "
                  f"{r['bd_psnr']:+.2f}% | {r['plain_bd_psnr_db']:+.2f} dB |")
    md += ["", f"{len(log)} sets tried in {result['seconds']} s; every score is in search.json.",
           "Reproduce: `.venv/bin/python -m bench.tune_tables " + " ".join(sys.argv[1:]) + "`"]
    (a.out / "search.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
