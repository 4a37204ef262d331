"""Peak memory and time of `regen-codec decode` on a 50-megapixel photo, on the CPU.

A mosaic of scikit-image's sample photos (8192x6144) is encoded at quality 40, then decoded by
the real command in a child process whose peak resident memory is read from the kernel.
Run: .venv/bin/python -m bench.memory_large  ->  bench/results/memory-50mp.json
"""

import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from skimage import data

import codec

W, H = 8192, 6144


def mosaic() -> np.ndarray:
    tiles = [data.astronaut(), data.coffee()[:, :512], data.chelsea()[:, :451],
             data.rocket()[:, :512]]
    out = np.empty((H, W, 3), np.uint8)
    k = 0
    for y in range(0, H, 256):
        for x in range(0, W, 256):
            t = tiles[k % len(tiles)]
            k += 1
            ty, tx = (k * 37) % (t.shape[0] - 256), (k * 53) % (t.shape[1] - 256)
            out[y:y + 256, x:x + 256] = t[ty:ty + 256, tx:tx + 256]
    return out


def main() -> None:
    out_json = Path(__file__).parent / "results" / "memory-50mp.json"
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "big.jpg"
        src.write_bytes(codec.encode(mosaic(), quality=40))
        cmd = [sys.executable, "-m", "codec", "decode", str(src), "-o", str(Path(d) / "big.png"),
               "--device", "cpu"]
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    res = {"command": "regen-codec decode big.jpg -o big.png --device cpu",
           "pixels": W * H, "megapixels": W * H / 1e6, "peak_rss_mb": round(peak_mb),
           "wall_s": round(wall, 1), "megapixels_per_s": round(W * H / 1e6 / wall, 2),
           "target_peak_mb": 4096, "meets_target": peak_mb < 4096,
           "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
           "reproduce": ".venv/bin/python -m bench.memory_large"}
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
