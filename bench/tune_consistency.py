"""How much does the DCT consistency step (codec/decoder/consistency.py) pay, and how narrow should its
intervals be?

Encodes held-out crops of the training pool (the files `train regen` keeps aside; never Kodak)
with the default table set, restores them with the default model, and scores the restored
output with and without the projection, for each rule "keep min(1, A * step**B) of each
quantization interval": BD-rate (MS-SSIM dB, PSNR) against the unprojected output, and the gain
per quality setting. Picks codec.decoder.consistency's FRACTION_A, FRACTION_B.

    .venv/bin/python -m bench.tune_consistency   -> bench/results/consistency.json
"""

from __future__ import annotations

import json
import time

import numpy as np

import codec.decoder.consistency as C
from bench.tuning import QUALITIES, code_and_restore, crop_args, load_crops, mean_quality, score
from codec.format.tables import get_table_set
from codec.registry import load_model

RULES = [(a, b) for b in (0.0, 0.1, 0.2, 0.3, 0.4) for a in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)]


def parse_rules(text: str) -> list[tuple[float, float]]:
    """"0.2:0.4,0.15:0.5" -> [(0.2, 0.4), (0.15, 0.5)]"""
    return [tuple(float(v) for v in r.split(":")) for r in text.split(",")]


def main() -> None:
    ap = crop_args(__doc__, "results/consistency.json")
    ap.add_argument("--rules", type=parse_rules, default=RULES,
                    help="A:B pairs to score, comma-separated (default: the committed grid)")
    a = ap.parse_args()
    t0 = time.time()
    model = load_model(a.model)
    ts = get_table_set(a.tables)
    crops = load_crops(a.shared, a.crops)
    px = crops[0].shape[0] * crops[0].shape[1]
    shipped = (C.FRACTION_A, C.FRACTION_B)
    names = ["raw"] + [f"A={fa} B={fb}" for fa, fb in a.rules]
    curves = {n: {"bpp": [], "psnr-rgb": [], "ms-ssim-db": []} for n in names}
    for q in QUALITIES:
        files, _, raw = code_and_restore(model, crops, ts, q)
        coefs = [C.read_coefficients(d) for d in files]
        outs = {"raw": raw}
        for fa, fb in a.rules:
            C.FRACTION_A, C.FRACTION_B = fa, fb
            outs[f"A={fa} B={fb}"] = [C.project(r, c) for r, c in zip(raw, coefs)]
        C.FRACTION_A, C.FRACTION_B = shipped
        bpp = float(np.mean([len(d) for d in files])) * 8 / px
        for n, o in outs.items():
            p, m = mean_quality(crops, o)
            curves[n]["bpp"].append(bpp)
            curves[n]["psnr-rgb"].append(p)
            curves[n]["ms-ssim-db"].append(m)
        print(f"q{q}: {bpp:.3f} bpp ({time.time() - t0:.0f} s)", flush=True)
    results = {}
    for n in names[1:]:
        s = score(curves["raw"], curves[n])
        s.pop("plain_bd_psnr_db", None)
        s["gain_psnr_db"] = [round(b - r, 4) for b, r in zip(curves[n]["psnr-rgb"], curves["raw"]["psnr-rgb"])]
        s["gain_msssim_db"] = [round(b - r, 4) for b, r in zip(curves[n]["ms-ssim-db"], curves["raw"]["ms-ssim-db"])]
        results[n] = s
        print(f"{n}: MS-SSIM {s['bd_msssim_db']:+.2f}%  PSNR {s['bd_psnr']:+.2f}%", flush=True)
    best = min(results, key=lambda n: results[n]["objective"])
    out = {"model": a.model, "tables": a.tables, "crops": len(crops), "crop_size": list(crops[0].shape[:2]),
           "qualities": QUALITIES, "shipped": f"A={shipped[0]} B={shipped[1]}", "best": best,
           "note": "BD-rates (%) of the projected output against the unprojected one, same files",
           "results": results, "curves": curves, "seconds": round(time.time() - t0)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"best {best}; wrote {a.out}")


if __name__ == "__main__":
    main()
