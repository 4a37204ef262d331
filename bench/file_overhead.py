"""How many bytes file format 2 and the lossless shrink save, per mode and quality.

For each image and quality, the same JPEG three ways: as format 1 wrote it (Pillow's file plus
the JSON metadata segment with full hashes), with format 2's binary segment, and as `encode`
writes it now (format 2, then codec/format/shrink.py). Decoded pixels are the same in all three
(checked), so the byte change is the whole rate change.

    .venv/bin/python -m bench.file_overhead [IMAGE_DIR]   (default ../shared/data/kodak)
    -> bench/results/file-overhead.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from codec.comcnn.infer import compact
from codec.encoder.maker import file_maker
from codec.format.container import SIGNATURE, read_meta, write_meta
from codec.format.jpeg import decode_jpeg, encode_jpeg
from codec.format.tables import get_table_set
from codec.io.imageio import load_image
from codec.registry import DEFAULT_COMREC, find_model, load_model

root = Path(__file__).resolve().parents[1]

QUALITIES = {"regen": [5, 10, 20, 40, 60, 80, 95], "comrec": [1, 3, 5, 10, 15, 20]}


def format1_segment(meta) -> int:
    """Bytes of the format 1 segment (marker, length, signature, JSON with full hashes)."""
    d = asdict(meta)
    d["format_version"] = 1
    d["model_sha256"] = find_model(meta.model_id).sha256
    if meta.mode == "comrec":
        d["extra"] = {"comcnn_id": meta.extra["comcnn_id"],
                      "comcnn_sha256": find_model(meta.extra["comcnn_id"]).sha256}
    return 4 + len(SIGNATURE) + len(json.dumps(d, separators=(",", ":"), sort_keys=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="?", type=Path, default=root.parent / "shared/data/kodak")
    ap.add_argument("--out", type=Path, default=root / "bench/results/file-overhead.json")
    a = ap.parse_args()
    files = sorted(p for p in a.images.iterdir() if p.suffix.lower() == ".png")
    ts = get_table_set("regen-v1")
    com = load_model(f"{DEFAULT_COMREC}-com")
    sums = {m: {q: np.zeros(3) for q in qs} for m, qs in QUALITIES.items()}
    progressive = {m: {q: 0 for q in qs} for m, qs in QUALITIES.items()}
    for path in tqdm(files, desc="images"):
        src = load_image(path)
        coded = {"regen": src.rgb, "comrec": compact(com, src.rgb)}  # what each mode JPEG-codes
        for mode, qs in QUALITIES.items():
            make = file_maker(src, mode)
            for q in qs:
                now = make(q)
                meta = read_meta(now)
                # the same JPEG before the shrink, as Pillow writes it
                plain = encode_jpeg(Image.fromarray(coded[mode]), q, ts.subsampling_for(q),
                                    optimize=True, icc_profile=src.icc_profile, exif=src.exif,
                                    qtables=ts.qtables(q))
                assert np.array_equal(decode_jpeg(plain)[0], decode_jpeg(now)[0])
                v2 = len(write_meta(plain, meta))
                sums[mode][q] += (len(plain) + format1_segment(meta), v2, len(now))
                progressive[mode][q] += b"\xff\xc2" in now[:now.index(b"\xff\xda")]
    n = len(files)
    result = {"images": str(a.images), "count": n, "modes": {}}
    for mode, qs in QUALITIES.items():
        rows = []
        for q in qs:
            f1, f2, now = sums[mode][q] / n
            rows.append({"quality": q, "format1_bytes": round(f1, 1), "format2_bytes": round(f2, 1),
                         "shrunk_bytes": round(now, 1), "format2_saving": round(1 - f2 / f1, 4),
                         "total_saving": round(1 - now / f1, 4),
                         "progressive_files": progressive[mode][q]})
            print(f"{mode:6s} q{q:<3d} format 1 {f1:9.0f} B  format 2 {f2:9.0f} B ({f2 / f1 - 1:+.1%})"
                  f"  shrunk {now:9.0f} B ({now / f1 - 1:+.1%}), progressive {progressive[mode][q]}/{n}")
        result["modes"][mode] = rows
    a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
