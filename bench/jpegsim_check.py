"""The torch JPEG simulator (codec/regen/jpegsim.py) against real files on held-out crops of the
training pool: decoded pixels and quantized coefficients of the real file (Pillow, jpeglib), the
default network's score (consistency step included) on simulated and on real input, and the
time to code a training batch each way.

    .venv/bin/python -m bench.jpegsim_check [--data DIR ...] [--crops 48] [--qualities 5,10,...]
        [--out FILE]

The crops come from the files data.split holds out for validation (never Kodak).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from codec.decoder.consistency import coefficients_of, project_batch, read_coefficients
from codec.format.jpeg import SUBSAMPLINGS, cond_vector, decode_jpeg, encode_jpeg
from codec.format.tables import get_table_set
from codec.regen import data as D
from codec.regen import jpegsim as S
from codec.registry import DEFAULT_MODEL, load_model
from codec.utils import metrics

QUALITIES = (5, 10, 20, 30, 50, 70, 90, 95)


def _psnr(img: np.ndarray, out: torch.Tensor) -> float:
    return metrics.psnr(img, out[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", default=["../shared/data/train"])
    ap.add_argument("--crops", type=int, default=48)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--qualities", default=",".join(map(str, QUALITIES)),
                    help="comma-separated JPEG qualities")
    ap.add_argument("--out", default="bench/results/jpegsim.json")
    args = ap.parse_args()
    import jpeglib

    files = D.list_images([Path(d) for d in args.data])
    _, val_files = D.split(files)
    crops = D.build_pool(val_files, D.VAL_PATCH, 1, 1)[: args.crops]
    net = load_model(args.model)
    qualities = [int(q) for q in args.qualities.split(",")]
    cases = [("standard", q, sub) for q in qualities for sub in SUBSAMPLINGS] + \
            [("regen-v1", q, None) for q in qualities]
    rows, tot = [], dict(pixels=0, pixels_within_1=0, pixels_equal=0, coefs=0, coefs_equal=0)
    fd, tmp = tempfile.mkstemp(suffix=".jpg")
    os.close(fd)
    for name, q, sub in cases:
        ts = get_table_set(name)
        tables, ts_sub = S.tables_for(q, ts)
        sub = sub or ts_sub
        dr, ds = [], []
        for img in crops:
            data = encode_jpeg(Image.fromarray(img), q, sub, optimize=False,
                               qtables=None if name == "standard" else tables)
            real, info = decode_jpeg(data)
            x = torch.from_numpy(img).permute(2, 0, 1)[None]
            sdec, j = S.roundtrip(x, tables, sub)
            d = np.abs(sdec[0].permute(1, 2, 0).numpy().astype(int) - real)
            tot["pixels"] += d.size
            tot["pixels_within_1"] += int((d <= 1).sum())
            tot["pixels_equal"] += int((d == 0).sum())
            Path(tmp).write_bytes(data)
            c = coefficients_of(jpeglib.read_dct(tmp))
            for k in range(3):
                s = j.blocks[k][0].numpy()
                r = c.blocks[k][: s.shape[0], : s.shape[1]]
                tot["coefs"] += s.size
                tot["coefs_equal"] += int((s == r).sum())
            with torch.inference_mode():
                out_r = project_batch(net(torch.from_numpy(real).permute(2, 0, 1)[None].float() / 255,
                                          torch.from_numpy(cond_vector(info))[None]),
                                      [read_coefficients(data)])
                out_s = S.project(net(sdec.float() / 255, S.cond_tensor(torch.tensor([tables]), sub)), j)
            dr.append(_psnr(img, out_r))
            ds.append(_psnr(img, out_s))
        row = dict(tables=name, quality=q, subsampling=sub, psnr_real=round(float(np.mean(dr)), 4),
                   psnr_sim=round(float(np.mean(ds)), 4),
                   max_abs_crop_diff_db=round(float(np.max(np.abs(np.subtract(dr, ds)))), 4))
        rows.append(row)
        print(row, flush=True)
    os.unlink(tmp)

    # time to JPEG-code one training batch (128 crops of 128 px, 4:2:0, q 30) each way, here
    batch = np.stack([np.ascontiguousarray(c[:128, :128]) for c in
                      (crops[i % len(crops)] for i in range(128))])
    tables, _ = S.tables_for(30)
    t0 = time.perf_counter()
    for img in batch:
        D.jpeg_roundtrip(img, 30, "4:2:0")
    t_pil = time.perf_counter() - t0
    x = torch.from_numpy(batch).permute(0, 3, 1, 2)
    S.roundtrip(x[:2], tables)
    t0 = time.perf_counter()
    S.roundtrip(x, tables)
    t_sim = time.perf_counter() - t0
    result = {
        "crops": len(crops), "crop_side": D.VAL_PATCH, "model": args.model,
        "pixels_within_1": tot["pixels_within_1"] / tot["pixels"],
        "pixels_equal": tot["pixels_equal"] / tot["pixels"],
        "coefficients_equal": tot["coefs_equal"] / tot["coefs"],
        "max_abs_mean_psnr_diff_db": max(abs(r["psnr_real"] - r["psnr_sim"]) for r in rows),
        "batch128_seconds": {"pillow_one_process": round(t_pil, 3), "jpegsim_cpu": round(t_sim, 3),
                             "threads": torch.get_num_threads()},
        "rows": rows,
    }
    if torch.cuda.is_available():
        xg = x.cuda()
        S.roundtrip(xg, tables)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(10):
            S.roundtrip(xg, tables)
        torch.cuda.synchronize()
        result["batch128_seconds"]["jpegsim_gpu"] = round((time.perf_counter() - t0) / 10, 4)
        result["gpu"] = torch.cuda.get_device_name()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print({k: v for k, v in result.items() if k != "rows"})


if __name__ == "__main__":
    main()
