"""Write the published tables from the committed benchmark results, so no figure is typed by hand.

- README.md, between `<!-- headline-table -->` markers: the default pipeline, its packed form and
  `--effort 0` against WebP, AVIF and JPEG XL, on Kodak and on the held-out photos
  (BD-rate against plain JPEG, from each run's summary.json);
- README.md, between `<!-- speed-table -->` markers: encode and decode speed of the same
  codecs from bench/results/encode-speed.json (bench/encode_speed.py: one run, same pictures);
- docs/benchmarks.md, between `<!-- kodak-table -->` and `<!-- heldout-table -->` markers: the
  full BD-rate tables of bench/results/kodak/report.md and bench/results/heldout-photos/report.md.

Run after `bench/run_kodak.sh` or `bench/run_heldout_photos.sh`:

    .venv/bin/python -m bench.update_docs
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SETS = {"Kodak": RESULTS / "kodak", "held-out photos": RESULTS / "heldout-photos"}
#: (label, method key in summary.json) of the README's headline table, in order
HEADLINE = [
    ("**regen-codec** (default: `auto`, effort 20)", "auto"),
    ("**regen-codec**, packed as JPEG XL (`--pack jxl`)", "auto+jxl"),
    ("regen-codec `--effort 0` (fast encode)", "auto-e0"),
    ("WebP (Pillow defaults)", "webp"),
    ("AVIF (Pillow defaults)", "avif"),
    ("JPEG XL (lossy, libjxl effort 7)", "jxl"),
]


def _cell(bd: dict, key: str) -> str:
    row = bd.get(key)
    if row is None:
        return "not measured"
    return f"{row['msssim_db']:.1f}% / {row['psnr']:.1f}%"


def headline() -> str:
    bds = {name: json.loads((d / "summary.json").read_text())["bd_rate"] for name, d in SETS.items()}
    lines = ["| codec | " + " | ".join(SETS) + " |", "|---|" + "---|" * len(SETS)]
    for label, key in HEADLINE:
        lines.append(f"| {label} | " + " | ".join(_cell(bd, key) for bd in bds.values()) + " |")
    return "\n".join(lines)


#: (label, method key in encode-speed.json) of the README's speed table, in order
SPEED = [
    ("**regen-codec** (default, effort 20)", "regen-codec-e20"),
    ("regen-codec `--effort 0`", "regen-codec-e0"),
    ("AVIF (Pillow defaults)", "avif"),
    ("JPEG XL (libjxl effort 7)", "jxl"),
    ("WebP (Pillow defaults)", "webp"),
    ("plain JPEG (Pillow)", "jpeg"),
]


def speed() -> str:
    run = json.loads((RESULTS / "encode-speed.json").read_text())
    images = sorted({r["image"] for r in run["rows"]})
    qualities = sorted({r["quality"] for r in run["rows"]})
    lines = ["| codec | encode MP/s | encode time, x AVIF's | decode MP/s |", "|---|---|---|---|"]
    for label, key in SPEED:
        s = run["summary"].get(key)
        if s is None:
            continue
        lines.append(f"| {label} | {s['encode_mpx_s']:.3g} | {s['encode_time_vs_avif']:.2g} | "
                     f"{s['decode_mpx_s']:.3g} |")
    lines += ["", f"One run on {run['machine']}, CPU only: {', '.join(images)} at "
              f"qualities {', '.join(map(str, qualities))}, each codec in turn on each picture "
              f"(`{run['command']}`, [results](bench/results/encode-speed.json)). regen-codec's "
              "decode includes the network, the consistency step and the strength."]
    return "\n".join(lines)


def report_table(folder: Path) -> str:
    report = (folder / "report.md").read_text()
    return re.search(r"\| method \| BD-rate MS-SSIM.*?\n\n", report, re.S).group(0).strip()


def fill(path: Path, marker: str, text: str) -> None:
    doc = path.read_text()
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if start not in doc or end not in doc:
        raise SystemExit(f"{path.relative_to(ROOT)} has no {start} ... {end} markers")
    head, rest = doc.split(start, 1)
    path.write_text(f"{head}{start}\n{text}\n{end}{rest.split(end, 1)[1]}")
    print(f"{path.relative_to(ROOT)}: {marker} updated")


def main() -> None:
    fill(ROOT / "README.md", "headline-table", headline())
    fill(ROOT / "README.md", "speed-table", speed())
    fill(ROOT / "docs" / "benchmarks.md", "kodak-table", report_table(SETS["Kodak"]))
    fill(ROOT / "docs" / "benchmarks.md", "heldout-table", report_table(SETS["held-out photos"]))


if __name__ == "__main__":
    main()
