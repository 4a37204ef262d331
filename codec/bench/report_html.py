"""Self-contained HTML reports: what `bench --html` and `estimate --html` write.

One file, every picture inside it as a data: URI (plots as SVG, crops as lossless PNG), no
script and no request to anywhere: the page's Content-Security-Policy forbids all network
access, so it reads the same on a laptop offline, in a mail attachment or in a paper's
supplementary material. Crops of the same region, one per method, sit side by side and in a
viewer whose radio buttons flip between them in place (pure CSS), the way artefacts are seen.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..batch import compare
from ..batch.compare import crop_box, crop_of, png_data_uri
from ..batch.estimate import human_bytes, render
from ..encoder.target import Target, search
from ..format.jpeg import decode_jpeg
from ..format.pack import as_jpeg
from ..io.fileio import atomic_write, check_output
from ..io.imageio import SourceImage
from ..utils import metrics

#: the page's policy: images from data: URIs and inline styles only; nothing is fetched
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
MAX_VIEWS = 12  # views one flipper can hold (its CSS is written for this many)
_NUMBER = re.compile(r"^[-+]?(\d|\.\d|n/a$|-$)")


@dataclass
class View:
    """One method's crop in a flipper: the picture and what to say under it."""

    label: str
    uri: str  # a data: URI
    caption: str = ""


@dataclass
class CropSet:
    """The same region of one picture as each method gives it."""

    title: str
    views: list[View] = field(default_factory=list)
    note: str = ""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def write_page(out: Path, page: str, force: bool = False) -> None:
    """Write the page atomically; an existing file is kept unless `force` (codec.io.fileio)."""

    check_output(Path(out), [], force)
    atomic_write(Path(out), page.encode("utf-8"), force=force)


def svg_uri(fig) -> str:
    """A matplotlib figure as an SVG data: URI (sharp at any zoom, text kept as paths so no
    font needs to be present where the page is read)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rd_plots(curves: dict[str, dict], anchor_curves: dict | None = None) -> list[tuple[str, str]]:
    """MS-SSIM (dB) and PSNR against bits per pixel, every method (and published anchors,
    dotted): (title, SVG data URI) pairs."""
    plt = _pyplot()
    out = []
    for key, label in (("ms-ssim-db", "MS-SSIM (dB)"), ("psnr-rgb", "PSNR RGB (dB)")):
        fig, ax = plt.subplots(figsize=(7, 4.6))
        for name, a in (anchor_curves or {}).items():
            r = a["results"]
            ax.plot(r["bpp"], r[key], ":", lw=1, alpha=0.6, label=f"{name} (published)")
        for name, c in curves.items():
            if c["bpp"]:
                ax.plot(c["bpp"], c[key], "o-", ms=3, lw=1.6, label=name)
        ax.set(xlabel="bits per pixel", ylabel=label, title=f"{label} against bits per pixel")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        out.append((f"{label} against bits per pixel", svg_uri(fig)))
    return out


_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ddd}
.headline{background:#f4f7fb;border-left:4px solid #3a6ea5;padding:.6em 1em;font-size:1.05em}
.headline p{margin:.2em 0}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.plots img{max-width:100%;margin:.5em 0}
.views img{image-rendering:pixelated;display:block}
figcaption{font-size:.8em;color:#444}
.flip input{position:absolute;opacity:0}
.flip label{display:inline-block;padding:.25em .7em;margin:0 .2em .3em 0;border:1px solid #999;
border-radius:4px;cursor:pointer;background:#fafafa}
.flip input:checked+label{background:#3a6ea5;color:#fff;border-color:#3a6ea5}
.flip input:focus-visible+label{outline:2px solid #e90}
.views figure{display:none;margin:.5em 0}.views img{width:min(100%,576px);height:auto}
.flip input.all:checked~.views{display:flex;flex-wrap:wrap;gap:6px}
.flip input.all:checked~.views figure{display:block;width:160px;margin:0}
.flip input.all:checked~.views img{width:160px}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em}
.note{color:#555;font-size:.9em}
""" + "".join(
    f".flip input:nth-of-type({k + 1}):checked~.views figure:nth-of-type({k}){{display:block}}\n"
    for k in range(1, MAX_VIEWS + 1))


def page(title: str, body: list[str]) -> str:
    """A whole self-contained page around `body` (HTML fragments)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>\n"
            f"<h1>{esc(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n")


def headline_html(lines: list[str]) -> str:
    return "<div class=\"headline\">" + "".join(f"<p>{esc(x)}</p>" for x in lines) + "</div>"


def table(head: list[str], rows: list[list[object]]) -> str:
    """An HTML table; cells after the first that hold a number are right-aligned."""
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    num = ' class="num"'
    for r in rows:
        out.append("<tr>" + "".join(
            f"<td{num if k and _NUMBER.match(str(c)) else ''}>{esc(c)}</td>"
            for k, c in enumerate(r)) + "</tr>")
    return "".join(out) + "</table>"


def plots_html(plots: list[tuple[str, str]]) -> str:
    return "<div class=\"plots\">" + "".join(
        f"<figure><img class=\"plot\" alt=\"{esc(t)}\" src=\"{u}\"><figcaption>{esc(t)}"
        "</figcaption></figure>" for t, u in plots) + "</div>"


def crops_html(sets: list[CropSet]) -> str:
    """Each crop set in a viewer: every method side by side (the first radio button, checked),
    or one at a time, enlarged, flipping between them in place (radio buttons and CSS; the
    arrow keys move between them too). Each picture is in the page once."""
    out = []
    for k, cs in enumerate(sets):
        views = cs.views[:MAX_VIEWS]
        out.append(f"<section class=\"cropset\"><h3>{esc(cs.title)}</h3>")
        if cs.note:
            out.append(f"<p class=\"note\">{esc(cs.note)}</p>")
        radios = (f"<input type=\"radio\" class=\"all\" name=\"flip{k}\" id=\"flip{k}-all\" "
                  f"checked><label for=\"flip{k}-all\">side by side</label>") + "".join(
            f"<input type=\"radio\" name=\"flip{k}\" id=\"flip{k}-{j}\">"
            f"<label for=\"flip{k}-{j}\">{esc(v.label)}</label>" for j, v in enumerate(views))
        figs = "".join(
            f"<figure><img class=\"crop\" alt=\"{esc(v.label)}\" src=\"{v.uri}\"><figcaption>"
            f"<b>{esc(v.label)}</b><br>{esc(v.caption)}</figcaption></figure>" for v in views)
        out.append(f"<div class=\"flip\"><p class=\"note\">Side by side, or one at a time, "
                   "enlarged with the pixels kept sharp, to flip between them (click, or arrow "
                   f"keys):</p>{radios}<div class=\"views\">{figs}</div></div></section>")
    return "\n".join(out)


# ---------------------------------------------------------------- estimate --compare


def estimate_page(e) -> str:
    """The page for an estimate with its comparison (codec.batch.estimate.Estimate)."""

    c = e.comparison
    if c is None:
        raise ValueError("estimate_page needs an estimate made with compare=True")
    body = [headline_html(compare.headline(c, e.files_in_tree))]
    if e.partial:
        body.append(f"<p class=\"note\"><b>Partial:</b> interrupted after {len(e.sample)} of the "
                    f"{e.sample_planned} sampled files.</p>")
    body.append("<h2>Savings at the same target</h2>")
    body.append(f"<p>Target for every method: {esc(c.target)}. Tree: {e.files_in_tree} files, "
                f"{esc(human_bytes(e.tree_bytes))}; sample: {len(e.sample)} files. Intervals: "
                "95% bootstrap over the sample, the same resamples for every method.</p>")
    rows = []
    for m in c.methods:
        enc = ("-" if m.encode_seconds_per_megapixel is None
               else f"{m.encode_seconds_per_megapixel:.3g}")
        rows.append([m.name, f"{m.saving_pct:.1f}%",
                     f"{m.saving_ci95[0]:.1f} to {m.saving_ci95[1]:.1f}%",
                     f"{m.files_met}/{m.files_sampled}", enc,
                     f"{m.search_seconds_per_megapixel:.3g}",
                     "yes" if m.jpeg_viewer else "no", m.label])
    body.append(table(["method", "saving", "95% CI", "files meeting the target",
                       "encode s/MP", "search s/MP", "opens in a JPEG viewer", "what"], rows))
    fmts = list(c.winner_per_format)
    body.append("<h3>Winner per source format</h3>")
    body.append(table(["source format", "winner", "its saving"] + [m.name for m in c.methods],
                      [[f, n, f"{c.method(n).per_format[f]:.1f}%"]
                       + [f"{m.per_format[f]:.1f}%" for m in c.methods] for f, n in
                       c.winner_per_format.items()]))
    body.append(plots_html(_estimate_plots(e, fmts)))
    body.append("<p class=\"note\">encode s/MP: one encode at the setting chosen, on this "
                "machine; search s/MP: meeting the target, the search included (regen-codec's "
                "one figure). A file a method cannot meet the target on, or would make larger, "
                "stays as it is. regen-codec's JPEG form opens in any viewer as its plain, "
                "lower-quality view.</p>")
    for n in c.notes:
        body.append(f"<p class=\"note\">note: {esc(n)}</p>")
    sets = []
    for row in e.sample:
        if not row.crops:
            continue
        views = []
        # the source, then ours, then the others in the comparison's order (best first)
        order = ["source", compare.REGEN, f"{compare.REGEN} (plain view)"] + [m.name for m in c.methods]
        for name, uri in sorted(row.crops.items(), key=lambda kv: order.index(kv[0])
                                if kv[0] in order else len(order)):
            alt = row.alternatives.get(name) or {}
            if name == "source":
                cap = f"{row.current_bytes} B as stored"
            elif name.startswith(compare.REGEN):
                cap = f"{row.projected_bytes} B, quality {row.quality}"
            else:
                cap = f"{alt.get('bytes')} B, setting {alt.get('setting')}"
            views.append(View(name, uri, cap))
        sets.append(CropSet(Path(row.path).name, views, "Each method's smallest file meeting the "
                            "target (equal quality, not equal bytes); the most detailed "
                            f"square of up to {compare.CROP} pixels."))
    if sets:
        body += ["<h2>What the files look like</h2>", crops_html(sets)]
    body += ["<h2>The estimate in full</h2>", f"<pre>{esc(render(e))}</pre>"]
    return page("regen-codec: storage comparison", body)


def _estimate_plots(e, fmts: list[str]) -> list[tuple[str, str]]:
    """Savings with their intervals, and each sampled file's bits per pixel at the target."""
    plt = _pyplot()
    c = e.comparison
    ms = c.methods
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(ms) + 1.2))
    y = np.arange(len(ms))[::-1]
    vals = [m.saving_pct for m in ms]
    err = np.array([[m.saving_pct - m.saving_ci95[0] for m in ms],
                    [m.saving_ci95[1] - m.saving_pct for m in ms]])
    ax.barh(y, vals, xerr=err, capsize=3, color=["#3a6ea5" if m.jpeg_viewer else "#999" for m in ms])
    ax.set_yticks(y, [m.name for m in ms])
    ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel="saving (%), 95% bootstrap CI",
           title="saving at the same target (blue: opens in a JPEG viewer)")
    plots = [("saving at the same target", svg_uri(fig))]
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, m in enumerate(ms):
        bpp = []
        for r in e.sample:
            px = r.megapixels * 1e6
            if m.name == "regen-codec":
                b = r.projected_bytes
            elif m.name == "regen-codec+jxl":
                b = r.packed_bytes
            else:
                b = (r.alternatives.get(m.name) or {}).get("bytes")
            if b and px:
                bpp.append(8 * b / px)
        ax.plot([k] * len(bpp), bpp, "o", alpha=0.6)
    src = [8 * r.current_bytes / (r.megapixels * 1e6) for r in e.sample if r.megapixels]
    ax.plot([len(ms)] * len(src), src, "kx")
    ax.set_xticks(range(len(ms) + 1), [m.name for m in ms] + ["as stored"], rotation=30, ha="right")
    ax.set(ylabel="bits per pixel", title="each sampled file at the target")
    ax.grid(alpha=0.3)
    plots.append(("bits per pixel of each sampled file at the target", svg_uri(fig)))
    return plots


# ---------------------------------------------------------------- bench


def bench_page(headline: list[str], curves: dict[str, dict], bd: dict[str, dict],
               methods: dict, crop_sets: list[CropSet], report_md: str,
               anchor_curves: dict | None = None) -> str:
    """The page for a benchmark run (codec.bench): headline, plots, BD-rates, crops."""
    body = [headline_html(headline), "<h2>Rate and quality</h2>",
            plots_html(rd_plots(curves, anchor_curves)),
            "<h2>BD-rate against plain JPEG</h2>",
            "<p>Negative: fewer bytes for the same quality (PCHIP, over the overlapping range; "
            "n/a where the curves overlap too little).</p>"]

    def fmt(v):
        return "n/a" if v is None else f"{v:+.1f}%"

    body.append(table(["method", "MS-SSIM (dB)", "PSNR", "description"],
                      [[n, fmt(b.get("msssim_db")), fmt(b.get("psnr")), methods[n].description]
                       for n, b in sorted(bd.items(), key=lambda kv: _key(kv[1]))]))
    if crop_sets:
        body += ["<h2>At equal bytes</h2>",
                 "<p>For a few pictures and rates: our file's size sets the budget, and each other "
                 "codec gets its highest quality setting that fits in it. Full-picture figures "
                 "under each crop.</p>", crops_html(crop_sets)]
    else:
        body += ["<h2>At equal bytes</h2>", "<p class=\"note\">No crops: no regen-codec method "
                 "ran (add `auto` or a model ID to --methods).</p>"]
    body += ["<h2>The report in full</h2>", f"<pre>{esc(report_md)}</pre>"]
    return page("regen-codec: benchmark", body)


def _key(b: dict) -> float:
    v = b.get("msssim_db")
    return float("inf") if v is None else v


def bench_crops(images: list[tuple[str, np.ndarray]], ours, others: dict, qualities: list[int],
                progress=None) -> list[CropSet]:
    """Crops at equal bytes: for each picture and quality, our method's file (`ours`, a
    codec.bench.Method that restores JPEGs), its plain view and restored decode, and each of
    `others` (name -> Method; plain JPEG, AVIF, JPEG XL) at the highest setting that fits in
    as many bytes."""

    def caption(img, out, n) -> str:
        h, w = img.shape[:2]
        return (f"{n} B, {8 * n / (w * h):.3f} bpp, PSNR {metrics.psnr(img, out):.2f} dB, MS-SSIM "
                f"{metrics.db(metrics.ms_ssim(img, out)):.2f} dB")

    sets = []
    for name, img in images:
        box = crop_box(img)
        size = (img.shape[1], img.shape[0])
        src = SourceImage(rgb=img, format="PNG")
        for q in qualities:
            data = ours.encode(img, q)
            budget = len(data)
            plain = decode_jpeg(as_jpeg(data))[0]
            restored = ours.decode(data)
            views = [View("source", png_data_uri(crop_of(img, box, size)), "lossless"),
                     View(f"{ours.name} restored", png_data_uri(crop_of(restored, box, size)),
                          caption(img, restored, budget)),
                     View(f"{ours.name} plain view", png_data_uri(crop_of(plain, box, size)),
                          ("as a plain JPEG viewer shows the same file; " if plain.shape == img.shape
                           else "as a plain JPEG viewer shows the same file, scaled up to the "
                           "source's size; ") + caption(img, crop_of(plain, (0, 0) + size, size),
                                                         budget))]
            missing = []
            for oname, m in others.items():
                res = search(src, Target(max_bytes=budget), lambda s, m=m: m.encode(img, s),
                             m.decode)
                over = res.data is None
                data_o = m.encode(img, 1) if over else res.data  # its smallest, shown as such
                out = m.decode(data_o)
                if over:
                    missing.append(f"{oname} (smallest: {len(data_o)} bytes at setting 1, shown)")
                views.append(View(f"{oname} q{1 if over else res.quality}" + (" (over budget)" if over else ""),
                                  png_data_uri(crop_of(out, box, size)), caption(img, out, len(data_o))))
            note = (f"no setting fits in {budget} bytes: {', '.join(missing)}" if missing else "")
            sets.append(CropSet(f"{name}, {ours.name} at quality {q}: {budget} bytes", views, note))
            if progress is not None:
                progress.update(1)
    return sets


__all__ = ["write_page", "estimate_page", "bench_page", "bench_crops", "rd_plots", "CropSet",
           "View", "page"]
