"""Rate-quality benchmark: every method at every quality on every image of a folder.

Writes, into the results folder: one CompressAI-format JSON per method, `results.csv` (one row
per image, method and quality), `report.md` (BD-rate against plain JPEG, regressions against the
plain decode, per-quality gains, speed and memory) and `rd_psnr.png` / `rd_msssim.png`.
Per-image rows are cached in `cache/`, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import io
import json
import os
import platform
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, features
from tqdm import tqdm

from .. import __version__, api
from ..batch.fileops import warnings_named
from ..comcnn.model import downscale
from ..encoder import allocate, auto, coefsearch, effort, precision
from ..errors import CodecError
from ..format.jpeg import decode_jpeg, encode_jpeg
from ..format.pack import as_jpeg
from ..format.shrink import shrink
from ..format.tables import DEFAULT_TABLES, TABLE_SETS
from ..io.fileio import check_output
from ..io.imageio import load_image
from ..reccnn.infer import upscale_image
from ..registry import DEFAULT_COMREC, DEFAULT_MODEL, file_sha256, list_models
from ..utils import metrics
from .report import BASELINE, curve, load_anchor_curves, write_outputs
from .report_html import bench_crops, bench_page, write_page

DEFAULT_QUALITIES = tuple(range(5, 100, 5))
IMAGE_SUFFIXES = {".png", ".ppm", ".bmp", ".tif", ".tiff"}
LOSSLESS_FORMATS = {"PNG", "PPM", "BMP", "TIFF"}
# what a cached row must hold to be reused (measure's keys; plain_* only for restorers)
ROW_KEYS = {"method", "image", "quality", "bytes", "bpp", "psnr", "msssim", "msssim_db", "ssim",
            "encode_s", "decode_s", "decode_mpx_s", "decode_peak_mb"}


@dataclass
class Method:
    """A codec under test: image -> bytes at a quality setting, and bytes -> image."""

    name: str
    description: str
    encode: Callable[[np.ndarray, int], bytes]
    decode: Callable[[bytes], np.ndarray]
    restores_jpeg: bool = False  # decode is a network on top of a plain JPEG decode
    version: str = ""  # changes when the method's behaviour changes (a model's hash prefix)

    @property
    def cache_key(self) -> str:
        """The method, its version, and Pillow's: every method codes or decodes through Pillow
        (its libjpeg, libwebp, libavif), so rows cached under another Pillow are measured again."""
        import PIL

        base = f"{self.name}-{self.version}" if self.version else self.name
        return f"{base}-pil{PIL.__version__}"


def _pil_codec(fmt: str, **opts) -> tuple[Callable, Callable]:
    def enc(img: np.ndarray, q: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, fmt, quality=q, **opts)
        return buf.getvalue()

    def dec(data: bytes) -> np.ndarray:
        return np.array(Image.open(io.BytesIO(data)).convert("RGB"))

    return enc, dec


def _half_encode(img: np.ndarray, q: int) -> bytes:
    import torch

    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255
    small = (downscale(x)[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    data = shrink(encode_jpeg(Image.fromarray(small), q))  # the same JPEG coding as comrec's
    return data + f"SIZE{img.shape[0]}x{img.shape[1]}".encode()  # trailer: original size


def _half_decode(data: bytes) -> np.ndarray:
    i = data.rindex(b"SIZE")
    h, w = map(int, data[i + 4:].decode().split("x"))
    return upscale_image(decode_jpeg(data[:i])[0], (h, w))


def _comrec_encode(img: np.ndarray, q: int, model: str) -> bytes:
    return api.encode(img, quality=q, model=model, mode="comrec")


def _comrec_decode(data: bytes, device: str) -> np.ndarray:
    return np.asarray(api.decode(data, device=device))


def _searched_version(base: str, level: int | None = None, precision: str | None = None) -> str:
    """A searched method's version: `base` and the search of effort `level` (None: the default;
    methods encode on the CPU) in `precision` (None: codec.encoder.precision's choice)."""
    return f"{base}-{coefsearch.search_id(level, device='cpu', precision=precision)}"


def _in_float32(encode: Callable) -> Callable:
    """`encode` with the coefficient search's network in float32 whatever the CPU computes
    natively (codec.encoder.precision): the `-float32` methods, beside the same searches in the
    arithmetic this machine chooses."""
    def enc(*args, **kwargs):
        with precision.forced("float32"):
            return encode(*args, **kwargs)
    return enc


def _float32_variants(out: dict, name: str, base: str) -> None:
    """Add `<name>-float32` and `<name>-eN-float32` for the searched method `name` (the default
    level) and its `-eN` twins: the same files with the search in float32. `base`: the version
    the searched versions extend (_searched_version)."""
    for n, level in [(name, None)] + [(f"{name}-e{e}", e) for e, _ in _other_levels(base)]:
        m = out[n]
        out[f"{n}-float32"] = Method(f"{n}-float32", m.description + ", the search in float32",
                                     _in_float32(m.encode), m.decode, restores_jpeg=m.restores_jpeg,
                                     version=_searched_version(base, level, "float32"))


def _other_levels(base: str) -> list[tuple[int, str]]:
    """(level, method version) of the effort levels with a search other than the default's (the
    one the plain method names run)."""
    return [(lv.number, _searched_version(base, lv.number)) for lv in effort.LEVELS
            if lv.rounds > 0 and lv.number != effort.default_level("cpu")]


def available_methods(device: str = "cpu") -> dict[str, Method]:
    """Every method this installation can run, by name."""
    import PIL

    pv = PIL.__version__
    out = {
        "jpeg": Method("jpeg", f"JPEG, Pillow {pv} defaults (4:2:0, standard tables)",
                       *_pil_codec("JPEG")),
        "jpeg-opt": Method("jpeg-opt", f"JPEG, Pillow {pv}, Huffman-optimized, progressive",
                           *_pil_codec("JPEG", optimize=True, progressive=True)),
    }
    if allocate.tradeoff(allocate.PLAIN_JPEG, 50) is not None:
        # a reference: plain JPEG with the quality chosen per image by codec.allocate's rule,
        # calibrated for plain decodes; how much of that rule's gain any JPEG encoder would get
        def jpeg_alloc(img: np.ndarray, q: int, jpeg: Method = out["jpeg"]) -> bytes:
            return allocate.choose(partial(jpeg.encode, img), jpeg.decode, img, q,
                                   allocate.PLAIN_JPEG)[1]

        out["jpeg-alloc"] = Method(
            "jpeg-alloc", f"JPEG, Pillow {pv} defaults, quality chosen per image by regen-codec's "
            "rule for plain decodes (a reference, not a regen-codec mode)", jpeg_alloc,
            out["jpeg"].decode, version=allocate.rule_id(allocate.PLAIN_JPEG))
    if features.check("webp"):
        out["webp"] = Method("webp", f"WebP, Pillow {pv} defaults", *_pil_codec("WEBP"))
    if features.check("avif"):
        out["avif"] = Method("avif", f"AVIF, Pillow {pv} defaults", *_pil_codec("AVIF"))
    try:
        import pillow_jxl  # noqa: F401  (plugin registers the JXL format)

        jxl_enc, jxl_dec = _pil_codec("JXL")
        # libjxl refuses lossy quality 100 (the equal-bytes search of --html can ask for it)
        out["jxl"] = Method("jxl", "JPEG XL (pillow-jxl-plugin)",
                            lambda img, q: jxl_enc(img, min(q, 99)), jxl_dec)
    except ImportError:
        pass
    out["half-bicubic"] = Method(
        "half-bicubic", "no network: bicubic 2x downscale, JPEG (Huffman-optimized), bicubic "
        "2x upscale (the file carries a 14-byte size trailer)", _half_encode, _half_decode,
        version=__version__)
    models = list_models()
    for m in models:
        ver = f"{m.sha256[:8]}-{__version__}"  # the weights and the file format
        if m.mode == "comrec":
            out[m.id] = Method(
                m.id, f"regen-codec comrec {m.id} (sha256 {m.sha256[:8]}), RecCNN "
                f"{m.macs_per_pixel} MACs/pixel", partial(_comrec_encode, model=m.id),
                partial(_comrec_decode, device=device), version=ver)
        if m.mode != "regen":
            continue

        desc = f"regen-codec {m.id} (sha256 {m.sha256[:8]}), {m.macs_per_pixel} MACs/pixel"
        plain_ver, ver = ver, _searched_version(ver)  # files made with the search
        for ts in TABLE_SETS.values():
            # `<id>`: standard tables, 4:2:0; `<id>@<set>`: a tuned table set (codec.tables)
            name = m.id if ts.name == "standard" else f"{m.id}@{ts.name}"
            tdesc = desc + ("" if ts.name == "standard" else f", table set {ts.name}")

            def enc(img, q, _id=m.id, _ts=ts.name, **kw):
                return api.encode(img, quality=q, model=_id, tables=_ts, mode="regen", **kw)

            def dec(data, _id=m.id, consistency=True, ensemble=1):
                return np.asarray(api.decode(data, device=device, model=_id, consistency=consistency,
                                             ensemble=ensemble))

            out[name] = Method(name, tdesc, enc, dec, restores_jpeg=True, version=ver)
            # the same files decoded without codec.consistency's last step: that step's share
            out[f"{name}-raw"] = Method(f"{name}-raw", tdesc + ", decoded without the DCT "
                                        "consistency step", enc, partial(dec, consistency=False),
                                        restores_jpeg=True, version=ver)
            out[f"{name}+jxl"] = Method(f"{name}+jxl", tdesc + ", packed as JPEG XL",
                                        partial(enc, pack="jxl"), dec, restores_jpeg=True,
                                        version=ver)
            for b in (out[name], out[f"{name}+jxl"]):
                # the coefficients as the encoder rounds them (--effort 0): the search's share
                out[f"{b.name}-e0"] = Method(f"{b.name}-e0", b.description + ", encoded with "
                                             "--effort 0 (no coefficient search)",
                                             partial(b.encode, effort=0), dec, restores_jpeg=True,
                                             version=plain_ver)
                for e, v in _other_levels(plain_ver):  # the other effort levels' searches
                    out[f"{b.name}-e{e}"] = Method(f"{b.name}-e{e}", b.description + ", encoded "
                                                   f"with --effort {e}", partial(b.encode, effort=e),
                                                   dec, restores_jpeg=True, version=v)
                _float32_variants(out, b.name, plain_ver)
                # decoded with an 8-member self-ensemble (codec.regen.ensemble): 8x the network work
                out[f"{b.name}-x8"] = Method(f"{b.name}-x8", b.description + ", decoded with an "
                                             "8-member self-ensemble", b.encode,
                                             partial(dec, ensemble=8), restores_jpeg=True, version=ver)
                # encoded without the restoration strength (codec.strength): that step's share
                out[f"{b.name}-nofit"] = Method(f"{b.name}-nofit", b.description + ", encoded "
                                                "with --no-fit", partial(b.encode, fit=False), dec,
                                                restores_jpeg=True, version=ver)
                # the JPEG quality chosen per image (codec.allocate, --per-image-quality)
                out[f"{b.name}-alloc"] = Method(f"{b.name}-alloc", b.description + ", encoded "
                                                "with --per-image-quality", partial(b.encode, allocate=True),
                                                dec, restores_jpeg=True,
                                                version=f"{ver}-{allocate.rule_id(ts.name)}")
    shas = {m.id: m.sha256[:8] for m in models}
    if DEFAULT_COMREC in shas and DEFAULT_MODEL in out:
        # the default pipeline with `--mode auto`: regen or comrec per image (codec.auto)
        def auto_enc(img, q, **kw):
            return api.encode(img, quality=q, mode="auto", tables=DEFAULT_TABLES, **kw)

        def auto_dec(data):
            return np.asarray(api.decode(data, device=device))

        desc = (f"regen-codec --mode auto: {DEFAULT_MODEL} or {DEFAULT_COMREC} per image, table "
                f"set {DEFAULT_TABLES}")
        base = f"{shas[DEFAULT_MODEL]}-{shas[DEFAULT_COMREC]}-{DEFAULT_TABLES}-{{}}-{__version__}"
        plain_ver = base.format(auto.RULE_VERSION)
        searched_base = base.format(auto.SEARCHED_RULE_VERSION)
        ver = _searched_version(searched_base)
        out["auto"] = Method("auto", desc, auto_enc, auto_dec, version=ver)
        out["auto+jxl"] = Method("auto+jxl", desc + ", packed as JPEG XL",
                                 partial(auto_enc, pack="jxl"), auto_dec, version=ver)
        for b in ("auto", "auto+jxl"):  # the pipeline before the coefficient search
            out[f"{b}-e0"] = Method(f"{b}-e0", out[b].description + ", encoded with --effort 0 "
                                    "(no coefficient search)", partial(out[b].encode, effort=0),
                                    auto_dec, version=plain_ver)
            for e, v in _other_levels(searched_base):
                out[f"{b}-e{e}"] = Method(f"{b}-e{e}", out[b].description + ", encoded with "
                                          f"--effort {e}", partial(out[b].encode, effort=e),
                                          auto_dec, version=v)
            _float32_variants(out, b, searched_base)
    return out


class _PeakRSS:
    """Peak resident memory of this process while the block runs, in MB above the start."""

    def __enter__(self):
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())
        self.mb = (self.peak - self.start) / 2**20


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def measure(method: Method, img: np.ndarray, q: int) -> dict:
    """One image at one quality: size, quality measures, timings, decode memory."""
    h, w = img.shape[:2]
    t = time.perf_counter()
    data = method.encode(img, q)
    t_enc = time.perf_counter() - t
    with _PeakRSS() as mem:
        t = time.perf_counter()
        out = method.decode(data)
        t_dec = time.perf_counter() - t
    ms = metrics.ms_ssim(img, out)
    row = {"bytes": len(data), "bpp": len(data) * 8 / (w * h), "psnr": metrics.psnr(img, out),
           "msssim": ms, "msssim_db": metrics.db(ms), "ssim": metrics.ssim(img, out),
           "encode_s": t_enc, "decode_s": t_dec, "decode_mpx_s": w * h / 1e6 / t_dec,
           "decode_peak_mb": mem.mb}
    if method.restores_jpeg:
        plain = decode_jpeg(as_jpeg(data))[0]
        pm = metrics.ms_ssim(img, plain)
        row.update(plain_psnr=metrics.psnr(img, plain), plain_msssim=pm,
                   plain_msssim_db=metrics.db(pm))
    return row


def _load(path: Path) -> np.ndarray:
    """8-bit RGB by codec.io.imageio's rules (16-bit reduced, alpha over white), each conversion a
    warning naming the file; a file whose content is not a lossless format (a JPEG named .png)
    is refused, since its artefacts would be scored as the codec's."""

    with warnings_named(path.name):
        src = load_image(path)
        if src.format not in LOSSLESS_FORMATS:
            raise CodecError(f"{path}: a {src.format} file, not a lossless image: its artefacts "
                             "would be scored as the codec's")
    return src.rgb


def _file_sha(path: Path) -> str:
    """Content hash of an image file (a prefix of its sha256), for the cache key."""
    return file_sha256(path)[:16]


def run(image_dir: Path, out_dir: Path, methods: list[str] | None = None,
        qualities: tuple[int, ...] = DEFAULT_QUALITIES, device: str = "cpu",
        anchors: Path | None = None, html: Path | None = None, force: bool = False,
        html_crops: tuple[int, int] = (2, 2)) -> dict:
    """Measure, cache, summarize; returns the summary (also written to out_dir). `html`: also
    write the self-contained page there (codec.bench.report_html; refused if it exists unless
    `force`), with crops at equal bytes for the first `html_crops[0]` images at
    `html_crops[1]` qualities (the lowest, then from the middle of the range)."""
    image_dir, out_dir = Path(image_dir), Path(out_dir)
    avail = available_methods(device)
    names = list(dict.fromkeys(methods or avail))  # a name given twice is measured once
    unknown = [n for n in names if n not in avail]
    if unknown:
        raise CodecError(f"unknown method(s) {', '.join(unknown)}; available: {', '.join(avail)}")
    if BASELINE not in names:
        names = [BASELINE] + names
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise CodecError(f"{image_dir}: no lossless images (.png, .ppm, .bmp, .tif) to benchmark")
    # cached rows are keyed by the file's content too: another folder (or a re-cropped image)
    # with the same names must not be scored with rows measured on other pictures
    shas = {p: _file_sha(p) for p in images}
    if anchors is not None:
        load_anchor_curves(anchors)  # a malformed file is refused now, not after the run
    cache_dir = out_dir / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)  # before the check: --html may go into out_dir
    if html is not None:
        check_output(Path(html), [], force)  # refused now, not after the run
    rows: list[dict] = []
    todo = []
    for name in names:
        m = avail[name]
        cache = cache_dir / f"{m.cache_key}.jsonl"
        done = {}
        if cache.exists():
            text = cache.read_text()
            if text and not text.endswith("\n"):  # cut short: the next row gets its own line
                with open(cache, "a") as f:
                    f.write("\n")
            for line in text.splitlines():
                try:
                    r = json.loads(line)
                    if ROW_KEYS <= r.keys():
                        done[(r["image"], r.get("image_sha256"), r["quality"])] = r
                except (ValueError, AttributeError, TypeError):
                    continue  # a line cut short by an interrupted run, or damaged
        for p in images:
            for q in qualities:
                if (p.name, shas[p], q) in done:
                    rows.append(done[(p.name, shas[p], q)])
                else:
                    todo.append((m, cache, p, q))
    loaded: dict[Path, np.ndarray] = {}
    # which run timed each row: cached rows keep the run that measured them (report.md says so)
    this_run = f"{time.strftime('%Y-%m-%d %H:%M')} on {platform.node() or 'this machine'} ({device})"
    # image by image, every method in turn: the bar's rate then mixes fast and slow methods
    # from the start, so the time left it shows holds (method by method, plain JPEG's runs
    # first would promise minutes for what takes hours)
    order = {p: k for k, p in enumerate(images)}
    todo.sort(key=lambda t: (order[t[2]], t[3]))  # stable: the methods keep their order
    bar = tqdm(todo, desc="benchmark", unit="run", dynamic_ncols=True)
    for m, cache, p, q in bar:
        bar.set_postfix_str(f"{m.name} q{q} {p.name}", refresh=False)
        if p not in loaded:
            loaded[p] = _load(p)
        r = {"method": m.name, "image": p.name, "image_sha256": shas[p], "quality": q,
             "run": this_run,
             **measure(m, loaded[p], q)}
        with open(cache, "a") as f:
            f.write(json.dumps(r) + "\n")
        rows.append(r)
    rows = [r for r in rows if r["method"] in names and r["quality"] in qualities]
    summary = write_outputs(rows, {n: avail[n] for n in names}, qualities, out_dir, image_dir,
                            anchors, device, this_run=this_run)
    if html is not None:
        _write_html(Path(html), force, rows, {n: avail[n] for n in names}, avail, qualities,
                    images, loaded, summary, out_dir, anchors, html_crops)
    return summary


def _write_html(out: Path, force: bool, rows: list[dict], methods: dict[str, Method],
                avail: dict[str, Method], qualities, images: list[Path], loaded: dict,
                summary: dict, out_dir: Path, anchors: Path | None,
                html_crops: tuple[int, int]) -> None:
    """The run's HTML page: our default pipeline if it ran (else the first method that restores
    JPEGs) against plain JPEG, AVIF and JPEG XL at equal bytes, for a few images and rates."""

    # the default pipeline (auto, with any suffix) first, else any method restoring JPEGs
    ours = next((methods[n] for n in ("auto", "auto+jxl") if n in methods), None) or next(
        (m for n, m in methods.items() if n.startswith("auto") or m.restores_jpeg), None)
    others = {n: avail[n] for n in ("jpeg", "avif", "jxl") if n in avail}
    n_img, n_q = html_crops
    qs = sorted(qualities)
    picks = list(dict.fromkeys([qs[0]] + [qs[len(qs) // 2 + k] for k in range(len(qs))
                                          if len(qs) // 2 + k < len(qs)]))[:n_q]
    crop_sets = []
    if ours is not None and n_img and n_q:
        todo = images[:n_img]
        with tqdm(total=len(todo) * len(picks), desc="report crops", unit="crop set",
                  dynamic_ncols=True) as bar:
            pics = [(p.name, loaded[p] if p in loaded else _load(p)) for p in todo]
            crop_sets = bench_crops(pics, ours, others, picks, progress=bar)
    curves = {n: curve(rows, n, qualities) for n in methods}
    anchor_curves = load_anchor_curves(anchors) if anchors and Path(anchors).is_dir() else {}
    if ours is None:
        crop_sets = []  # the page says why there are no crops
    page = bench_page(summary["headline"], curves,
                      summary["bd_rate"], methods, crop_sets, (out_dir / "report.md").read_text(),
                      anchor_curves)
    write_page(out, page, force=force)
