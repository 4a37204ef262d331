"""Does mozjpeg's trellis quantization pay after regeneration? (issue 7's coefficient-level RDO)

mozjpeg (one of the libjpeg builds that jpeglib bundles) codes with the same tables and
subsampling as the default encoder, but picks each block's quantized coefficients by
rate-distortion (trellis) instead of rounding them. Scored like bench/tune_tables.py on held-out
crops of the training pool (never Kodak): BD-rate against Pillow with the same table set, all
files shrunk losslessly (codec/format/shrink.py), of the restored output (default model, decoded with
and without decode's consistency step) and of the plain decode. A mozjpeg run without trellis
is the control: it must score about 0.

    .venv/bin/python -m bench.experiments.try_trellis   -> bench/results/tables/trellis.json
"""

from __future__ import annotations

import json
import time

import numpy as np

from bench.tuning import crop_args, evaluate, load_crops, plain_curve, score
from codec.format.shrink import shrink
from codec.format.tables import TableSet, get_table_set
from codec.format.trellis import MOZJPEG, encode_trellis
from codec.registry import load_model

VARIANTS = {  # name -> jpeglib flags for mozjpeg (baseline, Huffman-optimized)
    "mozjpeg-no-trellis": ["-TRELLIS_QUANT", "-TRELLIS_QUANT_DC"],
    "trellis-ac": ["+TRELLIS_QUANT", "-TRELLIS_QUANT_DC"],
    "trellis-ac-dc": ["+TRELLIS_QUANT", "+TRELLIS_QUANT_DC"],
}


def mozjpeg(rgb: np.ndarray, q: int, sub: str, tables, flags: list[str]) -> bytes:
    """A baseline JPEG of `rgb` written by mozjpeg with these tables and subsampling, shrunk."""
    if tables is None:  # the standard set: IJG tables scaled as libjpeg scales them
        tables = TableSet("ijg").qtables(q)
    return shrink(encode_trellis(rgb, sub, tables, flags))


def main() -> None:
    ap = crop_args(__doc__, "results/tables/trellis.json")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    a = ap.parse_args()
    t0 = time.time()
    model, crops = load_model(a.model), load_crops(a.shared, a.crops)
    ts = get_table_set(a.tables)
    res = {"model": a.model, "tables": ts.name, "crops": len(crops), "mozjpeg": MOZJPEG,
           "note": "BD-rates (%) against Pillow with the same tables; restored = decoded as "
                   "`decode` does (consistency step), restored-raw = network output alone",
           "reproduce": ".venv/bin/python -m bench.experiments.try_trellis", "results": {}}
    for cons in (True, False):
        ours = evaluate(model, crops, ts, post=lambda data, q: shrink(data), consistency=cons)
        key = "restored" if cons else "restored-raw"
        res.setdefault("curves", {})[f"pillow/{key}"] = ours
        for name in a.variants.split(","):
            flags = VARIANTS[name]
            theirs = evaluate(model, crops, ts, consistency=cons,
                              encode=lambda c, q, s, t, f=flags: mozjpeg(c, q, s, t, f))
            res["curves"][f"{name}/{key}"] = theirs
            r = res["results"].setdefault(name, {})
            r[key] = score(ours, theirs)
            if cons:
                r["plain"] = score(plain_curve(ours), plain_curve(theirs))
                r["bytes_vs_pillow"] = [round(b / o - 1, 4) for b, o in zip(theirs["bpp"], ours["bpp"])]
            print(f"{name} ({key}): MS-SSIM dB {r[key]['bd_msssim_db']:+.2f}%  "
                  f"PSNR {r[key]['bd_psnr']:+.2f}%  ({time.time() - t0:.0f} s)", flush=True)
    res["seconds"] = round(time.time() - t0)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    for name, r in res["results"].items():
        print(f"{name}: plain MS-SSIM dB {r['plain']['bd_msssim_db']:+.2f}% PSNR "
              f"{r['plain']['bd_psnr']:+.2f}%; bytes at equal setting {r['bytes_vs_pillow']}")


if __name__ == "__main__":
    main()
