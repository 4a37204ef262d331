"""Calibrate the encoder's per-image quality choice (codec/encoder/allocate.py) for one table set.

On held-out crops of the training pool (never Kodak) this codes every crop at every quality
1-100 with the table set, restores it with the model (consistency step included, as `decode`
does), and writes, per quality, the mean bits per pixel and the slopes of the mean restored
quality against log rate: the exchange rates codec.encoder.allocate turns into a cost. Then it checks
the rule on the same rows, calibrating on one half of the crops and scoring the other (and the
other way round): BD-rate of the allocated curve against fixed quality, MS-SSIM dB / PSNR.

    .venv/bin/python -m bench.calibrate_allocation        -> codec/allocation.json (regen-v1)
                                                           + bench/results/allocation-crops.json
    .venv/bin/python -m bench.calibrate_allocation --plain --out bench/results/allocation-plain-crops.json

--plain calibrates the same rule for plain Pillow JPEG seen by a plain viewer (no network):
the benchmark's reference row `jpeg-alloc`, which shows how much of the gain any JPEG encoder
would get from choosing its quality per image.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from bench.tuning import code_and_restore, crop_args, load_crops, root
from codec.bench.measure import available_methods
from codec.bench.report import bd_rate
from codec.decoder.consistency import make_consistent
from codec.encoder import allocate
from codec.format.shrink import shrink
from codec.format.tables import get_table_set
from codec.registry import load_model
from codec.utils.metrics import db, ms_ssim, psnr

QUALITIES = list(range(1, 101))
SCORED = [8, 15, 25, 40, 60, 80, 92]  # the qualities tune_tables scores


def collect(model, crops, ts) -> dict:
    """(crop, quality) -> (bpp, PSNR, MS-SSIM) of the restored output, for every quality;
    with `model` None, of plain Pillow JPEG (its defaults) and its plain decode instead."""
    rows, t = {}, time.time()
    jpeg = available_methods()["jpeg"]  # plain Pillow JPEG, as the benchmark codes it
    for q in QUALITIES:
        if model is None:
            files = [jpeg.encode(c, q) for c in crops]
            reg = [jpeg.decode(f) for f in files]
        else:
            files, _, reg = code_and_restore(model, crops, ts, q, post=lambda d, q: shrink(d))
            reg = [make_consistent(r, f) for r, f in zip(reg, files)]
        for i, (c, f, r) in enumerate(zip(crops, files, reg)):
            rows[(i, q)] = (len(f) * 8 / (c.shape[0] * c.shape[1]), psnr(c, r), ms_ssim(c, r))
        print(f"\rquality {q} ({time.time() - t:.0f} s)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return rows


def held_out_images(shared: Path, max_pixels: int = 1_000_000) -> list[np.ndarray]:
    """The whole held-out files of the training pool (`train regen`'s validation split, as
    `train` loads them: JPEG-sourced ones downscaled), up to `max_pixels` each."""
    from bench.tuning import DATA
    from codec.regen import data as D

    files = D.list_images([shared / "data/train" / d for d in DATA])
    rng = np.random.default_rng(0)
    images = [D.load_clean(p, rng) for p in D.split(files)[1]]
    return [np.ascontiguousarray(im) for im in images if im.shape[0] * im.shape[1] <= max_pixels]


def collect_whole(model_id: str, images, tables: str) -> dict:
    """collect() for pictures of different sizes: each coded as `encode --no-fit` writes it and
    restored as `decode` does."""
    from codec import api
    from codec.encoder.maker import file_maker
    from codec.encoder.options import EncodeOptions
    from codec.io.imageio import load_image

    makers = [file_maker(load_image(im), "regen", model_id, EncodeOptions(tables=tables, fit=False))
              for im in images]
    rows, t = {}, time.time()
    for q in QUALITIES:
        for i, (im, make) in enumerate(zip(images, makers)):
            f = make(q)
            r = np.asarray(api.decode(f, device="cpu"))
            rows[(i, q)] = (len(f) * 8 / (im.shape[0] * im.shape[1]), psnr(im, r), ms_ssim(im, r))
        print(f"\rquality {q} ({time.time() - t:.0f} s)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return rows


def mean_curve(rows, crops: list[int], qualities, pick=None) -> dict:
    """Mean bpp, PSNR and MS-SSIM (dB of the mean) over `crops`, as the benchmark averages."""
    out = {"bpp": [], "psnr-rgb": [], "ms-ssim-db": [], "msssim": []}
    for q in qualities:
        v = [rows[(c, q)] if pick is None else pick(c, q) for c in crops]
        ms = float(np.mean([x[2] for x in v]))
        out["bpp"].append(float(np.mean([x[0] for x in v])))
        out["psnr-rgb"].append(float(np.mean([x[1] for x in v])))
        out["msssim"].append(ms)
        out["ms-ssim-db"].append(db(ms))
    return out


def exchange_rates(rows, crops: list[int], span: int = 4) -> dict:
    """Per quality: mean bpp, and the Lagrange weights of MS-SSIM and PSNR (codec.encoder.allocate)."""
    c = mean_curve(rows, crops, QUALITIES)
    lb = np.log(c["bpp"])
    out = {"quality": QUALITIES, "bpp": c["bpp"], "msssim_weight": [], "psnr_weight": []}
    for i in range(len(QUALITIES)):
        j0, j1 = max(0, i - span), min(len(QUALITIES) - 1, i + span)
        d = lb[j1] - lb[j0]
        slope_ms = (c["ms-ssim-db"][j1] - c["ms-ssim-db"][j0]) / d  # dB per unit of log rate
        slope_ps = (c["psnr-rgb"][j1] - c["psnr-rgb"][j0]) / d
        # d(mean MS-SSIM dB)/d(one image's MS-SSIM) = 10 / ln 10 / (1 - mean MS-SSIM), per image
        out["msssim_weight"].append(10 / math.log(10) / (1 - c["msssim"][i]) / slope_ms)
        out["psnr_weight"].append(1 / slope_ps)
    return out


def check(rows, n: int) -> dict:
    """The hill climb of codec.encoder.allocate on the collected rows, calibrated on one half of the
    crops and scored on the other: BD-rate of the allocated curve against fixed quality."""
    halves = [list(range(0, n, 2)), list(range(1, n, 2))]
    res, evals = [], []
    for fit_on, score_on in (halves, halves[::-1]):
        rates = exchange_rates(rows, fit_on)

        def pick(c, q):
            tr = allocate.Tradeoff.from_table(rates, q)
            cost = lambda qq: tr.cost(rows[(c, qq)][0], rows[(c, qq)][2], rows[(c, qq)][1])  # noqa: E731
            qq, k = allocate.climb(q, cost)
            evals.append(k)
            return rows[(c, qq)]

        base = mean_curve(rows, score_on, SCORED)
        sel = mean_curve(rows, score_on, SCORED, pick)
        res.append({"bd_msssim_db": bd_rate(base, sel, "ms-ssim-db"),
                    "bd_psnr": bd_rate(base, sel, "psnr-rgb"),
                    "fixed": base, "allocated": sel})
    return {"halves": res, "mean_bd_msssim_db": float(np.mean([r["bd_msssim_db"] for r in res])),
            "mean_bd_psnr": float(np.mean([r["bd_psnr"] for r in res])),
            "mean_candidates": float(np.mean(evals))}


def main() -> None:
    ap = crop_args(__doc__, "results/allocation-crops.json")
    ap.add_argument("--table-out", type=Path, default=root / "codec" / "allocation.json")
    ap.add_argument("--whole", action="store_true",
                    help="calibrate on the whole held-out files (up to 1 MP) instead of crops")
    ap.add_argument("--plain", action="store_true",
                    help=f"calibrate plain Pillow JPEG and its plain decode instead (key "
                         f"{allocate.PLAIN_JPEG!r}: the benchmark's reference row jpeg-alloc)")
    a = ap.parse_args()
    if a.plain:
        model, name, a.model = None, allocate.PLAIN_JPEG, "none"
    else:
        model, ts = load_model(a.model), get_table_set(a.tables)
        name = ts.name
    if a.whole and not a.plain:
        crops = held_out_images(a.shared)
        rows = collect_whole(a.model, crops, ts.name)
    else:
        crops = held_out_images(a.shared) if a.whole else load_crops(a.shared, a.crops)
        rows = collect(model, crops, None if a.plain else ts)
    n = len(crops)
    rates = exchange_rates(rows, list(range(n)))
    table = json.loads(a.table_out.read_text()) if a.table_out.exists() else {}
    table[name] = {"model": a.model, "crops": n, "command": " ".join(sys.argv), **rates}
    a.table_out.write_text(json.dumps(table, indent=1) + "\n")
    result = {"model": a.model, "tables": name, "pictures": "whole held-out files" if a.whole
              else "176-px crops of held-out files", "crops": n, "weight_msssim": allocate.WEIGHT_MSSSIM,
              "window": allocate.WINDOW, "step": allocate.STEP, **check(rows, n),
              "command": " ".join(sys.argv)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print(f"allocated against fixed quality (held-out halves): MS-SSIM dB "
          f"{result['mean_bd_msssim_db']:+.2f}%, PSNR {result['mean_bd_psnr']:+.2f}%, "
          f"{result['mean_candidates']:.1f} candidates per image")


if __name__ == "__main__":
    main()
