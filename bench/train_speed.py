"""Training speed here: steps per second of `train regen`'s step in float32 and with bf16
autocast (`--amp`), both in one run on the same batches, network and machine; reports the ratio.

Each step is timed in two parts: making the batch (JPEG coding, coefficients for the
consistency step; what `--workers` moves to other processes) and the network's forward,
projection, loss, backward and optimizer step.

    regen-codec train pack --data ../shared/data/train/bsds432 ... --out packs/regen-160.npz
    .venv/bin/python -m bench.train_speed [--pack packs/regen-160.npz]  -> bench/results/train-speed.json
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from pathlib import Path

import torch

from codec.format.tables import DEFAULT_TABLES, get_table_set
from codec.regen.croppack import read_pack
from codec.regen.loader import batch_maker
from codec.regen.train import restoration_loss, restore, to_tensor
from codec.registry import DEFAULT_MODEL, load_model

root = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pack", type=Path, default=root / "packs/regen-160.npz")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--out", type=Path, default=root / "bench/results/train-speed.json")
    a = ap.parse_args()
    if not a.pack.is_file():
        sys.exit(f"no crop pack at {a.pack}: make one with `regen-codec train pack` (see the docstring)")
    pool, _, _ = read_pack(a.pack)
    make = batch_maker(pool, a.batch, 0, 0, (get_table_set(DEFAULT_TABLES),), 0.5, a.patch,
                       coefficients=True)
    t0 = time.perf_counter()
    batches = [make(s) for s in range(a.steps + 3)]
    make_s = (time.perf_counter() - t0) / len(batches)
    base = load_model(a.model)
    rows = {}
    for amp in (False, True):
        net = copy.deepcopy(base).train().requires_grad_(True)  # load_model freezes its copy
        opt = torch.optim.Adam(net.parameters(), lr=1e-5)
        for i, b in enumerate(batches):
            if i == 3:  # three warm-up steps
                t0 = time.perf_counter()
            x, y = to_tensor(b.coded), to_tensor(b.clean)
            loss = restoration_loss(restore(net, x, torch.from_numpy(b.cond), b.coefs, amp), y, 0.5)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        step_s = (time.perf_counter() - t0) / a.steps
        rows["amp" if amp else "float32"] = {"network_step_s": round(step_s, 4),
                                             "steps_per_s_with_batch_making": round(1 / (step_s + make_s), 3)}
        print(f"{'bf16 autocast' if amp else 'float32'}: network step {step_s * 1000:.0f} ms, "
              f"{1 / (step_s + make_s):.2f} steps/s with batch making", flush=True)
    ratio = rows["float32"]["network_step_s"] / rows["amp"]["network_step_s"]
    out = {"model": a.model, "batch": a.batch, "patch": a.patch, "steps": a.steps,
           "consistency": True, "batch_making_s": round(make_s, 4), "results": rows,
           "network_speedup_amp": round(ratio, 3), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "machine": platform.machine(),
           "processor": platform.processor(),
           "reproduce": ".venv/bin/python -m bench.train_speed"}
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"batch making {make_s * 1000:.0f} ms; bf16 autocast network step {ratio:.2f}x faster; "
          f"wrote {a.out}")


if __name__ == "__main__":
    main()
