"""Where does the half-size route (comrec) stop beating the full-size one (regen)?

Rate-quality curves of both modes (and of the no-network half-size route) on held-out crops of
the training pool (the files `train regen` keeps aside; never Kodak), through the real
`codec.encode` / `codec.decode`. Reports the crossover rate (bpp) in MS-SSIM dB, from which
codec.encoder.auto.AUTO_MAX_BPP is set, and how often auto mode picks comrec per quality.

    .venv/bin/python -m bench.comrec_crossover [--regen ID] [--comrec ID]  (default: the defaults)
    -> bench/results/comrec/crossover.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import codec
from bench.tuning import load_crops, root
from codec.encoder.auto import AUTO_MAX_BPP, choose
from codec.encoder.options import EncodeOptions
from codec.format.tables import DEFAULT_TABLES
from codec.io.imageio import load_image
from codec.registry import DEFAULT_COMREC, DEFAULT_MODEL
from codec.utils import metrics

QUALITIES = [5, 10, 15, 20, 30, 40, 50, 60, 75, 90]


def curve(crops, mode: str, model: str) -> tuple[dict, dict]:
    """The mean curve over the crops, and each crop's rate per quality ({q: [bpp per crop]})."""
    out, rates = {"bpp": [], "ms-ssim-db": [], "psnr-rgb": []}, {}
    for q in tqdm(QUALITIES, desc=f"{mode} {model}", leave=False):
        bpp, ms, ps = [], [], []
        for c in crops:
            data = codec.encode(c, q, model, mode=mode)
            res = np.asarray(codec.decode(data, device="cpu"))
            bpp.append(len(data) * 8 / (c.shape[0] * c.shape[1]))
            ms.append(metrics.ms_ssim(c, res))
            ps.append(metrics.psnr(c, res))
        rates[q] = bpp
        out["bpp"].append(float(np.mean(bpp)))
        out["ms-ssim-db"].append(metrics.db(float(np.mean(ms))))
        out["psnr-rgb"].append(float(np.mean(ps)))
    return out, rates


def crossover(a: dict, b: dict, key: str = "ms-ssim-db") -> float | None:
    """The highest rate (bpp) at which curve b is above curve a (log-rate interpolation)."""
    la, lb = np.log(a["bpp"]), np.log(b["bpp"])
    grid = np.linspace(max(la.min(), lb.min()), min(la.max(), lb.max()), 400)
    better = np.interp(grid, lb, b[key]) > np.interp(grid, la, a[key])
    return float(np.exp(grid[better].max())) if better.any() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regen", default=DEFAULT_MODEL)
    ap.add_argument("--comrec", default=DEFAULT_COMREC)
    ap.add_argument("--crops", type=int, default=45)
    ap.add_argument("--out", type=Path, default=root / "bench/results/comrec")
    a = ap.parse_args()
    t0 = time.time()
    crops = load_crops(root.parent / "shared", a.crops)
    regen, regen_rates = curve(crops, "regen", a.regen)
    comrec, _ = curve(crops, "comrec", a.comrec)
    x = crossover(regen, comrec)
    # auto's choice with its rate threshold lifted, so the data say where the threshold belongs:
    # the highest regen rate at which comrec still won, and the share auto picks with the threshold
    threshold = AUTO_MAX_BPP
    picks, picks_free, won_at = {}, {}, []
    for q in tqdm(QUALITIES, desc="auto", leave=False):
        won = [bpp for c, bpp in zip(crops, regen_rates[q])
               if choose(load_image(c), EncodeOptions(quality=q, model=a.regen, tables=DEFAULT_TABLES),
                         max_bpp=float("inf")).mode == "comrec"]
        picks[q] = sum(b < threshold for b in won) / len(crops)
        picks_free[q] = len(won) / len(crops)
        won_at += won
    a.out.mkdir(parents=True, exist_ok=True)
    res = {"crops": len(crops), "size": list(crops[0].shape[:2]), "tables": DEFAULT_TABLES,
           "qualities": QUALITIES, a.regen: regen, a.comrec: comrec,
           "crossover_bpp_msssim_db": x, "crossover_bpp_psnr": crossover(regen, comrec, "psnr-rgb"),
           "auto_max_bpp": threshold, "auto_comrec_share_per_quality": picks,
           "comrec_share_without_threshold": picks_free,
           "max_regen_bpp_where_comrec_won": max(won_at, default=None), "seconds": round(time.time() - t0),
           "reproduce": ".venv/bin/python -m bench.comrec_crossover"}
    (a.out / "crossover.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: res[k] for k in ("crossover_bpp_msssim_db", "crossover_bpp_psnr",
                                          "auto_comrec_share_per_quality",
                                          "max_regen_bpp_where_comrec_won")}, indent=1))


if __name__ == "__main__":
    main()
