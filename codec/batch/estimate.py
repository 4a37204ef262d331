"""Savings estimate for a tree of existing images, before anything is converted.

A seeded sample of the files is converted with the decoder in the loop (the smallest
regen-codec file meeting the quality target); the sample's saving, with a bootstrap 95%
confidence interval, is projected onto the whole tree, overall and per format.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..encoder.effort import LEVELS, resolve
from ..encoder.maker import file_maker, restored_array
from ..encoder.options import EncodeOptions
from ..encoder.target import Target, encode_to_target, reference_quality
from ..errors import CodecError
from ..format.container import read_meta
from ..format.jpeg import decode_jpeg
from ..format.pack import pack as pack_jxl
from ..io.imageio import load_image, no_pillow_pixel_limit
from ..regen.infer import pick_device
from ..registry import DEFAULT_MODEL
from ..utils.stopsignal import Stopped
from . import compare
from .compare import Comparison
from .jobs import _init_worker, cluster_map, collect
from .threads import threads_for
from .workers import imap_unordered

SOURCE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
BOOTSTRAP = 2000


@dataclass
class FileEstimate:
    path: str
    format: str
    megapixels: float
    current_bytes: int
    projected_bytes: int | None  # None: the target cannot be met (the file would stay as is)
    packed_bytes: int | None
    quality: int | None
    achieved: float | None
    seconds: float
    cpu_seconds: float = 0.0  # CPU time of the process, all its threads (time.process_time)
    # with --compare: each alternative on this file (codec.batch.compare.AltResult as a dict)
    alternatives: dict = field(default_factory=dict)
    # for the HTML report: crops of the source and of each method's decode, PNG data URIs
    crops: dict = field(default_factory=dict)


@dataclass
class Estimate:
    files_in_tree: int
    tree_bytes: int
    tree_megapixels: float
    sample: list[FileEstimate]
    target: str
    saving_pct: float
    saving_ci95: tuple[float, float]
    saving_packed_pct: float | None
    projected_tree_bytes: int
    per_format: dict = field(default_factory=dict)
    cannot_meet: list[str] = field(default_factory=list)
    seconds_per_megapixel: float = 0.0
    projected_hours_this_machine: float = 0.0
    device: str = "cpu"
    effort: int | None = None  # the effort level the conversions ran (codec.encoder.effort)
    cpu_seconds_per_megapixel: float = 0.0  # the sample's CPU time, all threads, per megapixel
    projected_cpu_hours: float = 0.0  # that rate over the whole tree: the work, on any machine
    partial: bool = False  # stopped (Ctrl-C) before the whole sample was converted
    sample_planned: int = 0  # the sample's size as asked; len(sample) files were converted
    comparison: Comparison | None = None  # with --compare: the alternatives side by side

    def to_dict(self) -> dict:
        d = asdict(self)
        for row in d["sample"]:
            row.pop("crops", None)  # pictures, for the HTML report only
        return d


def _format_of(path: Path) -> str:
    s = path.suffix.lower()
    return {".jpeg": "jpeg", ".jpg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}.get(s, s.lstrip("."))


def _megapixels(path: Path) -> float:
    """A file's size in megapixels from its header (0 for what cannot be read); above Pillow's
    own bomb limit too, which counted large pictures as 0."""
    try:
        with no_pillow_pixel_limit(), Image.open(path) as im:
            return im.width * im.height / 1e6
    except Exception:
        return 0.0


def _saving(cur: np.ndarray, proj: np.ndarray) -> float:
    return 100.0 * (1 - proj.sum() / cur.sum())


def _catch(fn, arg):
    try:
        return fn(arg)
    except CodecError as exc:
        return exc


def human_bytes(n: float) -> str:
    """A size in decimal units with three significant digits: 950 B, 1.23 kB, 45.6 MB, 7.89 TB."""
    if n < 999.5:
        return f"{round(n)} B"
    text = tqdm.format_sizeof(n, divisor=1000)
    return f"{text[:-1]} {text[-1]}B" if text[-1].isalpha() else f"{text} B"


def _pool_map(fn, items: list, jobs: int):
    """Yield (item, fn(item) or its CodecError) from `jobs` local processes as they finish: the
    batch's pool (codec.workers: workers ignore Ctrl-C and die with this process, a dead one
    fails its file alone) with the batch's thread share. Ctrl-C raises Stopped here; closing
    the generator stops the workers at once."""

    for k, r in imap_unordered(partial(_catch, fn), items, jobs, _init_worker,
                               (threads_for(jobs),)):
        yield items[k], r


def _packed_size(src, res, device: str, effort: int | None = None) -> int:
    """Bytes of what `encode --pack jxl` writes for the chosen file: the same picture and
    coefficients in the baseline form that packs smaller (codec.shrink), packed as JPEG XL.
    (Packing the progressive JPEG instead could come out larger than that JPEG.)"""

    model = read_meta(res.data).model_id
    data = file_maker(src, res.mode, model, EncodeOptions(device=pick_device(device), pack="jxl",
                                                          effort=effort))(res.quality)
    return len(pack_jxl(data))


def estimate_file(path: Path, target: Target | None, match_jpeg_quality: int | None,
                  model: str, device: str, pack: bool, effort: int | None = None,
                  compare: bool = False, crop_paths: frozenset = frozenset()) -> FileEstimate:
    """The smallest regen-codec file meeting the target for one source file; with `compare`,
    also each alternative's (codec.batch.compare), and for a file in `crop_paths` the crops the HTML
    report shows."""

    t, cpu = time.perf_counter(), time.process_time()
    src = load_image(path)
    tgt = target or Target(msssim=reference_quality(src.rgb, match_jpeg_quality))
    res = encode_to_target(src, tgt, EncodeOptions(mode="regen", model=model, device=pick_device(device),
                                                   effort=effort))
    b = res.best
    row = FileEstimate(
        path=str(path), format=_format_of(path), megapixels=src.size[0] * src.size[1] / 1e6,
        current_bytes=path.stat().st_size, projected_bytes=len(res.data) if res.data else None,
        packed_bytes=_packed_size(src, res, device, effort) if (pack and res.data) else None,
        quality=res.quality,
        achieved=(b.msssim if b and b.msssim is not None else b.psnr if b else None),
        seconds=time.perf_counter() - t, cpu_seconds=time.process_time() - cpu)
    if compare:
        _compare_file(row, path, src, tgt, res, device, str(path) in crop_paths)
    return row


def _compare_file(row: FileEstimate, path: Path, src, tgt: Target, res, device: str,
                  crops: bool) -> None:
    """Fill `row.alternatives` (and `row.crops`): every alternative at the same target."""

    alts, _ = compare.alternatives()
    pics: dict | None = {} if crops else None
    found = compare.compare_file(path, src, tgt, alts, is_jpeg=row.format == "jpeg",
                                 transcode=compare.transcode_available(), crops=pics)
    row.alternatives = {k: asdict(v) for k, v in found.items()}
    if pics is not None:
        if res.data:
            box = compare.crop_box(src.rgb)
            pics[f"{compare.REGEN} (plain view)"] = compare.crop_of(decode_jpeg(res.data)[0], box,
                                                                    src.size)
            pics[compare.REGEN] = compare.crop_of(
                restored_array(res.data, device=pick_device(device)), box, src.size)
        row.crops = {k: compare.png_data_uri(v) for k, v in pics.items()}


def bootstrap_resamples(rng: np.random.Generator, n: int, count: int = BOOTSTRAP) -> list[np.ndarray]:
    """`count` bootstrap resamples (index arrays) of a sample of `n`: every interval of an
    estimate, regen-codec's and each alternative's, is drawn from the same ones."""
    return [rng.integers(0, n, n) for _ in range(count)]


def estimate(paths: list[str], target: Target | None = None, match_jpeg_quality: int | None = None,
             sample: int = 50, seed: int = 0, model: str = DEFAULT_MODEL, device: str = "cpu",
             progress: bool = True, pack: bool = True, scheduler: str | None = None,
             effort: int | None = None, jobs: int = 1, compare: bool = False,
             crops: int = 0) -> Estimate:
    """Convert a seeded sample to the target and project the saving onto the whole tree.

    `effort`: the effort level of each file made (codec.encoder.effort; None: encode's default);
    `jobs`: local worker processes. Ctrl-C (KeyboardInterrupt) while converting stops the
    sample where it is: the estimate is made from the files done and marked `partial`
    (with none done, the KeyboardInterrupt goes on). `compare`: also every alternative
    (codec.batch.compare) at the same target; `crops`: the first this many sampled files keep crops
    of each method's decode for the HTML report (codec.bench.report_html)."""
    files = [f for f, _ in collect(paths, SOURCE_SUFFIXES)]
    if not files:
        raise CodecError("no images (JPEG, PNG, TIFF, WebP) found")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(files), size=min(sample, len(files)), replace=False))
    picked = [files[i] for i in chosen]
    one = partial(estimate_file, target=target, match_jpeg_quality=match_jpeg_quality,
                  model=model, device=device, pack=pack, effort=effort, compare=compare,
                  crop_paths=frozenset(str(p) for p in picked[:crops]))
    if scheduler:
        outcomes = ((p, r) for p, r in cluster_map(one, picked, scheduler))
    elif jobs > 1:
        outcomes = _pool_map(one, picked, jobs)
    else:
        outcomes = ((p, _catch(one, p)) for p in picked)
    rows: list[FileEstimate] = []
    stopped = False
    # the bar counts megapixels, not files: the time a file takes grows with its pixels, so
    # the time remaining holds when the sampled files differ in size
    mp = {p: max(_megapixels(p), 1e-6) for p in picked} if progress else {}
    bar = tqdm(total=sum(mp.values()), desc="comparing" if compare else "estimating",
               disable=not progress, dynamic_ncols=True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total:.2f} MP{postfix} "
                          "[{elapsed}, {remaining} left]")
    bar.set_postfix_str(f"0/{len(picked)} files")
    try:
        for k, (path, r) in enumerate(outcomes, 1):
            bar.update(mp.get(path, 0.0))
            bar.set_postfix_str(f"{k}/{len(picked)} files")
            if isinstance(r, Exception):
                # on stderr: stdout carries the report, which --json keeps machine-readable
                msg = str(r).removeprefix(f"{path}: ")  # errors that already name the file
                tqdm.write(f"regen-codec: skipped {path}: {msg}", file=sys.stderr)
            else:
                rows.append(r)
    except (KeyboardInterrupt, Stopped):  # Ctrl-C here, or in the local pool (codec.workers)
        stopped = True
        if not rows:
            raise
    finally:
        bar.close()
        if hasattr(outcomes, "close"):
            outcomes.close()  # a local pool's workers stop now
    rows.sort(key=lambda r: r.path)  # pool and cluster results arrive in any order
    if not rows:
        raise CodecError("no sampled file could be read")
    cur = np.array([r.current_bytes for r in rows], float)
    # a file that cannot meet the target is kept as it is
    proj = np.array([r.projected_bytes or r.current_bytes for r in rows], float)
    packed = np.array([min(r.packed_bytes or r.current_bytes, r.current_bytes) for r in rows], float)
    resamples = bootstrap_resamples(rng, len(rows))
    boots = [_saving(cur[idx], proj[idx]) for idx in resamples]
    saving = _saving(cur, proj)
    sizes = {f: f.stat().st_size for f in files}
    tree_bytes = sum(sizes.values())
    per_format = {}
    for fmt in sorted({_format_of(f) for f in files}):
        tb = sum(s for f, s in sizes.items() if _format_of(f) == fmt)
        sel = [k for k, r in enumerate(rows) if r.format == fmt]
        sv = _saving(cur[sel], proj[sel]) if sel else saving  # unsampled formats: overall rate
        per_format[fmt] = {"files": sum(_format_of(f) == fmt for f in files), "bytes": tb,
                           "sampled": len(sel), "saving_pct": sv,
                           "projected_bytes": int(tb * (1 - sv / 100))}
    tree_mp = sum(_megapixels(f) for f in files)
    sample_mp = max(1e-9, sum(r.megapixels for r in rows))
    sec_per_mp = sum(r.seconds for r in rows) / sample_mp
    cpu_per_mp = sum(r.cpu_seconds for r in rows) / sample_mp
    return Estimate(
        files_in_tree=len(files), tree_bytes=tree_bytes, tree_megapixels=tree_mp, sample=rows,
        target=(target.describe() if target else
                f"as good as JPEG quality {match_jpeg_quality} (MS-SSIM)"),
        saving_pct=saving, saving_ci95=(float(np.percentile(boots, 2.5)),
                                        float(np.percentile(boots, 97.5))),
        saving_packed_pct=_saving(cur, packed) if pack else None,
        projected_tree_bytes=sum(v["projected_bytes"] for v in per_format.values()),
        per_format=per_format, cannot_meet=[r.path for r in rows if r.projected_bytes is None],
        seconds_per_megapixel=sec_per_mp, projected_hours_this_machine=tree_mp * sec_per_mp / 3600,
        device=device, effort=resolve(effort, pick_device(device)),
        cpu_seconds_per_megapixel=cpu_per_mp, projected_cpu_hours=tree_mp * cpu_per_mp / 3600,
        partial=stopped, sample_planned=len(picked),
        # compared as every alternative is counted: a file it would make larger stays as it is
        comparison=_comparison(rows, resamples, np.minimum(proj, cur), packed if pack else None, target,
                               match_jpeg_quality, model) if compare else None)


def _comparison(rows: list[FileEstimate], resamples, proj, packed, target, match_jpeg_quality,
                model: str):
    """codec.batch.compare's summary, with regen-codec's rows as this estimate counted them."""

    alts, notes = compare.alternatives()
    labels = {compare.REGEN: (f"regen-codec ({model}), a standard JPEG restored on decode", True)}
    regen = {compare.REGEN: proj}
    if packed is not None:
        labels[compare.REGEN_PACKED] = ("regen-codec packed as JPEG XL (`--pack jxl`), a "
                                        "JPEG XL file that unpacks to the JPEG", False)
        regen[compare.REGEN_PACKED] = packed
    if compare.transcode_available():
        labels[compare.JXL_TRANSCODE] = ("the JPEG files as they are, recompressed losslessly "
                                         "by JPEG XL (imagecodecs; JPEG sources only, others "
                                         "stay as they are)", False)
    else:
        notes.append("jxl-transcode: skipped, this imagecodecs build has no JPEG XL")
    labels.update({a.name: (a.label, a.jpeg_viewer) for a in alts})
    what = (target.describe() if target else
            f"MS-SSIM as good as JPEG quality {match_jpeg_quality}")
    return compare.summarize(rows, labels, resamples, regen, what, notes)


def render(e: Estimate) -> str:
    """The table for people."""
    lines = [f"PARTIAL estimate (interrupted): from {len(e.sample)} of the {e.sample_planned} "
             f"sampled files"] if e.partial else []
    lines += [
        f"target: {e.target}; sample: {len(e.sample)} of {e.files_in_tree} files",
        f"current size of the tree:   {human_bytes(e.tree_bytes):>10}",
        f"projected size:             {human_bytes(e.projected_tree_bytes):>10}",
        f"saving:                     {e.saving_pct:9.1f} %   (95% CI {e.saving_ci95[0]:.1f} to "
        f"{e.saving_ci95[1]:.1f} %, bootstrap over the sample)",
    ]
    if e.saving_packed_pct is not None:
        lines.append(f"saving with --pack jxl:     {e.saving_packed_pct:9.1f} %")
    lines += ["", f"{'format':<8}{'files':>8}{'sampled':>9}{'now':>12}{'after':>12}{'saving':>9}"]
    for fmt, v in e.per_format.items():
        lines.append(f"{fmt:<8}{v['files']:>8}{v['sampled']:>9}{human_bytes(v['bytes']):>12}"
                     f"{human_bytes(v['projected_bytes']):>12}{v['saving_pct']:>8.1f}%")
    lines += ["", f"conversion time on this machine ({e.device}): {e.seconds_per_megapixel:.2f} s "
              f"per megapixel with the target search, about {e.projected_hours_this_machine:.2f} "
              f"hours for the tree ({e.tree_megapixels:.1f} megapixels)",
              f"at effort {e.effort} ({LEVELS[e.effort].name}): "
              f"{e.cpu_seconds_per_megapixel:.2f} CPU-seconds per megapixel "
              f"(all threads), about {e.projected_cpu_hours:.2f} CPU-hours for the tree"]
    if e.cannot_meet:
        lines += ["", f"{len(e.cannot_meet)} sampled file(s) cannot meet the target (kept as is):"]
        lines += [f"  {p}" for p in e.cannot_meet]
    if e.comparison is not None:
        # the three lines a person reads first, then the alternatives in full at the end
        head = compare.headline(e.comparison, e.files_in_tree) + [""]
        lines = lines[:1] + head + lines[1:] if e.partial else head + lines  # PARTIAL stays first
        lines += ["", "alternatives at the same target, on the same sampled files:", "",
                  compare.render(e.comparison)]
    return "\n".join(lines)


__all__ = ["estimate", "render", "human_bytes", "Estimate", "FileEstimate"]
