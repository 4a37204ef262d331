"""Does a geometric self-ensemble at decode pay, and at what cost? (issue 7)

The default model runs on 1, 2, 4 or 8 flipped/transposed copies of each decode and the outputs
are averaged (codec/regen/ensemble.py), then decode's consistency step. Scored like
bench/heldout_compare.py on held-out crops of the training pool (never Kodak): BD-rate against
the plain decode of standard-table JPEG, with the default table set; the time column is the
network's wall time on this machine for all crops and qualities.

    .venv/bin/python -m bench.experiments.try_ensemble [--members 1,2,4,8]  -> bench/results/ensemble.json
"""

from __future__ import annotations

import json
import time

from bench.tuning import crop_args, evaluate, load_crops, plain_curve, score
from codec.format.tables import STANDARD, get_table_set
from codec.regen.ensemble import SelfEnsemble
from codec.registry import load_model


class _Timed:
    """Wraps a model and adds up the seconds spent in it."""

    def __init__(self, model):
        self.model, self.seconds = model, 0.0

    def __call__(self, x, c):
        t = time.perf_counter()
        y = self.model(x, c)
        self.seconds += time.perf_counter() - t
        return y


def main() -> None:
    ap = crop_args(__doc__, "results/ensemble.json")
    ap.add_argument("--members", default="1,2,4,8")
    args = ap.parse_args()
    crops = load_crops(args.shared, args.crops)
    net = load_model(args.model)
    base = evaluate(net, crops, STANDARD)
    plain = plain_curve(base)
    ts = get_table_set(args.tables)
    rows = []
    for n in (int(m) for m in args.members.split(",")):
        timed = _Timed(SelfEnsemble(net, n))
        curve = evaluate(timed, crops, ts, consistency=True)
        s = score(plain, curve)
        rows.append({"members": n, "bd_msssim_db_vs_plain_jpeg": s["bd_msssim_db"],
                     "bd_psnr_vs_plain_jpeg": s["bd_psnr"], "network_seconds": round(timed.seconds, 1),
                     "curve": curve})
        print(f"{n} member(s): MS-SSIM dB {s['bd_msssim_db']:+.2f}%  PSNR {s['bd_psnr']:+.2f}%  "
              f"network {timed.seconds:.1f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "reproduce": f".venv/bin/python -m bench.experiments.try_ensemble --model {args.model} --tables "
                     f"{args.tables} --members {args.members} --crops {args.crops}",
        "model": args.model, "tables": args.tables, "crops": len(crops),
        "crop_size": list(crops[0].shape[:2]), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
