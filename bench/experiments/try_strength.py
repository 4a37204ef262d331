"""Does an encoder-chosen restoration strength pay? (issue 7)

The encoder has the source, so it can run the decoder and fit, per image, how much of the
network's correction to keep: out = plain + a * (restored - plain), `a` by least squares against
the source, quantized to 1/16 or 1/64 and kept in [0, 1] (a blend of two consistent pictures stays
consistent). Variants: one `a` for all channels (as codec.decoder.strength ships it, and without its
check of the ends), one per RGB or Y/Cb/Cr channel, and ranges up to 1.5. The `a` values travel
in the file (a byte each, counted in the rate). Scored like bench/experiments/try_ensemble.py on
held-out crops of the training pool (never Kodak): BD-rate against plain standard-table JPEG.

    .venv/bin/python -m bench.experiments.try_strength   -> bench/results/strength.json
"""

from __future__ import annotations

import json

import numpy as np

from bench.tuning import QUALITIES, code_and_restore, crop_args, evaluate, load_crops, mean_quality, plain_curve, score
from codec.decoder import strength
from codec.decoder.consistency import make_consistent
from codec.format.tables import STANDARD, get_table_set
from codec.registry import load_model

STEPS = 16

_M = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def fit(plain: np.ndarray, restored: np.ndarray, src: np.ndarray, space: str, hi: float) -> np.ndarray:
    """The decode with a per-image (space='one'), per-RGB or per-YCbCr-channel strength fitted
    to `src` (least squares, no end-point check); space='shipped': codec.decoder.strength's fit."""
    if space == "shipped":
        return strength.apply(plain, restored, strength.fit(plain, restored, src))
    p, r, s = (a.astype(np.float64) for a in (plain, restored, src))
    d, e = r - p, s - p
    if space == "ycc":
        d, e = d @ _M.T, e @ _M.T
    axes = (0, 1, 2) if space == "one" else (0, 1)
    a = (d * e).sum(axis=axes) / np.maximum((d * d).sum(axis=axes), 1e-9)
    a = np.clip(np.round(a * STEPS) / STEPS, 0, hi)
    if space == "ycc":
        d = (d * a) @ np.linalg.inv(_M).T
        return np.clip(np.round(p + d), 0, 255).astype(np.uint8)
    return np.clip(np.round(p + d * a), 0, 255).astype(np.uint8)


def main() -> None:
    ap = crop_args(__doc__, "results/strength.json")
    args = ap.parse_args()
    crops = load_crops(args.shared, args.crops)
    net = load_model(args.model)
    plain = plain_curve(evaluate(net, crops, STANDARD))
    ts = get_table_set(args.tables)
    px = crops[0].shape[0] * crops[0].shape[1]
    variants = {"a=1": None, "shipped": ("shipped", 1.0, 1), "one [0,1]": ("one", 1.0, 1), "rgb [0,1]": ("rgb", 1.0, 3),
                "ycc [0,1]": ("ycc", 1.0, 3), "one [0,1.5]": ("one", 1.5, 1),
                "ycc [0,1.5]": ("ycc", 1.5, 3)}
    curves = {k: {"bpp": [], "psnr-rgb": [], "ms-ssim-db": []} for k in variants}
    for q in QUALITIES:
        files, dec, reg = code_and_restore(net, crops, ts, q)
        reg = [make_consistent(r, f) for r, f in zip(reg, files)]
        bpp = float(np.mean([len(f) for f in files])) * 8 / px
        for name, v in variants.items():
            outs = reg if v is None else [fit(d, r, c, v[0], v[1]) for d, r, c in zip(dec, reg, crops)]
            side = 0 if v is None else v[2]
            p, m = mean_quality(crops, outs)
            curves[name]["bpp"].append(bpp + side * 8 / px)
            curves[name]["psnr-rgb"].append(p)
            curves[name]["ms-ssim-db"].append(m)
        print(f"q{q}: " + "  ".join(f"{k} {c['psnr-rgb'][-1]:.3f}/{c['ms-ssim-db'][-1]:.3f}"
                                    for k, c in curves.items()), flush=True)
    rows = []
    for name, c in curves.items():
        s = score(plain, c)
        rows.append({"variant": name, "bd_msssim_db_vs_plain_jpeg": s["bd_msssim_db"],
                     "bd_psnr_vs_plain_jpeg": s["bd_psnr"], "curve": c})
        print(f"{name}: MS-SSIM dB {s['bd_msssim_db']:+.2f}%  PSNR {s['bd_psnr']:+.2f}%", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "reproduce": f".venv/bin/python -m bench.experiments.try_strength --model {args.model} --tables "
                     f"{args.tables} --crops {args.crops}",
        "model": args.model, "tables": args.tables, "crops": len(crops), "steps": STEPS,
        "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
