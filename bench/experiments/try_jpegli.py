"""Does Google's jpegli encoder pay after regeneration? (a drop-in JPEG encoder, tried for issue 7)

jpegli writes standard JPEGs that look better than libjpeg's at equal bytes in a plain decode.
Its Python binding (pyjpegli) takes only a quality: jpegli picks its own tables and subsampling.
Scored like bench/tune_tables.py, on held-out crops of the training pool (never Kodak): BD-rate
of the regenerated output (regen-fast-tuned) against the default encoder (Pillow with the
regen-v1 tables), both files shrunk losslessly (codec/format/shrink.py), plus the same for the plain
decode.

    .venv/bin/pip install pyjpegli && .venv/bin/python -m bench.experiments.try_jpegli
    -> bench/results/tables/jpegli.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.tuning import evaluate, load_crops, plain_curve, root, score
from codec.format.shrink import shrink
from codec.format.tables import DEFAULT_TABLES, get_table_set
from codec.registry import DEFAULT_MODEL, load_model


def jpegli(rgb: np.ndarray, q: int, _sub, _tables) -> bytes:
    import pyjpegli

    return shrink(pyjpegli.encode(np.ascontiguousarray(rgb).tobytes(), rgb.shape[1], rgb.shape[0], q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--crops", type=int, default=48)
    ap.add_argument("--out", type=Path, default=root / "bench/results/tables/jpegli.json")
    a = ap.parse_args()
    import pyjpegli  # noqa: F401  (fail early, with the install hint in the docstring)

    model, crops = load_model(a.model), load_crops(root.parent / "shared", a.crops)
    ts = get_table_set(DEFAULT_TABLES)
    ours = evaluate(model, crops, ts, post=lambda data, q: shrink(data))
    theirs = evaluate(model, crops, ts, encode=jpegli)
    res = {"model": a.model, "tables": ts.name, "crops": len(crops), "ours": ours, "jpegli": theirs,
           "restored": score(ours, theirs), "plain": score(plain_curve(ours), plain_curve(theirs)),
           "reproduce": ".venv/bin/pip install pyjpegli && .venv/bin/python -m bench.experiments.try_jpegli"}
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    for k in ("restored", "plain"):
        print(f"jpegli against Pillow + {ts.name}, {k}: MS-SSIM dB {res[k]['bd_msssim_db']:+.1f}%, "
              f"PSNR {res[k]['bd_psnr']:+.1f}%")


if __name__ == "__main__":
    main()
