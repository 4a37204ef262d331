"""Behaviour under load: one default encode alone and beside a second identical encode, with
PyTorch's own thread count ("before") and with codec.batch.threads' count ("after"), in one run.

Each encode runs in its own process (as two users' commands would): the process imports the
codec, sets its threads, waits for a common start time and times `codec.encode(image, quality)`
at the defaults (auto mode, the default effort; $REGEN_CODEC_EFFORT is cleared). Cases:

    alone/torch-default   one encode, PyTorch's default threads (before)
    alone/codec           one encode, codec.batch.threads.threads_for(1) (after; one thread where the
                          machine is saturated)
    pair/torch-default    two at once, each with PyTorch's default threads (before; also what two
                          independent commands still do where no quota limits them)
    pair/codec-jobs2      two at once, each with threads_for(2): what a `--jobs 2` batch's workers
                          now get (and what REGEN_CODEC_THREADS=1 gives on 2 cores)
    alone/1-thread        one encode with one thread: on a machine busy with other work, does
                          taking fewer threads than the usable cores pay? (not done automatically)
    alone/codec-passive   as alone/codec and pair/torch-default, with OMP_WAIT_POLICY=PASSIVE:
    pair/torch-default-passive   OpenMP's idle threads sleep at once instead of spinning, so two
                          commands that each take every core should lose less to each other

and reports each pair's mean time over the matching alone time (2.0 = the two jobs share the
cores perfectly; more = oversubscription). The machine's load average is recorded before and
after: on a shared machine other work moves every figure.

    .venv/bin/python -m bench.load_speed --image ../shared/data/kodak/kodim05.png
        -> bench/results/load-speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

root = Path(__file__).resolve().parents[1]


def worker(image: Path, quality: int, threads: str, start_at: float, crop: int) -> None:
    """Run in a child process: set the threads, wait for `start_at`, time one encode, print JSON."""
    import numpy as np
    import torch
    from PIL import Image

    import codec
    from codec.batch.threads import set_threads

    threads = threads.removesuffix("+passive")  # the environment did that part (run_case)
    if threads != "torch-default":
        set_threads(int(threads))
    rgb = np.asarray(Image.open(image).convert("RGB"))
    if crop:  # the middle crop x crop pixels
        y, x = (rgb.shape[0] - crop) // 2, (rgb.shape[1] - crop) // 2
        rgb = np.ascontiguousarray(rgb[max(0, y):max(0, y) + crop, max(0, x):max(0, x) + crop])
    while time.time() < start_at:
        time.sleep(0.01)
    late = time.time() - start_at
    t0 = time.perf_counter()
    data = codec.encode(rgb, quality)
    dt = time.perf_counter() - t0
    print(json.dumps({"seconds": dt, "bytes": len(data), "threads": torch.get_num_threads(),
                      "interop_threads": torch.get_num_interop_threads(),
                      "late_start_s": late}))


def run_case(image: Path, quality: int, threads: list[str], lead_s: float,
             crop: int) -> list[dict]:
    """Start one process per entry of `threads` together; their results."""
    env = {k: v for k, v in os.environ.items() if k not in ("REGEN_CODEC_EFFORT",
                                                             "REGEN_CODEC_THREADS",
                                                             "OMP_WAIT_POLICY")}
    start_at = time.time() + lead_s
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(image), str(quality), t,
                               repr(start_at), str(crop)], stdout=subprocess.PIPE, text=True,
                              env={**env, "OMP_WAIT_POLICY": "PASSIVE"} if t.endswith("+passive")
                              else env)
             for t in threads]
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode:
            sys.exit(f"worker failed ({p.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, image, q, threads, start_at, crop = sys.argv
        worker(Path(image), int(q), threads, float(start_at), int(crop))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path, default=root.parent / "shared/data/kodak/kodim05.png")
    ap.add_argument("--quality", type=int, default=40)
    ap.add_argument("--crop", type=int, default=0,
                    help="encode the middle CROP x CROP pixels only (0: the whole picture)")
    ap.add_argument("--lead", type=float, default=12.0,
                    help="seconds the workers get to import before the common start")
    ap.add_argument("--shared-machine", default="yes",
                    help="whether other jobs run on this machine meanwhile (recorded as given)")
    ap.add_argument("--out", type=Path, default=root / "bench/results/load-speed.json")
    a = ap.parse_args()

    from codec.batch.threads import threads_for

    os.environ.pop("REGEN_CODEC_THREADS", None)
    one, two = str(threads_for(1)), str(threads_for(2))
    load0 = os.getloadavg()
    cases = {
        "alone/torch-default": ["torch-default"],
        "alone/codec": [one],
        "pair/torch-default": ["torch-default"] * 2,
        "pair/codec-jobs2": [two] * 2,
        "alone/1-thread": ["1"],
        "alone/codec-passive": [one + "+passive"],
        "pair/torch-default-passive": ["torch-default+passive"] * 2,
    }
    res_cases: dict = {}

    def mean(name: str) -> float | None:
        s = res_cases.get(name, {}).get("seconds")
        return sum(s) / len(s) if s else None

    def ratio(a_: str, b_: str) -> float | None:
        x, y = mean(a_), mean(b_)
        return round(x / y, 3) if x and y else None

    for name, threads in cases.items():
        r = run_case(a.image, a.quality, threads, a.lead, a.crop)
        res_cases[name] = {"seconds": [round(x["seconds"], 2) for x in r],
                           "threads": [x["threads"] for x in r],
                           "interop_threads": [x["interop_threads"] for x in r],
                           "bytes": [x["bytes"] for x in r],
                           "load_average_at_end": [round(v, 2) for v in os.getloadavg()]}
        print(name, res_cases[name], flush=True)
        write(a, res_cases, ratio, one, two, load0)


def write(a, res_cases: dict, ratio, one: str, two: str, load0) -> None:
    """The results so far (written after each case: a run cut short keeps what it measured)."""
    import torch

    from codec.batch.threads import affinity_cores, cgroup_cores, usable_cores
    from codec.encoder.effort import default_level
    from codec.registry import DEFAULT_MODE

    res = {
        "image": a.image.name, "crop": a.crop or None, "quality": a.quality, "mode": DEFAULT_MODE,
        "effort": default_level("cpu"), "cases": res_cases,
        "pair_over_alone": {
            "before (torch default threads)": ratio("pair/torch-default", "alone/torch-default"),
            "after, --jobs 2 workers (threads_for(2) each)": ratio("pair/codec-jobs2",
                                                                   "alone/codec"),
            "torch default threads, OMP_WAIT_POLICY=PASSIVE": ratio(
                "pair/torch-default-passive", "alone/codec-passive"),
        },
        "alone_1_thread_over_alone_codec": ratio("alone/1-thread", "alone/codec"),
        "alone_passive_over_alone_codec": ratio("alone/codec-passive", "alone/codec"),
        "cores": {"os.cpu_count": os.cpu_count(), "affinity": affinity_cores(),
                  "cgroup_quota_cores": cgroup_cores(), "usable": usable_cores(),
                  "torch_default_threads": torch.get_num_threads(),
                  "threads_for_1": int(one), "threads_for_2": int(two)},
        "load_average_before": [round(x, 2) for x in load0],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "shared_machine": a.shared_machine,
        "machine": platform.machine(), "torch": torch.__version__,
        "reproduce": f".venv/bin/python -m bench.load_speed --image {a.image} --quality {a.quality}"
                     f" --crop {a.crop}",
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res["pair_over_alone"], indent=1))


if __name__ == "__main__":
    main()
