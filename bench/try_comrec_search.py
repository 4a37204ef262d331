r"""Does the decoder-aware coefficient search (codec/encoder/coefsearch.py) pay on comrec files too?

comrec files (codec.comcnn's half-size picture, restored by RecCNN after a bicubic 2x upscale) are
what auto keeps at low rates. On held-out crops of the training pool (never Kodak), this scores the
restored output of searched comrec files against the same files as the encoder rounds them
(BD-rate, MS-SSIM dB and PSNR), both rewritten as `encode` writes them, and prints the anchor
curve's slopes (the source of codec.encoder.coefsearch.COMREC_SLOPES).

    .venv/bin/python -m bench.try_comrec_search --crops 16 --lam 1.5 --lam 1 \
        --out bench/results/comrec-search.json

`--photos bench/cache/skimage-photos` crops scikit-image's photos instead (in neither the pool
nor Kodak; made by bench/skimage_photos.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from bench.try_coefopt import anchor_slopes, photo_crops, save_anchor
from bench.tuning import COMREC_QUALITIES, compact_crops, crop_args, evaluate, load_crops, save_rows, score
from codec.encoder.coefsearch import SearchSettings, refine
from codec.format.jpeg import encode_jpeg
from codec.format.shrink import shrink
from codec.format.tables import get_table_set
from codec.registry import DEFAULT_COMREC, load_model


def main() -> None:
    ap = crop_args(__doc__, "results/comrec-search.json")
    ap.set_defaults(model=DEFAULT_COMREC)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--lam", type=float, action="append", required=True)
    ap.add_argument("--qualities", default=",".join(map(str, COMREC_QUALITIES[:5])))
    ap.add_argument("--slopes", default=None,
                    help="JSON {quality: slope} to search with (default: codec's COMREC_SLOPES)")
    ap.add_argument("--photos", type=Path, default=None,
                    help="crop these PNGs instead of the pool's held-out files")
    a = ap.parse_args()
    model = load_model(a.model).eval()
    com = load_model(f"{a.model}-com").eval()
    ts = get_table_set(a.tables)
    crops = photo_crops(a.photos, a.crops) if a.photos else load_crops(a.shared, a.crops)
    # the search needs the full-size source of each compact picture evaluate() hands it
    full = {hashlib.sha256(c.tobytes()).digest(): f for c, f in zip(compact_crops(com, crops), crops)}
    qs = [int(x) for x in a.qualities.split(",")]
    post = lambda data, q: shrink(data)  # noqa: E731
    anchor = evaluate(model, crops, ts, com=com, post=post, qualities=qs)
    slopes = anchor_slopes(anchor, qs)
    print("anchor:", {k: [round(v, 3) for v in vs] for k, vs in anchor.items()}, flush=True)
    print("anchor slopes, dB per bpp:", slopes, flush=True)
    if a.slopes:
        import codec.encoder.coefsearch as cs

        cs.COMREC_SLOPES = {int(k): float(v) for k, v in json.loads(a.slopes).items()}
    rows = []
    for lam in a.lam:
        settings = SearchSettings(rounds=a.rounds, lam=lam)

        def encode(rgb, q, sub, tables):
            data = encode_jpeg(Image.fromarray(rgb), q, sub, qtables=tables, trellis=ts.trellis)
            src = full[hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).digest()]
            return refine(data, src, model, q, settings, comrec=True)

        test = evaluate(model, crops, ts, com=com, post=post, qualities=qs, encode=encode)
        r = {"rounds": a.rounds, "lam": lam, **score(anchor, test), "bpp": test["bpp"],
             "ms-ssim-db": test["ms-ssim-db"], "psnr-rgb": test["psnr-rgb"]}
        rows.append(r)
        print(f"lam {lam}: MS-SSIM {r['bd_msssim_db']:+.2f}% PSNR {r['bd_psnr']:+.2f}% "
              f"bpp {[round(v, 3) for v in test['bpp']]}", flush=True)
    save_rows(a, crops, rows)
    save_anchor(a.out, anchor, slopes)


if __name__ == "__main__":
    main()
