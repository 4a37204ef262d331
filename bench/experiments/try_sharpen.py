"""Does a decode-side unsharp mask trade PSNR for MS-SSIM well? (issue 7 misses MS-SSIM, meets PSNR)

out' = out + k (out - gauss_sigma(out)) on the restored picture, before decode's consistency step
(codec/decoder/consistency.py), so the result stays consistent with the file. Scored on held-out crops
of the training pool (never Kodak), files as `encode` writes them, BD-rate against the plain
decode of standard-table JPEG, as bench/heldout_compare.py scores models.

    .venv/bin/python -m bench.experiments.try_sharpen --k 0.1 --k 0.2 --sigma 1 --sigma 2.5  -> results/sharpen.json
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from bench.tuning import QUALITIES, code_and_restore, crop_args, load_crops, mean_quality, save_rows, score
from codec.decoder.consistency import make_consistent
from codec.format.shrink import shrink
from codec.format.tables import STANDARD, get_table_set
from codec.registry import load_model


def sharpen(img: np.ndarray, k: float, sigma: float) -> np.ndarray:
    f = img.astype(np.float32)
    out = f + k * (f - gaussian_filter(f, (sigma, sigma, 0)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def main() -> None:
    ap = crop_args(__doc__, "results/sharpen.json")
    ap.add_argument("--k", type=float, action="append", required=True)
    ap.add_argument("--sigma", type=float, action="append", required=True)
    a = ap.parse_args()
    model = load_model(a.model)
    crops = load_crops(a.shared, a.crops)
    px = crops[0].shape[0] * crops[0].shape[1]
    post = lambda data, q: shrink(data)  # noqa: E731
    variants = [(0.0, 0.0)] + [(k, s) for k in a.k for s in a.sigma]
    curves = {v: {"bpp": [], "psnr-rgb": [], "ms-ssim-db": []} for v in variants}
    plain = {"bpp": [], "psnr-rgb": [], "ms-ssim-db": []}
    for q in QUALITIES:
        files, dec, reg = code_and_restore(model, crops, get_table_set(a.tables), q, post=post)
        sfiles, sdec, _ = code_and_restore(None, crops, STANDARD, q, post=post)  # plain: no network
        p, m = mean_quality(crops, sdec)
        plain["bpp"].append(float(np.mean([len(d) for d in sfiles])) * 8 / px)
        plain["psnr-rgb"].append(p)
        plain["ms-ssim-db"].append(m)
        for k, s in variants:
            out = [make_consistent(sharpen(r, k, s) if k else r, d) for r, d in zip(reg, files)]
            p, m = mean_quality(crops, out)
            c = curves[(k, s)]
            c["bpp"].append(float(np.mean([len(d) for d in files])) * 8 / px)
            c["psnr-rgb"].append(p)
            c["ms-ssim-db"].append(m)
        print(f"quality {q} done", flush=True)
    rows = []
    for (k, s), c in curves.items():
        r = score(plain, c)
        rows.append({"k": k, "sigma": s, "bd_msssim_db": r["bd_msssim_db"], "bd_psnr": r["bd_psnr"],
                     "curve": c})
        print(f"k {k} sigma {s}: BD-rate vs plain JPEG MS-SSIM {r['bd_msssim_db']:+.2f}% "
              f"PSNR {r['bd_psnr']:+.2f}%", flush=True)
    save_rows(a, crops, rows)


if __name__ == "__main__":
    main()
