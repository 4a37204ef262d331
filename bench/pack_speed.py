"""JPEG XL packing of regen-codec files: size saving, and pack / unpack speed in MB/s.

Every image of a folder (default: Kodak) is encoded at qualities 20, 50 and 80, packed and
unpacked (bit-exact, checked); speeds are JPEG megabytes per second on this machine.
Run: .venv/bin/python -m bench.pack_speed [IMAGE_DIR]  ->  bench/results/pack-speed.json
"""

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import codec
from codec.format.pack import pack, unpack


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    image_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared/data/kodak"
    rows = []
    for p in sorted(image_dir.glob("*.png")):
        img = np.asarray(Image.open(p).convert("RGB"))
        for q in (20, 50, 80):
            jpeg = codec.encode(img, quality=q)
            t = time.perf_counter()
            packed = pack(jpeg)  # includes the verifying unpack
            t_pack = time.perf_counter() - t
            t = time.perf_counter()
            back = unpack(packed)
            t_unpack = time.perf_counter() - t
            assert back == jpeg
            rows.append((q, len(jpeg), len(packed), t_pack, t_unpack))
    res = {"images": len(rows) // 3, "qualities": [20, 50, 80], "per_quality": {}}
    for q in (20, 50, 80):
        rs = [r for r in rows if r[0] == q]
        jb, pb = sum(r[1] for r in rs), sum(r[2] for r in rs)
        res["per_quality"][q] = {"jpeg_bytes": jb, "packed_bytes": pb,
                                 "saving_pct": round(100 * (1 - pb / jb), 2)}
    jb = sum(r[1] for r in rows)
    res.update(
        saving_pct=round(100 * (1 - sum(r[2] for r in rows) / jb), 2),
        pack_mb_s=round(jb / 1e6 / sum(r[3] for r in rows), 1),
        unpack_mb_s=round(jb / 1e6 / sum(r[4] for r in rows), 1),
        bit_exact=True, machine=f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        reproduce=".venv/bin/python -m bench.pack_speed")
    out = root / "bench" / "results" / "pack-speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
