"""Search JPEG quantization tables (and subsampling per quality) for a restoring decoder.

Scores a table set by the BD-rate of the *restored* output against standard tables under
the same network, on held-out crops of the training pool (the files `train regen` keeps aside
for validation; never Kodak). Coordinate search over the family in codec/format/tables.py, then a
per-quality choice of subsampling, then the plain-viewer check (a plain decode at equal bytes
must stay within 1 dB PSNR of standard tables). Writes <out>/search.{json,md}.

A comrec model (`--model comrec-r7`) is searched the same way on its own route: its ComCNN
makes the compact images that are coded, its RecCNN restores their bicubic 2x upscale, at
comrec's lower qualities; the plain decode is then that bicubic upscale.

    .venv/bin/python bench/tune_tables.py [--model regen-fast] [--crops 48]   -> results/tables/
    .venv/bin/python bench/tune_tables.py --model comrec-r7 --name comrec-v1 \
        --out bench/results/tables-comrec
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root))

from codec.bench.report import bd_rate  # noqa: E402
from codec.format.jpeg import cond_vector, encode_jpeg, open_jpeg, read_info  # noqa: E402
from codec.utils.metrics import db, ms_ssim, psnr  # noqa: E402
from codec.regen import data as D  # noqa: E402
from codec.registry import find_model, load_model  # noqa: E402
from codec.format.tables import STANDARD, TABLE_SETS, TableSet  # noqa: E402

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
    from codec.registry import DEFAULT_MODEL
    from codec.format.tables import DEFAULT_TABLES

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
           "Reproduce: `.venv/bin/python bench/tune_tables.py " + " ".join(sys.argv[1:]) + "`"]
    (a.out / "search.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
