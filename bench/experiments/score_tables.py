"""Score hand-picked table sets for a model, as bench/tune_tables.py scores its search steps.

For checking a few candidates (e.g. a search's near-winners under a newer model) without a
whole coordinate search: BD-rate of the restored output against standard tables under the same
network, on the held-out crops of the training pool (never Kodak), files as `encode` writes
them (codec/format/shrink.py) and output after decode's consistency step.

    .venv/bin/python -m bench.experiments.score_tables --model regen-coarse4 \
        --set regen-v1 --set luma_tilt=-0.45,chroma_gain=0.5 --out runs/x.json

A --set is a shipped set's name, or fields of codec.format.tables.TableSet changed from regen-v1
(luma_tilt, chroma_tilt, chroma_gain; subsampling as e.g. 70:4:2:0/86:4:2:2/100:4:4:4).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

from bench.tuning import evaluate, load_crops, root, score
from codec.format.shrink import shrink
from codec.format.tables import REGEN_V1, STANDARD, TABLE_SETS, TableSet
from codec.registry import load_model


def parse_set(text: str) -> TableSet:
    """A shipped set by name, or regen-v1 with some fields changed."""
    if text in TABLE_SETS:
        return TABLE_SETS[text]
    changes = {}
    for item in text.split(","):
        key, value = item.split("=", 1)
        if key == "subsampling":
            changes[key] = tuple((int(p.split(":", 1)[0]), p.split(":", 1)[1])
                                 for p in value.split("/"))
        else:
            changes[key] = float(value)
    return replace(REGEN_V1, name="candidate", summary=text, **changes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--set", dest="sets", action="append", required=True)
    ap.add_argument("--crops", type=int, default=48)
    ap.add_argument("--shared", type=Path, default=root.parent / "shared")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    model = load_model(a.model)
    crops = load_crops(a.shared, a.crops)
    post = lambda data, q: shrink(data)  # noqa: E731

    def curve(ts: TableSet) -> dict:
        return evaluate(model, crops, ts, post=post, consistency=True)

    anchor = curve(STANDARD)
    rows = []
    for text in a.sets:
        ts = parse_set(text)
        r = {"set": text, "table_set": asdict(ts), **score(anchor, curve(ts))}
        rows.append(r)
        print(f"{text}: MS-SSIM {r['bd_msssim_db']:+.2f}% PSNR {r['bd_psnr']:+.2f}% "
              f"plain {r['plain_bd_psnr_db']:+.2f} dB", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"model": a.model, "crops": len(crops), "anchor": anchor,
                                 "sets": rows, "command": " ".join(sys.argv)}, indent=1))


if __name__ == "__main__":
    main()
