"""Does encoder-side pre-compensation pay? (the encoder knows the decoder: code, restore, and
code again a source nudged against the restored output's error)

One round: y = restore(code(x)); x' = x + alpha * blur_sigma(x - y); the file is code(x').
`sigma` > 0 compensates only the low frequencies of the error (cheaper in bits). Scored like
bench/tune_tables.py on held-out crops of the training pool (never Kodak): BD-rate of the
restored output (after decode's consistency step) against files of the unchanged source under
the same network and tables, files as `encode` writes them.

    .venv/bin/python -m bench.experiments.try_precomp [--model regen-coarse4] --alpha 0.5 --sigma 0 ...  -> results/precomp.json
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from bench.tuning import crop_args, evaluate, load_crops, save_rows, score
from codec.decoder.consistency import make_consistent
from codec.format.jpeg import cond_vector, encode_jpeg, open_jpeg, read_info
from codec.format.shrink import shrink
from codec.format.tables import get_table_set
from codec.regen.infer import regenerate
from codec.registry import load_model


def main() -> None:
    ap = crop_args(__doc__, "results/precomp.json")
    ap.add_argument("--alpha", type=float, action="append", required=True)
    ap.add_argument("--sigma", type=float, action="append", required=True)
    a = ap.parse_args()
    model = load_model(a.model)
    ts = get_table_set(a.tables)
    crops = load_crops(a.shared, a.crops)

    def restore(data: bytes) -> np.ndarray:
        im = open_jpeg(data)
        return make_consistent(regenerate(model, np.array(im.convert("RGB")),
                                          cond_vector(read_info(im))), data)

    def code(rgb, q, sub, tables) -> bytes:
        return encode_jpeg(Image.fromarray(rgb), q, sub, qtables=tables, trellis=ts.trellis)

    def precomp(alpha: float, sigma: float):
        def encode(rgb, q, sub, tables):
            err = rgb.astype(np.float32) - restore(shrink(code(rgb, q, sub, tables)))
            if sigma > 0:
                err = gaussian_filter(err, (sigma, sigma, 0))
            nudged = np.clip(np.rint(rgb + alpha * err), 0, 255).astype(np.uint8)
            return code(nudged, q, sub, tables)
        return encode

    post = lambda data, q: shrink(data)  # noqa: E731
    anchor = evaluate(model, crops, ts, post=post, consistency=True)
    rows = []
    for alpha in a.alpha:
        for sigma in a.sigma:
            r = score(anchor, evaluate(model, crops, ts, post=post, consistency=True,
                                       encode=precomp(alpha, sigma)))
            rows.append({"alpha": alpha, "sigma": sigma, **r})
            print(f"alpha {alpha} sigma {sigma}: MS-SSIM {r['bd_msssim_db']:+.2f}% "
                  f"PSNR {r['bd_psnr']:+.2f}% plain {r['plain_bd_psnr_db']:+.2f} dB", flush=True)
    save_rows(a, crops, rows)


if __name__ == "__main__":
    main()
