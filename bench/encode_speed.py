"""Encode and decode speed of regen-codec against the codecs a user could pick instead, measured
in one run on the same pictures, so the ratios are fair: Pillow's AVIF, WebP and (with
pillow-jxl-plugin) JPEG XL encoders at their defaults, plain JPEG, and regen-codec's encode at
each effort level given (auto mode, the default; codec.encoder.effort) and its decode.

For each picture and quality the methods run in turn, the order rotated from one picture to the
next, after one untimed warm-up call of each; codec.api's caches of searched and fitted files are cleared before every regen-codec
encode, so each one pays for its whole work. Pictures are read once, outside the timing.

    .venv/bin/python -m bench.skimage_photos bench/cache/skimage-photos
    .venv/bin/python -m bench.encode_speed ../shared/data/kodak/kodim05.png \
        ../shared/data/kodak/kodim23.png bench/cache/skimage-photos/astronaut.png \
        bench/cache/skimage-photos/coffee.png --qualities 10,40 --efforts 0,1,2,3 \
        --float32-too --out bench/results/encode-speed.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image, features

import codec
from codec.encoder import maker
from codec.encoder.precision import forced, search_precision


def _pillow_encoder(fmt: str):
    def enc(rgb: np.ndarray, quality: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt, quality=quality)
        return buf.getvalue()
    return enc


def _pillow_decode(data: bytes) -> None:
    Image.open(io.BytesIO(data)).load()


def plain_methods() -> dict:
    """name -> (encode(rgb, quality) -> bytes, decode(bytes)) for the codecs installed here."""
    out = {"jpeg": (_pillow_encoder("JPEG"), _pillow_decode)}
    if features.check("webp"):
        out["webp"] = (_pillow_encoder("WEBP"), _pillow_decode)
    if features.check("avif"):
        out["avif"] = (_pillow_encoder("AVIF"), _pillow_decode)
    try:
        import pillow_jxl  # noqa: F401  (registers the JXL format)
        out["jxl"] = (_pillow_encoder("JXL"), _pillow_decode)
    except ImportError:
        pass
    return out


def _regen_encoder(effort: int, precision: str | None = None):
    """regen-codec's encode at `effort`; `precision` forces the search's arithmetic
    ($REGEN_CODEC_SEARCH_PRECISION for the call), None leaves codec.encoder.precision's choice."""
    def enc(rgb: np.ndarray, quality: int) -> bytes:
        maker._search_memo.clear()  # each encode pays for its own search and fit
        maker._fitted.clear()
        with forced(precision):
            return codec.encode(rgb, quality=quality, effort=effort)
    return enc


def _regen_decode(data: bytes) -> None:
    codec.decode(data, device="cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--qualities", default="10,40")
    ap.add_argument("--efforts", default="0,1,2,3", help="regen-codec effort levels to time")
    ap.add_argument("--float32-too", action="store_true",
                    help="where the search would run in bfloat16, also time each searching level "
                         "with it in float32 (methods regen-codec-eN-float32)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    methods = {name: (enc, dec) for name, (enc, dec) in plain_methods().items()}
    for e in map(int, a.efforts.split(",")):
        methods[f"regen-codec-e{e}"] = (_regen_encoder(e), _regen_decode)
        if a.float32_too and e > 0 and search_precision("cpu") != "float32":
            methods[f"regen-codec-e{e}-float32"] = (_regen_encoder(e, "float32"), _regen_decode)
    names = list(methods)
    warm = np.asarray(Image.open(a.images[0]).convert("RGB"))[:64, :64]
    for enc, dec in methods.values():  # load libraries and networks outside the timing
        dec(enc(warm, 40))
    rows = []
    for i, path in enumerate(a.images):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        mp = rgb.shape[0] * rgb.shape[1] / 1e6
        for q in map(int, a.qualities.split(",")):
            order = names[i % len(names):] + names[:i % len(names)]
            for name in order:
                enc, dec = methods[name]
                t = time.perf_counter()
                data = enc(rgb, q)
                te = time.perf_counter() - t
                t = time.perf_counter()
                dec(data)
                td = time.perf_counter() - t
                row = {"image": path.name, "quality": q, "method": name, "megapixels": mp,
                       "bytes": len(data), "encode_s": te, "decode_s": td}
                rows.append(row)
                print(json.dumps(row), flush=True)
    summary = {}
    for name in names:
        r = [x for x in rows if x["method"] == name]
        mp = sum(x["megapixels"] for x in r)
        summary[name] = {"encode_mpx_s": mp / sum(x["encode_s"] for x in r),
                         "decode_mpx_s": mp / sum(x["decode_s"] for x in r)}
    if "avif" in summary:
        for name in names:  # time ratio: how many times AVIF's encode time
            summary[name]["encode_time_vs_avif"] = (summary["avif"]["encode_mpx_s"]
                                                    / summary[name]["encode_mpx_s"])
    result = {"command": "python -m bench.encode_speed " + " ".join(
                  [str(p) for p in a.images] + ["--qualities", a.qualities, "--efforts", a.efforts]
                  + ["--float32-too"] * a.float32_too),
              "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": f"{platform.node()} {platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
                         f"coefficient search in {search_precision('cpu')}",
              "regen_codec": codec.__version__, "summary": summary, "rows": rows}
    for name, s in summary.items():
        print(f"{name:18s} encode {s['encode_mpx_s']:8.3f} MP/s  decode {s['decode_mpx_s']:8.2f} MP/s"
              + (f"  encode time {s['encode_time_vs_avif']:.1f}x AVIF's" if "encode_time_vs_avif" in s else ""))
    if a.out:
        a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
