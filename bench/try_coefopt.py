r"""Does choosing the coefficients through the decoder pay? (codec/encoder/coefsearch.py, issue 7's
coefficient-level RDO with the regeneration network in the loop)

Scored like bench/tune_tables.py on held-out crops of the training pool (never Kodak): BD-rate of
the restored output (after decode's consistency step) of files whose coefficients were searched
(`--rounds`, `--lam`, `--rate`, `--msssim-weight`: codec.encoder.coefsearch.SearchSettings) against the
same files as the encoder rounds them, under the same network and tables, both rewritten as
`encode` writes them. Also prints the anchor curve's slopes, the source of codec.encoder.coefsearch.SLOPES.

    .venv/bin/python -m bench.try_coefopt --rounds 20 --lam 1 --lam 1.5 --rate proxy \
        --rate huffman --crops 16 --out bench/results/coefsearch.json
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.tuning import centre_tiles, crop_args, evaluate, load_crops, save_rows, score
from codec.encoder.coefsearch import SearchSettings, refine
from codec.format.jpeg import encode_jpeg
from codec.format.shrink import shrink
from codec.format.tables import get_table_set
from codec.registry import load_model


def photo_crops(folder: Path, n: int, size: int = 176) -> list[np.ndarray]:
    """Centre crops of the PNGs in `folder`, as load_crops makes them of the pool's files."""
    crops = []
    for p in sorted(folder.glob("*.png")):
        crops += centre_tiles(np.asarray(Image.open(p).convert("RGB")), size)
    return crops[:n]


def anchor_slopes(anchor: dict, qs: list[int]) -> dict[int, float]:
    """The anchor curve's slope at each quality, d[(MS-SSIM dB + PSNR) / 2] / d[bpp], by central
    differences (one-sided at the ends): the search's SLOPES / COMREC_SLOPES."""
    qd = [(m + p) / 2 for m, p in zip(anchor["ms-ssim-db"], anchor["psnr-rgb"])]
    lo, hi = lambda i: max(i - 1, 0), lambda i: min(i + 1, len(qs) - 1)  # noqa: E731
    return {q: round((qd[hi(i)] - qd[lo(i)]) / (anchor["bpp"][hi(i)] - anchor["bpp"][lo(i)]), 2)
            for i, q in enumerate(qs)}


def save_anchor(out: Path, anchor: dict, slopes: dict) -> None:
    """The anchor curve and its slopes beside the experiment's rows (`out`.anchor.json)."""
    out.with_suffix(".anchor.json").write_text(
        json.dumps({"anchor": anchor, "slopes": slopes}, indent=1) + "\n")


def main() -> None:
    ap = crop_args(__doc__, "results/coefsearch.json")
    ap.add_argument("--rounds", type=int, action="append", required=True)
    ap.add_argument("--lam", type=float, action="append", required=True)
    ap.add_argument("--msssim-weight", type=float, action="append", default=None,
                    help="the search's MS-SSIM share of its quality term (repeatable; default 0.5)")
    ap.add_argument("--rate", action="append", choices=["huffman", "proxy"], default=None,
                    help="the search's bit count (repeatable; default: SearchSettings' own)")
    ap.add_argument("--photos", type=Path, default=None,
                    help="crop these PNGs (e.g. bench/skimage_photos.py's, in neither the pool "
                         "nor Kodak) instead of the pool's held-out files")
    ap.add_argument("--qualities", default="8,15,25,40,60,80,92")
    a = ap.parse_args()
    model = load_model(a.model).eval()
    ts = get_table_set(a.tables)
    crops = photo_crops(a.photos, a.crops) if a.photos else load_crops(a.shared, a.crops)
    qs = [int(x) for x in a.qualities.split(",")]
    post = lambda data, q: shrink(data)  # noqa: E731

    def searched(settings):
        def encode(rgb, q, sub, tables):
            return refine(encode_jpeg(Image.fromarray(rgb), q, sub, qtables=tables), rgb, model, q,
                          settings)
        return encode

    t0 = time.perf_counter()
    anchor = evaluate(model, crops, ts, post=post, consistency=True, qualities=qs)
    anchor_s = time.perf_counter() - t0  # coding, restoring and scoring without a search
    slopes = anchor_slopes(anchor, qs)
    print("anchor slopes, dB per bpp:", slopes, flush=True)
    rows = []
    for rounds, lam, w, rate in itertools.product(a.rounds, a.lam, a.msssim_weight or [0.5],
                                                  a.rate or [SearchSettings.rate]):
        settings = SearchSettings(rounds=rounds, lam=lam, msssim_weight=w, rate=rate)
        t0 = time.perf_counter()
        test = evaluate(model, crops, ts, post=post, consistency=True, qualities=qs,
                        encode=searched(settings))
        # wall time of the same evaluation with the search, and without it (the anchor's)
        r = {"rounds": rounds, "lam": lam, "msssim_weight": w, "rate": rate,
             "seconds": time.perf_counter() - t0, "anchor_seconds": anchor_s, **score(anchor, test),
             "bpp": test["bpp"], "ms-ssim-db": test["ms-ssim-db"], "psnr-rgb": test["psnr-rgb"]}
        rows.append(r)
        print(f"rounds {rounds} lam {lam} msssim_weight {w} rate {rate}: "
              f"MS-SSIM {r['bd_msssim_db']:+.2f}% PSNR {r['bd_psnr']:+.2f}% "
              f"plain {r['plain_bd_psnr_db']:+.2f} dB", flush=True)
    save_rows(a, crops, rows)
    save_anchor(a.out, anchor, slopes)


if __name__ == "__main__":
    main()
