"""Speed of the device batch route on whatever device is here: the JPEG simulator alone
(codec/regen/jpegsim.py) and whole batches (codec/regen/devicebatch.py), batch 128 of 128-px
crops, against Pillow coding the same batch in this one process.

    python -m bench.jpegsim_speed [--pack PACK] [--out FILE]

Without a pack the crops are scikit-image's photos, cut.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from codec.format.tables import REGEN_V1
from codec.regen import data as D
from codec.regen import jpegsim as S
from codec.regen.devicebatch import DeviceBatches


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, dev, reps: int) -> float:
    fn()
    _sync(dev)
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    _sync(dev)
    return (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pack", default="")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.pack:
        from codec.regen.croppack import read_pack

        pool = read_pack(Path(args.pack))[0]
    else:
        from skimage import data

        p = args.patch + 16
        pool = np.stack([np.ascontiguousarray(img[y:y + p, x:x + p])
                         for img in (data.astronaut(), data.chelsea(), data.coffee())
                         for y in (0, 100) for x in (0, 100)])
    x = torch.from_numpy(pool[np.arange(args.batch) % len(pool), :args.patch, :args.patch].copy())
    x = x.permute(0, 3, 1, 2).contiguous().to(dev)
    tables = S.tables_for(30)[0]
    res = {"device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
           "threads": torch.get_num_threads(), "batch": args.batch, "patch": args.patch,
           "torch": torch.__version__}
    res["jpegsim_roundtrip_s"] = _time(lambda: S.roundtrip(x, tables, "4:2:0"), dev, args.reps)
    make = DeviceBatches(pool, args.batch, 0, 0, dev, (REGEN_V1,), patch=args.patch,
                         consistency=True)
    steps = iter(range(10 ** 6))

    def batch_and_projection():  # a step's batch, and the consistency step on an output
        b = make(next(steps))
        return b.coefs(b.coded.permute(0, 3, 1, 2).float() / 255)

    res["device_batch_s"] = _time(batch_and_projection, dev, args.reps)
    imgs = pool[np.arange(args.batch) % len(pool), :args.patch, :args.patch]
    t0 = time.perf_counter()
    for img in imgs:
        D.jpeg_roundtrip(np.ascontiguousarray(img), 30, "4:2:0")
    res["pillow_one_process_s"] = time.perf_counter() - t0
    res = {k: round(v, 5) if isinstance(v, float) else v for k, v in res.items()}
    print(json.dumps(res, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
