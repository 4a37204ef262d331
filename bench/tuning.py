"""The library of the table and search calibrations: held-out crops of the training pool,
coding them with a table set, restoring them, scoring the curves by BD-rate.

Used by bench/tune_tables.py (-> codec/format/tables.py), bench/calibrate_allocation.py
(-> codec/encoder/allocation.json), bench/try_coefopt.py and bench/try_comrec_search.py (-> the
coefficient search's settings) and the experiments in bench/experiments/. Run those from the
repository root as modules (`python -m bench.tune_tables`), so that `bench` and `codec` import.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from codec.bench.report import bd_rate
from codec.format.jpeg import cond_vector, encode_jpeg, open_jpeg, read_info
from codec.format.tables import TableSet
from codec.regen import data as D
from codec.utils.metrics import db, ms_ssim, psnr

root = Path(__file__).resolve().parents[1]  # the repository
QUALITIES = [8, 15, 25, 40, 60, 80, 92]
COMREC_QUALITIES = [2, 4, 7, 12, 20, 30, 45]  # comrec's range: auto uses it below ~0.4 bpp
DATA = ["bsds432", "imagenet1k-sample", "realsr", "t91", "urban100-part"]
SUBS = ("4:2:0", "4:2:2", "4:4:4")


def load_crops(shared: Path, n: int, size: int = 176) -> list[np.ndarray]:
    """Centre crops (up to 4 tiles from large images) of the held-out files; 176 px keeps most."""
    files = D.list_images([shared / "data/train" / d for d in DATA])
    _, val = D.split(files)  # the same held-out files as `train regen`
    rng = np.random.default_rng(0)
    crops = []
    for p in val:
        crops += centre_tiles(D.load_clean(p, rng), size)
    return crops[:n]


def centre_tiles(img: np.ndarray, size: int) -> list[np.ndarray]:
    """Up to 2x2 tiles of `size` pixels from the centre of `img`."""
    h, w = img.shape[:2]
    ny, nx = min(2, h // size), min(2, w // size)
    y0, x0 = (h - ny * size) // 2, (w - nx * size) // 2
    return [img[y0 + i * size:y0 + (i + 1) * size, x0 + j * size:x0 + (j + 1) * size]
            for i in range(ny) for j in range(nx)]


def compact_crops(com, crops) -> list[np.ndarray]:
    """The compact (half-size, uint8) images a ComCNN makes of the crops."""
    with torch.inference_mode():
        x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255
        return list(com(x).clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).numpy())


def code_and_restore(model, coded, ts: TableSet, q: int, sub: str | None = None, post=None,
                     com=None, encode=None, size=None):
    """One quality setting: the files of the `coded` images, their plain decodes and the
    network's restored outputs (uint8; None without a `model`: only the plain decodes are
    wanted). `post`, `encode` and `com` as in evaluate(); with `com`, the plain decodes are the
    bicubic upscales to `size` that the RecCNN restores."""
    from codec.reccnn.model import upscale

    s = sub or ts.subsampling_for(q)
    tables = ts.qtables(q)
    dec, conds, files = [], [], []
    for c in coded:
        data = (encode(c, q, s, tables) if encode is not None
                else encode_jpeg(Image.fromarray(c), q, s, qtables=tables, trellis=ts.trellis))
        if post is not None:
            data = post(data, q)
        im = open_jpeg(data)
        conds.append(cond_vector(read_info(im)))
        dec.append(np.asarray(im.convert("RGB")))
        files.append(data)
    if model is None:
        return files, dec, None
    with torch.inference_mode():
        x = torch.from_numpy(np.stack(dec)).permute(0, 3, 1, 2).float() / 255
        if com is not None:
            x = upscale(x, size)
            dec = list(x.mul(255).round().byte().permute(0, 2, 3, 1).numpy())
        y = model(x, torch.from_numpy(np.stack(conds)))
        reg = list(y.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).numpy())
    return files, dec, reg


def mean_quality(crops, images) -> tuple[float, float]:
    """Mean PSNR of `images` against `crops`, and their mean MS-SSIM in dB."""
    return (float(np.mean([psnr(c, r) for c, r in zip(crops, images)])),
            db(float(np.mean([ms_ssim(c, r) for c, r in zip(crops, images)]))))


def evaluate(model, crops, ts: TableSet, sub: str | None = None, post=None, com=None,
             qualities=QUALITIES, encode=None, consistency: bool = False) -> dict:
    """Mean bpp and regenerated / plain quality at each quality setting (CompressAI-style dicts).

    `post(jpeg_bytes, quality) -> jpeg_bytes` rewrites each file (e.g. coefficient pruning);
    `encode(rgb, quality, subsampling, tables) -> jpeg_bytes` replaces Pillow's encoder.
    With `com` (a ComCNN), the coded images are its compact images and `model` (a RecCNN) runs
    on their bicubic 2x upscale, which is also the plain decode. `consistency`: the restored
    output goes through decode's last step (codec/decoder/consistency.py), as `decode` makes it."""
    coded = crops if com is None else compact_crops(com, crops)
    px = crops[0].shape[0] * crops[0].shape[1]
    out = {k: [] for k in ("bpp", "psnr-rgb", "ms-ssim-db", "plain-psnr-rgb", "plain-ms-ssim-db")}
    for q in qualities:
        files, dec, reg = code_and_restore(model, coded, ts, q, sub, post, com, encode,
                                           size=crops[0].shape[:2])
        if consistency and com is None:
            from codec.decoder.consistency import make_consistent

            reg = [make_consistent(r, d) for r, d in zip(reg, files)]
        out["bpp"].append(float(np.mean([len(d) for d in files])) * 8 / px)
        for prefix, images in (("", reg), ("plain-", dec)):
            p, m = mean_quality(crops, images)
            out[prefix + "psnr-rgb"].append(p)
            out[prefix + "ms-ssim-db"].append(m)
    return out


def plain_curve(curve: dict) -> dict:
    """The plain decodes' curve of an evaluate() result, in the shape score() takes."""
    return {"bpp": curve["bpp"], "psnr-rgb": curve["plain-psnr-rgb"],
            "ms-ssim-db": curve["plain-ms-ssim-db"]}


def crop_args(doc: str, out: str) -> argparse.ArgumentParser:
    """The options every held-out-crop experiment takes (--model, --tables, --crops, --shared,
    --out, defaulting to the shipped model and table set and to bench/`out`)."""
    from codec.format.tables import DEFAULT_TABLES
    from codec.registry import DEFAULT_MODEL

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--tables", default=DEFAULT_TABLES)
    ap.add_argument("--crops", type=int, default=48)
    ap.add_argument("--shared", type=Path, default=root.parent / "shared")
    ap.add_argument("--out", type=Path, default=root / "bench" / out)
    return ap


def save_rows(args, crops: list, rows: list[dict]) -> None:
    """An experiment's scored rows as JSON at args.out, with its model, tables, crop count and
    the command line that made them."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": args.model, "tables": args.tables, "crops": len(crops),
                                    "rows": rows, "command": " ".join(sys.argv)}, indent=1))


def score(anchor: dict, test: dict) -> dict:
    """BD-rates (%) of the regenerated output, and the plain decode's PSNR change at equal bytes."""
    import bjontegaard as bd

    r = {"bd_msssim_db": bd_rate(anchor, test, "ms-ssim-db"), "bd_psnr": bd_rate(anchor, test, "psnr-rgb")}
    try:
        r["plain_bd_psnr_db"] = float(bd.bd_psnr(anchor["bpp"], anchor["plain-psnr-rgb"], test["bpp"],
                                                 test["plain-psnr-rgb"], method="pchip",
                                                 require_matching_points=False))
    except Exception:
        r["plain_bd_psnr_db"] = None
    vals = [v for v in (r["bd_msssim_db"], r["bd_psnr"]) if v is not None]
    r["objective"] = float(np.mean(vals)) if len(vals) == 2 else float("inf")
    return r


def best_subsampling(curves: dict[str, dict], qualities=QUALITIES) -> list[tuple[int, str]]:
    """For each quality: the subsampling whose regenerated MS-SSIM dB is highest at the rate that
    4:2:0 spends at that quality (curves interpolated in log-rate)."""
    rule = []
    base = curves["4:2:0"]
    for i, q in enumerate(qualities):
        rate = np.log(base["bpp"][i])
        best, best_v = "4:2:0", -1e9
        for s, c in curves.items():
            lr = np.log(c["bpp"])
            if not lr.min() <= rate <= lr.max():
                continue
            v = 0.5 * (np.interp(rate, lr, c["ms-ssim-db"]) / np.mean(base["ms-ssim-db"])
                       + np.interp(rate, lr, c["psnr-rgb"]) / np.mean(base["psnr-rgb"]))
            if v > best_v:
                best, best_v = s, v
        rule.append((q, best))
    return rule


def rule_to_ranges(rule: list[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
    """Per-quality winners as (highest quality, subsampling) ranges, split halfway between."""
    out = []
    for i, (q, s) in enumerate(rule):
        if out and out[-1][1] == s:
            out.pop()
        hi = 100 if i == len(rule) - 1 else (q + rule[i + 1][0]) // 2
        out.append((hi, s))
    return tuple(out)
