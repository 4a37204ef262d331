"""BD-rates restricted to low rates (default: points at or below 0.35 bpp), pairwise.

The comrec targets compare curves below 0.35 bpp over their overlapping range; the general
report covers all qualities. Reads the CompressAI-format JSONs of a bench results folder and
writes report-lowrate.md and lowrate.json beside them.

    .venv/bin/python -m bench.lowrate_report bench/results/kodak-lowrate [--max-bpp 0.35]
    .venv/bin/python -m bench.lowrate_report bench/results/kodak --max-bpp 5 --name pairs
      (the same pairs over all rates: report-pairs.md, pairs.json)
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from codec.bench.report import bd_rate
from codec.format.tables import DEFAULT_TABLES
from codec.registry import DEFAULT_MODEL

ANCHORS = ("half-bicubic", "regen-fast", "jpeg")  # what every comrec model is compared with
AUTO_REGEN = f"{DEFAULT_MODEL}@{DEFAULT_TABLES}"  # the bench method of auto's regen candidate
PAIRS = [("half-bicubic", "regen-fast"), ("regen-fast", "jpeg"),
         ("auto", AUTO_REGEN), ("auto", "half-bicubic"), ("auto", "jpeg"),
         ("auto+jxl", f"{AUTO_REGEN}+jxl"),
         # the JPEG quality chosen per image (codec.encoder.allocate) against the quality asked for
         (f"{AUTO_REGEN}-alloc", AUTO_REGEN), ("jpeg-alloc", "jpeg")]


def pairs(names: set[str]) -> list[tuple[str, str]]:
    """Each comrec model against the anchors (and the newer ones against comrec-fast), then PAIRS."""
    comrec = sorted(n for n in names if n.startswith("comrec-") and "+" not in n)
    out = [(c, a) for c in comrec for a in ANCHORS]
    out += [(c, "comrec-fast") for c in comrec if c != "comrec-fast"]
    return out + PAIRS


def auto_picks(results_csv: Path, regen: str = AUTO_REGEN) -> dict | None:
    """Per quality, the images where auto kept comrec (its row differs from the regen file it
    started from), and the highest regen rate at which it did; None without both methods."""
    if not results_csv.exists():
        return None
    rows = list(csv.DictReader(results_csv.open()))
    base = {(r["image"], r["quality"]): r for r in rows if r["method"] == regen}
    auto = [r for r in rows if r["method"] == "auto" and (r["image"], r["quality"]) in base]
    if not auto:
        return None
    picks, top = {}, 0.0
    for r in auto:
        b = base[(r["image"], r["quality"])]
        comrec = r["bytes"] != b["bytes"] or abs(float(r["psnr"]) - float(b["psnr"])) > 1e-9
        picks.setdefault(int(r["quality"]), [0, 0])[1] += 1
        if comrec:
            picks[int(r["quality"])][0] += 1
            top = max(top, float(b["bpp"]))
    return {"regen": regen, "comrec_of_images_per_quality": dict(sorted(picks.items())),
            "max_regen_bpp_where_comrec_kept": top}


def below(curve: dict, max_bpp: float) -> dict:
    keep = [i for i, b in enumerate(curve["bpp"]) if b <= max_bpp]
    return {k: [curve[k][i] for i in keep] for k in ("bpp", "psnr-rgb", "ms-ssim-db")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--max-bpp", type=float, default=0.35)
    ap.add_argument("--name", default="lowrate", help="writes report-NAME.md and NAME.json")
    ap.add_argument("--reproduce", default="", help="the report's 'Reproduce' line (default: "
                    "this script's command)")
    a = ap.parse_args()
    docs = {p.stem: json.loads(p.read_text()) for p in a.results.glob("*.json")}
    curves = {name: d["results"] for name, d in docs.items() if "results" in d}
    rows = []
    for test, anchor in pairs(set(curves)):
        if test not in curves or anchor not in curves:
            continue
        t, r = below(curves[test], a.max_bpp), below(curves[anchor], a.max_bpp)
        rows.append({"test": test, "anchor": anchor, "points": [len(t["bpp"]), len(r["bpp"])],
                     "bd_msssim_db": bd_rate(r, t, "ms-ssim-db"), "bd_psnr": bd_rate(r, t, "psnr-rgb")})
    fmt = lambda v: "n/a" if v is None else f"{v:+.1f}%"  # noqa: E731
    md = [f"# Pairwise BD-rate at or below {a.max_bpp} bpp ({a.results.name}, "
          "PCHIP, overlapping range)", "",
          "| test | against | BD-rate MS-SSIM dB | BD-rate PSNR | points (test / anchor) |",
          "|---|---|---|---|---|"]
    md += [f"| {r['test']} | {r['anchor']} | {fmt(r['bd_msssim_db'])} | {fmt(r['bd_psnr'])} | "
           f"{r['points'][0]} / {r['points'][1]} |" for r in rows]
    picks = auto_picks(a.results / "results.csv")
    if picks:
        per_q = ", ".join(f"q{q} {n}/{t}"
                          for q, (n, t) in picks["comrec_of_images_per_quality"].items())
        md += ["", f"Where auto kept comrec (per quality: images / all; the rest kept the "
               f"{picks['regen']} file): {per_q}; the largest regen file it replaced was "
               f"{picks['max_regen_bpp_where_comrec_kept']:.3f} bpp."]
    md += ["", f"Reproduce: {a.reproduce}" if a.reproduce
           else f"Reproduce: `.venv/bin/python -m bench.lowrate_report {a.results} "
                f"--max-bpp {a.max_bpp} --name {a.name}`.", ""]
    (a.results / f"report-{a.name}.md").write_text("\n".join(md))
    out = {"max_bpp": a.max_bpp, "rows": rows, "auto_picks": picks}
    (a.results / f"{a.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
