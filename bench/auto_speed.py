"""What auto's step 3 (codec.encoder.auto: the kept comrec file searched, its quality stepped down) costs
in encode time and saves in bytes: auto.choose with and without it on the same pictures in one
run, alternating which goes first, after a first run (a whole match-0.4 encode) that makes the
regen file both share (its search is kept by codec.api), at low qualities where comrec wins.
Pictures: scikit-image's photos (bench/skimage_photos.py), in neither the pool nor Kodak.

    .venv/bin/python -m bench.skimage_photos bench/cache/skimage-photos
    .venv/bin/python -m bench.auto_speed bench/cache/skimage-photos --qualities 5,10 \
        --out bench/results/auto-speed.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from codec.encoder import auto
from codec.encoder.options import EncodeOptions
from codec.io.imageio import load_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", type=Path)
    ap.add_argument("--qualities", default="5,10")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    rows = []
    for i, p in enumerate(sorted(a.images.glob("*.png"))):
        src = load_image(p)
        for q in map(int, a.qualities.split(",")):
            r = {"image": p.name, "quality": q, "megapixels": src.size[0] * src.size[1] / 1e6}
            # first: the regen file and its search, which both share (codec.encoder.maker keeps it); its
            # time is a whole match-0.4 encode, to which step 3 adds step3_s - match_s
            t = time.perf_counter()
            auto.choose(src, EncodeOptions(quality=q), search_comrec=False)
            r["first_s"] = time.perf_counter() - t
            order = (True, False) if i % 2 == 0 else (False, True)
            for step3 in order:
                t = time.perf_counter()
                c = auto.choose(src, EncodeOptions(quality=q), search_comrec=step3)
                k = "step3" if step3 else "match"
                r[f"{k}_s"], r[f"{k}_bytes"], r[f"{k}_mode"] = time.perf_counter() - t, len(c.data), c.mode
            rows.append(r)
            print(json.dumps(r), flush=True)
    comrec = [r for r in rows if r["match_mode"] == "comrec"]
    summary = {
        "images": len({r["image"] for r in rows}), "rows": len(rows), "comrec_rows": len(comrec),
        # whole encodes: the first run's time, plus step 3's extra where it ran
        "encode_ratio_comrec": (float(np.sum([r["first_s"] + r["step3_s"] - r["match_s"] for r in comrec])
                                      / np.sum([r["first_s"] for r in comrec])) if comrec else None),
        "step3_extra_s_per_mp_comrec": (float(np.sum([r["step3_s"] - r["match_s"] for r in comrec])
                                              / np.sum([r["megapixels"] for r in comrec])) if comrec else None),
        "mean_bytes_ratio_comrec": (float(np.mean([r["step3_bytes"] / r["match_bytes"] for r in comrec]))
                                    if comrec else None),
        "machine": f"{platform.machine()}, {platform.node()}", "command": " ".join(sys.argv)}
    print(json.dumps(summary, indent=1))
    if a.out:
        a.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
