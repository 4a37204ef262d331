"""Write the published tables from the committed benchmark results, so no figure is typed by hand.

- README.md, between `<!-- headline-table -->` markers: the default pipeline, its packed form and
  `--effort 0` against WebP, AVIF and JPEG XL, on Kodak and on the held-out photos
  (BD-rate against plain JPEG, from each run's summary.json);
- README.md, between `<!-- speed-table -->` markers: each effort level's encode speed (from
  bench/results/encode-speed.json: bench/encode_speed.py, one run, same pictures), its BD-rate
  on Kodak and the held-out photos and its share of the search's gain (from summary.json), then
  the other codecs' encode and decode speed from the same run;
- docs/benchmarks.md, between `<!-- kodak-table -->` and `<!-- heldout-table -->` markers: the
  full BD-rate tables of bench/results/kodak/report.md and bench/results/heldout-photos/report.md.

Run after `bench/run_kodak.sh` or `bench/run_heldout_photos.sh`:

    .venv/bin/python -m bench.update_docs
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from codec.encoder import effort as levels

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SETS = {"Kodak": RESULTS / "kodak", "held-out photos": RESULTS / "heldout-photos"}
#: (label, method key in summary.json) of the README's headline table, in order
HEADLINE = [
    (f"**regen-codec** (default: `auto`, effort {levels.CPU_DEFAULT})", "auto"),
    ("**regen-codec**, packed as JPEG XL (`--pack jxl`)", "auto+jxl"),
    (f"regen-codec `--effort {levels.LEVELS[-1].number}` (slowest)", f"auto-e{levels.LEVELS[-1].number}"),
    ("regen-codec `--effort 0` (fastest)", "auto-e0"),
    ("WebP (Pillow defaults)", "webp"),
    ("AVIF (Pillow defaults)", "avif"),
    ("JPEG XL (lossy, libjxl effort 7)", "jxl"),
]


def _pick(bd: dict, key: str) -> tuple[dict | None, bool]:
    """(`bd`'s row of method `key`, else of its `-float32` twin: the same search in float32, where
    the run in this CPU's own arithmetic is not measured yet; whether it is the twin)."""
    if key in bd:
        return bd[key], False
    return bd.get(f"{key}-float32"), f"{key}-float32" in bd


def _cell(bd: dict, key: str) -> str:
    row, twin = _pick(bd, key)
    if row is None:
        return "not measured"
    return f"{row['msssim_db']:.1f}% / {row['psnr']:.1f}%" + (" (search in float32)" if twin else "")


def headline() -> str:
    bds = {name: json.loads((d / "summary.json").read_text())["bd_rate"] for name, d in SETS.items()}
    lines = ["| codec | " + " | ".join(SETS) + " |", "|---|" + "---|" * len(SETS)]
    for label, key in HEADLINE:
        lines.append(f"| {label} | " + " | ".join(_cell(bd, key) for bd in bds.values()) + " |")
    return "\n".join(lines)


#: (label, method key in encode-speed.json) of the other codecs in the README's speed table
SPEED = [
    ("AVIF (Pillow defaults)", "avif"),
    ("JPEG XL (libjxl effort 7)", "jxl"),
    ("WebP (Pillow defaults)", "webp"),
    ("plain JPEG (Pillow)", "jpeg"),
]


def _bench_key(number: int) -> str:
    """The benchmark method of effort level `number` in the default pipeline (auto mode)."""
    return "auto" if number == levels.CPU_DEFAULT else f"auto-e{number}"


def _share(bd: dict, key: str, metric: str) -> str:
    """How much of the slowest level's BD-rate gain over level 0 the method `key` keeps."""
    best, none, row = _pick(bd, _bench_key(levels.LEVELS[-1].number))[0], bd.get("auto-e0"), _pick(bd, key)[0]
    if row is None or best is None or none is None or best[metric] == none[metric]:
        return "-"
    return f"{round((row[metric] - none[metric]) / (best[metric] - none[metric]) * 100)}%"


def speed() -> str:
    run = json.loads((RESULTS / "encode-speed.json").read_text())
    bds = {name: json.loads((d / "summary.json").read_text())["bd_rate"] for name, d in SETS.items()}
    images = sorted({r["image"] for r in run["rows"]})
    qualities = sorted({r["quality"] for r in run["rows"]})
    lines = ["| `--effort` | encode MP/s | encode time, x AVIF's | "
             + " | ".join(f"BD-rate, {n}" for n in SETS) + " | "
             + " | ".join(f"share of the gain, {n}" for n in SETS) + " |",
             "|---|---|---|" + "---|" * 2 * len(SETS)]
    for lv in levels.LEVELS:
        s = run["summary"].get(f"regen-codec-e{lv.number}")
        key = _bench_key(lv.number)
        label = f"{lv.number} {lv.name}" + (" (default)" if lv.number == levels.CPU_DEFAULT else "")
        speed_cells = (f"{s['encode_mpx_s']:.3g} | {s['encode_time_vs_avif']:.2g}" if s
                       else "not measured | -")
        lines.append(f"| {label} | {speed_cells} | "
                     + " | ".join(_cell(bd, key) for bd in bds.values()) + " | "
                     + " | ".join(f"{_share(bd, key, 'msssim_db')} / {_share(bd, key, 'psnr')}"
                                  for bd in bds.values()) + " |")
    twins = [lv for lv in levels.LEVELS
             if all(_bench_key(lv.number) in bd and f"{_bench_key(lv.number)}-float32" in bd
                    for bd in bds.values())]
    if twins:
        lines += ["", "BD-rate with the search in float32 (the files a CPU without native bfloat16 "
                  "makes; the `-float32` rows of the same benchmarks): " + "; ".join(
                      f"level {lv.number} " + ", ".join(
                          f"{_cell(bd, _bench_key(lv.number) + '-float32')} ({n})"
                          for n, bd in bds.items()) for lv in twins) + "."]
    f32 = [(lv, run["summary"][f"regen-codec-e{lv.number}-float32"]) for lv in levels.LEVELS
           if f"regen-codec-e{lv.number}-float32" in run["summary"]]
    if f32:
        lines += ["", "The search in float32 instead (as on CPUs without native bfloat16; same run): "
                  + ", ".join(f"level {lv.number} {s['encode_mpx_s']:.3g} MP/s "
                              f"({s['encode_time_vs_avif']:.2g}x AVIF's time)" for lv, s in f32)
                  + "."]
    decode = [v["decode_mpx_s"] for k, v in run["summary"].items() if k.startswith("regen-codec")]
    lines += ["", "| codec | encode MP/s | encode time, x AVIF's | decode MP/s |", "|---|---|---|---|",
              f"| regen-codec (every level) | see above | | {min(decode):.3g}-{max(decode):.3g} |"]
    for label, key in SPEED:
        s = run["summary"].get(key)
        if s is None:
            continue
        lines.append(f"| {label} | {s['encode_mpx_s']:.3g} | {s['encode_time_vs_avif']:.2g} | "
                     f"{s['decode_mpx_s']:.3g} |")
    lines += ["", f"Speed: one run on {run['machine']}, CPU only: {', '.join(images)} at "
              f"qualities {', '.join(map(str, qualities))}, each codec in turn on each picture "
              f"(`{run['command']}`, [results](bench/results/encode-speed.json)). regen-codec's "
              "decode includes the network, the consistency step and the strength. BD-rate: "
              "against plain JPEG, MS-SSIM (dB) / PSNR, the default pipeline (auto mode) at each "
              "level; share of the gain: how much of level "
              f"{levels.LEVELS[-1].number}'s gain over level 0 the level keeps."]
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
