"""OpenMP's waiting policy and one default encode of kodim05 (quality 40), alone and two at once,
each with PyTorch's default threads (2 here): spinning (libgomp's default), OMP_WAIT_POLICY=PASSIVE,
and GOMP_SPINCOUNT=10000, alternating. Writes bench/results/omp-wait-policy.json.

    .venv/bin/python -m bench.experiments.omp_wait
"""
import json
import os
from pathlib import Path

import bench.load_speed as L

root = Path(__file__).resolve().parents[2]
img = root.parent / "shared/data/kodak/kodim05.png"
res: dict = {}


def case(name, envextra, n):
    old = dict(os.environ)
    os.environ.update(envextra)
    try:
        r = L.run_case(img, 40, ["torch-default"] * n, 8.0, 0)
    finally:
        os.environ.clear()
        os.environ.update(old)
    res.setdefault(name, []).append([round(x["seconds"], 2) for x in r])
    print(name, res[name][-1], flush=True)


if __name__ == "__main__":
    for rep in range(3):
        case("alone/spin", {}, 1)
        case("alone/passive", {"OMP_WAIT_POLICY": "PASSIVE"}, 1)
        case("alone/spin10k", {"GOMP_SPINCOUNT": "10000"}, 1)
    for rep in range(2):
        case("pair/spin", {}, 2)
        case("pair/passive", {"OMP_WAIT_POLICY": "PASSIVE"}, 2)
        case("pair/spin10k", {"GOMP_SPINCOUNT": "10000"}, 2)
    (root / "bench/results/omp-wait-policy.json").write_text(json.dumps(
        {"command": "python -m bench.experiments.omp_wait", "seconds": res}, indent=1) + "\n")
