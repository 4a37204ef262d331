"""Summaries of benchmark rows: CompressAI JSON, CSV, BD-rate report, rate-quality plots."""

from __future__ import annotations

import csv
import json
import math
import platform
import warnings
from pathlib import Path

import numpy as np

from .. import __version__
from ..utils.metrics import db

BASELINE = "jpeg"


def curve(rows: list[dict], method: str, qualities) -> dict:
    """Means over images per quality, in CompressAI's result format (plus our extra keys)."""
    out = {k: [] for k in ("quality", "bpp", "psnr-rgb", "ms-ssim-rgb", "ms-ssim-db", "ssim",
                           "encoding_time", "decoding_time")}
    for q in qualities:
        rs = [r for r in rows if r["method"] == method and r["quality"] == q]
        if not rs:
            continue
        ms = float(np.mean([r["msssim"] for r in rs]))
        out["quality"].append(q)
        out["bpp"].append(float(np.mean([r["bpp"] for r in rs])))
        out["psnr-rgb"].append(float(np.mean([r["psnr"] for r in rs])))
        out["ms-ssim-rgb"].append(ms)
        out["ms-ssim-db"].append(db(ms))
        out["ssim"].append(float(np.mean([r["ssim"] for r in rs])))
        out["encoding_time"].append(float(np.mean([r["encode_s"] for r in rs])))
        out["decoding_time"].append(float(np.mean([r["decode_s"] for r in rs])))
    return out


def bd_rate(anchor: dict, test: dict, key: str) -> float | None:
    """BD-rate in % (PCHIP, `bjontegaard`), over the overlapping quality range; None if none."""
    import bjontegaard as bd

    def prep(c):  # repeated points (e.g. auto picking one file at two qualities) carry nothing
        pts = sorted(set(zip(c[key], c["bpp"])))
        d, r = [p[0] for p in pts], [p[1] for p in pts]
        return r, d

    ra, da = prep(anchor)
    rt, dt = prep(test)
    try:
        with warnings.catch_warnings():  # its "do not overlap" names no method: the report says
            warnings.simplefilter("ignore")
            v = bd.bd_rate(ra, da, rt, dt, method="pchip", require_matching_points=False,
                           min_overlap=0.2)
    except Exception:
        return None
    return None if v is None or not math.isfinite(v) else float(v)


def load_anchor_curves(anchors: Path) -> dict[str, dict]:
    """Published points (CompressAI format) with MS-SSIM dB added, by file stem."""
    from ..errors import CodecError

    out = {}
    for p in sorted(Path(anchors).glob("*.json")):
        try:
            d = json.loads(p.read_text())
        except ValueError as exc:
            raise CodecError(f"{p}: not JSON ({exc})") from None
        r = d.get("results") if isinstance(d, dict) else None
        if not isinstance(r, dict):
            raise CodecError(f"{p}: not a CompressAI result file (no \"results\" object of "
                             "lists: bpp, psnr-rgb, ms-ssim-rgb, ...)")
        if "bpp" in r and "psnr-rgb" in r and "ms-ssim-rgb" in r:
            r = dict(r)
            r["ms-ssim-db"] = [db(x) for x in r["ms-ssim-rgb"]]
            out[p.stem] = {"name": d.get("name", p.stem), "results": r}
    return out


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


#: under a BD-rate table with an "n/a": why there is no number
NA_NOTE = ("n/a: no BD-rate, because the two curves overlap too little in quality (under "
           "`bjontegaard`'s min_overlap of 0.2) or not at all, or cannot be interpolated there.")


EARLIER = "an earlier run"  # rows cached before rows named the run that measured them


def _runs(rows, name: str) -> list[str]:
    """The runs that measured a method's rows (its timings are theirs)."""
    return sorted({r.get("run") or EARLIER for r in rows if r["method"] == name})


def write_outputs(rows, methods: dict, qualities, out_dir: Path, image_dir: Path,
                  anchors: Path | None, device: str = "cpu", this_run: str = "") -> dict:
    out_dir = Path(out_dir)
    # the whole command, so that the report can be traced to (and remade by) one run
    command = (f"regen-codec bench {image_dir} --out {out_dir} --methods {','.join(methods)} "
               f"--qualities {','.join(map(str, qualities))}"
               + (f" --anchors {anchors}" if anchors else "")
               + (f" --device {device}" if device != "cpu" else ""))
    curves = {name: curve(rows, name, qualities) for name in methods}
    for name, m in methods.items():
        (out_dir / f"{name}.json").write_text(json.dumps(
            {"name": name, "description": m.description, "results": curves[name]}, indent=2))
    fields = ["method", "image", "quality", "bytes", "bpp", "psnr", "msssim", "msssim_db", "ssim",
              "encode_s", "decode_s", "decode_mpx_s", "decode_peak_mb", "plain_psnr",
              "plain_msssim", "plain_msssim_db", "run"]
    with open(out_dir / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fields, extrasaction="ignore")
        w.writeheader()
        for r in sorted(rows, key=lambda r: (r["method"], r["image"], r["quality"])):
            w.writerow(r)

    base = curves[BASELINE]
    summary = {"bd_rate": {}, "regressions": {}, "gains": {}, "speed": {}}
    runs = {name: _runs(rows, name) for name in methods}
    fresh = [n for n in methods if runs[n] == [this_run]]
    where = ("measured in one run" if len(fresh) == len(methods) else
             f"{len(fresh)} of {len(methods)} methods measured in this run ({this_run or 'none'}); "
             "the others' rows come from the per-image cache of earlier runs (`cache/`, "
             "the same code and weights), with those runs' timings (see the speed table)")
    lines = [f"# Benchmark: {image_dir.name}", "",
             f"{len({r['image'] for r in rows})} images, qualities {', '.join(map(str, qualities))}; "
             f"regen-codec {__version__}, {platform.machine()}, {where}. "
             f"Reproduce: `{command}`.", "",
             f"## BD-rate against plain JPEG ({methods[BASELINE].description})", "",
             "Negative = fewer bytes for the same quality (PCHIP, `bjontegaard`, over the "
             "overlapping range).", "",
             "| method | BD-rate MS-SSIM (dB) | BD-rate PSNR | description |", "|---|---|---|---|"]
    for name, m in methods.items():
        if name == BASELINE:
            continue
        b = {"msssim_db": bd_rate(base, curves[name], "ms-ssim-db"),
             "psnr": bd_rate(base, curves[name], "psnr-rgb")}
        summary["bd_rate"][name] = b
        lines.append(f"| {name} | {_fmt(b['msssim_db'])} | {_fmt(b['psnr'])} | {m.description} |")
    if any(v is None for b in summary["bd_rate"].values() for v in b.values()):
        lines += ["", NA_NOTE]

    anchor_curves = load_anchor_curves(anchors) if anchors and Path(anchors).is_dir() else {}
    if anchor_curves:
        lines += ["", "Published anchors (CompressAI, Kodak) against the same measured JPEG curve:",
                  "", "| anchor | BD-rate MS-SSIM (dB) | BD-rate PSNR |", "|---|---|---|"]
        missing = False
        for stem, a in anchor_curves.items():
            b = [bd_rate(base, a["results"], k) for k in ("ms-ssim-db", "psnr-rgb")]
            missing = missing or None in b
            lines.append(f"| {stem} | {_fmt(b[0])} | {_fmt(b[1])} |")
        if missing:
            lines += ["", NA_NOTE]

    restorers = [n for n, m in methods.items() if m.restores_jpeg]
    if restorers:
        lines += ["", "## Regenerated against the plain decode of the same file", "",
                  "Per quality: images whose regenerated PSNR or MS-SSIM is below the plain "
                  "JPEG decode's (target 0), and the mean gain in dB.", ""]
        for name in restorers:
            lines += [f"### {name}", "", "| quality | bpp | worse (PSNR) | worse (MS-SSIM) | "
                      "PSNR gain (dB) | MS-SSIM gain (dB) |", "|---|---|---|---|---|---|"]
            reg, gain = {}, {}
            for q in qualities:
                rs = [r for r in rows if r["method"] == name and r["quality"] == q]
                if not rs:
                    continue
                wp = sum(r["psnr"] < r["plain_psnr"] for r in rs)
                wm = sum(r["msssim"] < r["plain_msssim"] for r in rs)
                gp = float(np.mean([r["psnr"] - r["plain_psnr"] for r in rs]))
                gm = float(np.mean([r["msssim_db"] - r["plain_msssim_db"] for r in rs]))
                reg[q] = {"psnr": wp, "msssim": wm, "either": sum(
                    r["psnr"] < r["plain_psnr"] or r["msssim"] < r["plain_msssim"] for r in rs)}
                gain[q] = {"psnr_db": gp, "msssim_db": gm}
                bpp = float(np.mean([r["bpp"] for r in rs]))
                lines.append(f"| {q} | {bpp:.3f} | {wp} | {wm} | {gp:+.2f} | {gm:+.2f} |")
            summary["regressions"][name] = reg
            summary["gains"][name] = gain
            lines.append("")

    lines += ["", "## Speed and memory", "",
              "Each method's timings are those of the run that measured its rows; a speed ratio "
              "is given only for rows timed in the same run as plain JPEG's. Methods that write "
              "the same searched regen files (the default pipeline packed or not, with or without "
              "the strength fit, auto) share each file's coefficient search within a run "
              "(codec.api keeps the last ones): only the first of them in the run pays for it, so "
              "the others' encode speed leaves it out.", "",
              "| method | encode MP/s | decode MP/s | decode vs plain JPEG | peak decode memory (MB) "
              "| timed in |", "|---|---|---|---|---|---|"]
    base_speed = None
    for name in methods:
        rs = [r for r in rows if r["method"] == name]
        px = sum(r["decode_mpx_s"] * r["decode_s"] for r in rs)
        enc = px / sum(r["encode_s"] for r in rs)
        dec = px / sum(r["decode_s"] for r in rs)
        base_speed = dec if name == BASELINE else base_speed
        peak = max(r["decode_peak_mb"] for r in rs)
        summary["speed"][name] = {"encode_mpx_s": enc, "decode_mpx_s": dec, "peak_mb": peak}
        same = name == BASELINE or (len(runs[name]) == 1 and runs[name] == runs[BASELINE]
                                    and runs[name] != [EARLIER])  # unnamed runs may differ
        ratio = f"{dec / base_speed:.3g}x" if base_speed and same else "n/a (other run)"
        summary["speed"][name]["runs"] = runs[name]
        timed = "this run" if runs[name] == [this_run] else "; ".join(runs[name])
        lines.append(f"| {name} | {enc:.2f} | {dec:.2f} | {ratio} | {peak:.0f} | {timed} |")
    lines += ["", "Plots: `rd_psnr.png`, `rd_msssim.png`. Per-image rows: `results.csv`.", ""]
    # the three lines a person reads first go first, under the title
    summary["headline"] = headline(summary, methods, len({r["image"] for r in rows}), qualities)
    lines[1:1] = [""] + [f"**{x}**  " for x in summary["headline"]]
    (out_dir / "report.md").write_text("\n".join(lines))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(curves, anchor_curves, out_dir)
    return summary


def plot(curves: dict, anchor_curves: dict, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for key, label, fname in (("psnr-rgb", "PSNR RGB (dB)", "rd_psnr.png"),
                              ("ms-ssim-db", "MS-SSIM (dB)", "rd_msssim.png")):
        fig, ax = plt.subplots(figsize=(7, 5))
        for name, a in anchor_curves.items():
            r = a["results"]
            ax.plot(r["bpp"], r[key], ":", lw=1, alpha=0.6, label=f"{name} (published)")
        for name, c in curves.items():
            ax.plot(c["bpp"], c[key], "o-", ms=3, lw=1.8, label=name)
        ax.set(xlabel="bits per pixel", ylabel=label, xlim=(0, 2.0))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(out_dir / fname, dpi=90)
        plt.close(fig)


def headline(summary: dict, methods: dict, n_images: int, qualities) -> list[str]:
    """Three lines a person reads first: what was compared, who won, by how much (BD-rate on
    MS-SSIM in dB against plain JPEG; PSNR's alongside)."""
    qs = sorted(qualities)
    others = [n for n in methods if n != BASELINE]
    lines = [f"compared: {len(others)} method(s) against plain JPEG ({', '.join(others) or 'none'}) "
             f"on {n_images} images at qualities {qs[0]}-{qs[-1]}"]
    ranked = sorted(((b["msssim_db"], n) for n, b in summary["bd_rate"].items()
                     if b.get("msssim_db") is not None))
    if not ranked:
        return lines + ["winner: none: no method has a BD-rate against plain JPEG (the curves "
                        "overlap too little)", "by how much: -"]
    (v, w), rest = ranked[0], ranked[1:]
    p = summary["bd_rate"][w].get("psnr")
    lines.append(f"winner: {w}, BD-rate {v:+.1f}% (MS-SSIM dB) / {_fmt(p)} (PSNR) against plain "
                 "JPEG: negative is fewer bytes for the same quality")
    if rest:
        v2, r = rest[0]
        lines.append(f"by how much: {v2 - v:.1f} points of BD-rate ahead of {r} ({v2:+.1f}%)")
    else:
        lines.append(f"by how much: {-v:.1f}% fewer bytes than plain JPEG at the same MS-SSIM")
    return lines
