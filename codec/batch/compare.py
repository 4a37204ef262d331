"""The alternatives a storage team weighs against regen-codec, on the same files and target.

`estimate --compare` converts each sampled file with every alternative this installation can
run, at the setting that meets the same quality target as regen-codec's file (the smallest
file whose plain decode does: the same bisection over the codec's quality setting that
codec.encoder.target runs for regen-codec), and then summarizes: the saving of each alternative with a
bootstrap confidence interval drawn from the same resamples as regen-codec's, its encode time
per megapixel on this machine, the winner per source format, and whether the winner's files
open in a plain JPEG viewer.

Every alternative runs through a maintained library (Pillow's AVIF and WebP, pillow-jxl-plugin
for JPEG XL lossy, imagecodecs for JPEG XL lossless transcoding, pyjpegli for jpegli); one whose
library is missing is left out with a one-line note, never an error.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..encoder.target import Target, search
from ..errors import CodecError
from ..io.fileio import read_bytes
from ..format.pack import pack
from ..io.imageio import SourceImage

#: the two regen-codec rows, filled from estimate's own conversion (codec.batch.estimate)
REGEN = "regen-codec"
REGEN_PACKED = "regen-codec+jxl"
#: JPEG XL's lossless recompression of an existing JPEG file (JPEG sources only)
JXL_TRANSCODE = "jxl-transcode"
CROP = 192  # side of the crops kept for the HTML report, in pixels


@dataclass(frozen=True)
class Alternative:
    """A way to store a picture: quality setting (1-100) -> file bytes, and bytes -> pixels."""

    name: str
    label: str
    encode: Callable[[np.ndarray, int], bytes]
    decode: Callable[[bytes], np.ndarray]
    jpeg_viewer: bool  # its files open in any plain JPEG viewer


@dataclass
class AltResult:
    """One alternative on one file: the smallest file meeting the target, or why none."""

    bytes: int | None  # None: cannot meet the target, or not applicable (the file stays as is)
    setting: int | None = None  # the codec's quality setting chosen
    achieved: float | None = None  # MS-SSIM or PSNR of that file's decode
    search_seconds: float = 0.0  # the whole target search
    encode_seconds: float = 0.0  # one encode at the chosen setting
    note: str = ""
    error: str = ""  # the codec's own error on this file (then bytes is None)


@dataclass
class MethodSummary:
    """One alternative over the sample, projected onto the tree."""

    name: str
    label: str
    jpeg_viewer: bool
    saving_pct: float
    saving_ci95: tuple[float, float]
    files_met: int  # sampled files it converted meeting the target (others stay as they are)
    files_sampled: int
    encode_seconds_per_megapixel: float | None  # one encode at the chosen setting
    search_seconds_per_megapixel: float  # meeting the target, the search included
    per_format: dict[str, float] = field(default_factory=dict)  # saving % per source format


@dataclass
class Comparison:
    """The alternatives side by side: what `estimate --compare` adds to an estimate."""

    target: str
    files_sampled: int
    methods: list[MethodSummary]
    winner_per_format: dict[str, str]
    winner: str
    runner_up: str | None
    lead_points: float | None  # winner's saving minus the runner-up's, in percentage points
    lead_share: float | None  # share of bootstrap resamples in which the winner leads
    best_jpeg_viewer: str | None
    notes: list[str] = field(default_factory=list)  # alternatives left out, and why

    def to_dict(self) -> dict:
        return asdict(self)

    def method(self, name: str) -> MethodSummary:
        return next(m for m in self.methods if m.name == name)


def _pil_codec(fmt: str, **opts) -> tuple[Callable, Callable]:
    def enc(rgb: np.ndarray, q: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt, quality=q, **opts)
        return buf.getvalue()

    return enc, _pil_decode


def _pil_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def alternatives() -> tuple[list[Alternative], list[str]]:
    """Every re-encoding alternative this installation can run, and a note for each left out."""
    import PIL
    from PIL import features

    pv = PIL.__version__
    out = [Alternative("jpeg", f"JPEG re-encoded (Pillow {pv}, libjpeg defaults: standard "
                       "tables, 4:2:0)", *_pil_codec("JPEG"), jpeg_viewer=True)]
    notes = []
    if features.check("avif"):
        out.append(Alternative("avif", f"AVIF (Pillow {pv}, libavif {features.version('avif')}, "
                               "defaults)", *_pil_codec("AVIF"), jpeg_viewer=False))
    else:
        notes.append("avif: skipped, this Pillow has no AVIF support (Pillow >= 11.2 wheels have it)")
    if features.check("webp"):
        out.append(Alternative("webp", f"WebP (Pillow {pv}, defaults)", *_pil_codec("WEBP"),
                               jpeg_viewer=False))
    else:
        notes.append("webp: skipped, this Pillow has no WebP support")
    try:
        import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)

        jxl_encode, jxl_decode = _pil_codec("JXL")

        def jxl_lossy(rgb: np.ndarray, q: int) -> bytes:
            # libjxl refuses lossy quality 100 (distance 0): 99 is its highest lossy setting
            return jxl_encode(rgb, min(q, 99))

        out.append(Alternative("jxl", "JPEG XL lossy (pillow-jxl-plugin, libjxl effort 7; "
                               "settings 1-99)", jxl_lossy, jxl_decode, jpeg_viewer=False))
    except ImportError:
        notes.append("jxl: skipped, pillow-jxl-plugin is not installed (pip install "
                     "'regen-codec[bench]')")
    try:
        import pyjpegli

        def jpegli_encode(rgb: np.ndarray, q: int) -> bytes:
            rgb = np.ascontiguousarray(rgb)
            return pyjpegli.encode(rgb.tobytes(), rgb.shape[1], rgb.shape[0], q)

        out.append(Alternative("jpegli", "jpegli (pyjpegli, its own tables and subsampling)",
                               jpegli_encode, _pil_decode, jpeg_viewer=True))
    except ImportError:
        notes.append("jpegli: skipped, pyjpegli is not installed (pip install "
                     "'regen-codec[bench]')")
    return out, notes


def transcode_available() -> bool:
    """Whether JPEG XL lossless transcoding (imagecodecs) can run here."""
    try:
        import imagecodecs

        return bool(imagecodecs.JPEGXL.available)
    except ImportError:
        return False


def _transcode(path, is_jpeg: bool) -> AltResult:
    """JPEG XL's lossless recompression of the file as it is: the same pixels, so it meets any
    target the source does; the round trip must give the file back bit for bit (codec.format.pack)."""

    if not is_jpeg:
        return AltResult(None, note="not a JPEG source")
    t = time.perf_counter()
    try:
        n = len(pack(read_bytes(Path(path))))
    except (CodecError, OSError) as exc:  # damaged, or gone since it was sampled
        return AltResult(None, error=str(exc))
    s = time.perf_counter() - t
    return AltResult(n, search_seconds=s, encode_seconds=s)


def crop_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """The CROP-sized square with the most detail (largest gradient energy, on a coarse grid):
    where codecs differ; flat sky shows nothing."""
    h, w = rgb.shape[:2]
    c = min(CROP, h, w)
    g = rgb.astype(np.float32).mean(axis=2)
    energy = np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1, :]
    # a summed-area table: every candidate square's energy in four look-ups
    sat = np.pad(energy.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(8, c // 4)
    ys = np.arange(0, max(1, h - c + 1), step)[:, None]
    xs = np.arange(0, max(1, w - c + 1), step)[None, :]
    k = c - 1
    e = sat[ys + k, xs + k] - sat[ys, xs + k] - sat[ys + k, xs] + sat[ys, xs]
    y, x = np.unravel_index(int(np.argmax(e)), e.shape)
    y0, x0 = int(ys[y, 0]), int(xs[0, x])
    return x0, y0, x0 + c, y0 + c


def png_data_uri(rgb: np.ndarray) -> str:
    """Pixels as a PNG data: URI (lossless, so the page shows exactly what the codec gave)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def crop_of(rgb: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """`box` of a decoded picture; one smaller than the source (a plain view of a comrec file)
    is first scaled up to the source's size, as a viewer zooming to fit would."""
    if rgb.shape[1::-1] != size:
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1]


def compare_file(path, src: SourceImage, target: Target, alts: list[Alternative],
                 is_jpeg: bool, transcode: bool = True,
                 crops: dict[str, np.ndarray] | None = None) -> dict[str, AltResult]:
    """Every alternative on one source file at `target`. With `crops` (a dict to fill), the
    source's most detailed square and each alternative's decode of it are put there."""
    out: dict[str, AltResult] = {}
    box = crop_box(src.rgb) if crops is not None else None
    if crops is not None:
        crops["source"] = crop_of(src.rgb, box, src.size)
    if transcode:
        out[JXL_TRANSCODE] = _transcode(path, is_jpeg)
    for alt in alts:
        t = time.perf_counter()
        try:
            res = search(src, target, lambda q, a=alt: a.encode(src.rgb, q), alt.decode)
        except Exception as exc:  # a codec's own error on this picture: that file, that codec
            out[alt.name] = AltResult(None, error=f"{type(exc).__name__}: {exc}")
            continue
        secs = time.perf_counter() - t
        if res.quality is None:
            out[alt.name] = AltResult(None, search_seconds=secs, note="cannot meet the target")
            continue
        t = time.perf_counter()
        alt.encode(src.rgb, res.quality)  # timed alone: what converting at this setting costs
        enc = time.perf_counter() - t
        b = res.best
        out[alt.name] = AltResult(len(res.data), res.quality,
                                  b.msssim if b.msssim is not None else b.psnr, secs, enc)
        if crops is not None:
            crops[alt.name] = crop_of(alt.decode(res.data), box, src.size)
    return out


def _saving(cur: np.ndarray, proj: np.ndarray) -> float:
    return float(100.0 * (1 - proj.sum() / cur.sum()))


def summarize(rows: list, labels: dict[str, tuple[str, bool]], resamples: list[np.ndarray],
              regen: dict[str, np.ndarray], target: str, notes: list[str]) -> Comparison:
    """The comparison over the sample.

    `rows`: estimate's FileEstimates (each with `.alternatives`, name -> AltResult as a dict);
    `labels`: name -> (label, opens in a JPEG viewer); `resamples`: the bootstrap's index
    arrays, the same ones regen-codec's interval was drawn from (paired resamples: the share in
    which the winner leads compares like with like); `regen`: regen-codec's projected bytes per
    sampled file, by row name, as estimate counts them."""
    cur = np.array([r.current_bytes for r in rows], float)
    mp = np.array([r.megapixels for r in rows], float)
    fmts = [r.format for r in rows]
    proj: dict[str, np.ndarray] = dict(regen)
    met = {n: sum((r.packed_bytes if n == REGEN_PACKED else r.projected_bytes) is not None
                  for r in rows) for n in regen}
    enc_s: dict[str, float | None] = {n: None for n in regen}
    search_s: dict[str, float] = {n: float(sum(r.seconds for r in rows)) for n in regen}
    for name in labels:
        if name in regen:
            continue
        res = [r.alternatives.get(name) for r in rows]
        if all(a is None for a in res):
            continue
        failed = [a["error"] for a in res if a and a.get("error")]
        if failed:  # the codec's own error, not a missed target
            notes.append(f"{name}: failed on {len(failed)} sampled file(s) (kept as they are): "
                         f"{failed[0]}")
        sizes = [a.get("bytes") if a else None for a in res]
        # a file the alternative cannot meet the target on, or would make larger, stays as is
        proj[name] = np.array([min(b, c) if b else c for b, c in zip(sizes, cur)], float)
        met[name] = int(sum(b is not None and b < c for b, c in zip(sizes, cur)))
        conv = [(a, m) for a, m in zip(res, mp) if a and a.get("bytes") is not None]
        cmp = sum(m for _, m in conv)
        enc_s[name] = (sum(a["encode_seconds"] for a, _ in conv) / cmp) if cmp else None
        search_s[name] = float(sum(a["search_seconds"] for a in res if a))
    total_mp = max(1e-9, float(mp.sum()))
    methods = []
    boots: dict[str, np.ndarray] = {}
    for name, p in proj.items():
        boots[name] = np.array([_saving(cur[i], p[i]) for i in resamples])
        per_fmt = {}
        for f in sorted(set(fmts)):
            sel = [k for k, x in enumerate(fmts) if x == f]
            per_fmt[f] = _saving(cur[sel], p[sel])
        label, viewer = labels[name]
        methods.append(MethodSummary(
            name, label, viewer, _saving(cur, p),
            (float(np.percentile(boots[name], 2.5)), float(np.percentile(boots[name], 97.5))),
            met[name], len(rows), enc_s[name], search_s[name] / total_mp, per_fmt))
    methods.sort(key=lambda m: -m.saving_pct)
    winner = methods[0]
    runner = methods[1] if len(methods) > 1 else None
    per_format = {f: max(methods, key=lambda m: m.per_format[f]).name for f in sorted(set(fmts))}
    viewers = [m for m in methods if m.jpeg_viewer]
    return Comparison(
        target=target, files_sampled=len(rows), methods=methods, winner_per_format=per_format,
        winner=winner.name, runner_up=runner.name if runner else None,
        lead_points=(winner.saving_pct - runner.saving_pct) if runner else None,
        lead_share=(float(np.mean(boots[winner.name] > boots[runner.name])) if runner else None),
        best_jpeg_viewer=viewers[0].name if viewers else None, notes=list(notes))


def _viewer(m: MethodSummary) -> str:
    """What a plain JPEG viewer makes of the method's files."""
    if not m.jpeg_viewer:
        return "does not open in a plain JPEG viewer"
    if m.name.startswith(REGEN):  # the target is met by regen-codec's decode, not the plain one
        return "opens in any JPEG viewer, below the target until regen-codec decodes it"
    return "opens in any JPEG viewer"


def headline(c: Comparison, files_in_tree: int) -> list[str]:
    """Three lines a person reads first: what was compared, who won, by how much."""
    w = c.method(c.winner)
    names = ", ".join(m.name for m in c.methods)
    lines = [f"compared: {len(c.methods)} ways to store {c.files_sampled} sampled files (of "
             f"{files_in_tree}), each file at the same target ({c.target}): {names}"]
    viewer = _viewer(w)
    lines.append(f"winner: {w.name} saves {w.saving_pct:.1f}% (95% CI {w.saving_ci95[0]:.1f} to "
                 f"{w.saving_ci95[1]:.1f}%); its files: {viewer}")
    if c.runner_up is None:
        lines.append("by how much: nothing else to compare with")
    else:
        r = c.method(c.runner_up)
        lead = (f"by how much: {c.lead_points:.1f} points more than {r.name} ({r.saving_pct:.1f}%), "
                f"ahead in {100 * c.lead_share:.0f}% of bootstrap resamples")
        if not w.jpeg_viewer and c.best_jpeg_viewer:
            b = c.method(c.best_jpeg_viewer)
            lead += f"; best that opens in a JPEG viewer: {b.name}, {b.saving_pct:.1f}% ({_viewer(b)})"
        lines.append(lead)
    return lines


def render(c: Comparison) -> str:
    """The comparison table for people."""
    lines = [f"{'method':<18}{'saving':>8}{'95% CI':>17}{'files met':>11}{'encode s/MP':>13}"
             f"{'search s/MP':>13}  JPEG viewer"]
    for m in c.methods:
        enc = "-" if m.encode_seconds_per_megapixel is None else f"{m.encode_seconds_per_megapixel:.3g}"
        ci = f"{m.saving_ci95[0]:.1f} to {m.saving_ci95[1]:.1f}"
        lines.append(f"{m.name:<18}{m.saving_pct:>7.1f}%{ci:>17}{m.files_met:>6}/{m.files_sampled:<4}"
                     f"{enc:>13}{m.search_seconds_per_megapixel:>13.3g}  "
                     f"{'yes' if m.jpeg_viewer else 'no'}")
    lines += ["", "winner per source format: " + ", ".join(
        f"{f}: {n} ({c.method(n).per_format[f]:.1f}%)" for f, n in c.winner_per_format.items())]
    lines += ["", "encode s/MP: one encode at the setting chosen (regen-codec: only measured with its "
              "search, see `bench/encode_speed.py`); search s/MP: meeting the target, the search "
              "included. A file an alternative cannot meet the target on, or would make larger, "
              "stays as it is."]
    for m in c.methods:
        lines.append(f"  {m.name}: {m.label}")
    lines += ["JPEG viewer: whether a plain JPEG viewer opens the files (regen-codec's JPEG form "
              "opens as its plain, lower-quality view; the restored picture needs regen-codec)."]
    lines += [f"note: {n}" for n in c.notes]
    return "\n".join(lines)


__all__ = ["Alternative", "AltResult", "Comparison", "MethodSummary", "alternatives",
           "compare_file", "summarize", "headline", "render", "png_data_uri", "crop_of"]
