"""Quality-targeted encoding: the smallest regen-codec file whose regenerated decode meets a
target (MS-SSIM or PSNR against the source), or the best one that fits a byte budget.

The quality setting is searched with the decoder in the loop. Size and quality are nearly but
not strictly monotonic in the setting, so after a bisection the search also tries the settings
just below the one it found, and checks every evaluated point for a violation of monotonicity
(reported, never assumed away).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..format.jpeg import decode_jpeg, encode_jpeg
from ..format.pack import packed_size
from ..io.imageio import SourceImage
from ..utils import metrics, progress
from .maker import candidate_models, file_maker, restored_array
from .options import EncodeOptions, Target

PROBE_BELOW = 2  # extra settings tried below the bisection's answer


@dataclass
class Probe:
    quality: int
    bytes: int
    msssim: float | None = None
    psnr: float | None = None
    ok: bool = False


@dataclass
class SearchResult:
    quality: int | None  # None: no setting meets the target
    data: bytes | None
    probes: list[Probe] = field(default_factory=list)
    monotonic: bool = True
    mode: str = "regen"

    @property
    def best(self) -> Probe | None:
        return next((p for p in self.probes if p.quality == self.quality), None)


def _shortfall(p: Probe, target: Target) -> float:
    """How far a probe is from `target`, smaller nearer: its bytes for a byte budget, else its
    restored quality, negated."""
    if target.max_bytes is not None:
        return p.bytes
    got = p.msssim if target.msssim is not None else p.psnr
    return float("inf") if got is None else -got


def nearest(res: SearchResult, target: Target) -> Probe:
    """The probe of a search that came closest to `target`: the smallest file for a byte
    budget, else the highest restored quality (what "cannot reach" reports)."""
    return min(res.probes, key=lambda p: _shortfall(p, target))


def search(src: SourceImage, target: Target, make_file, restore, size=len) -> SearchResult:
    """Search quality 1-100 for the smallest file meeting `target`.

    `make_file(quality) -> bytes` writes the candidate file (a regen-codec JPEG) and
    `restore(bytes) -> HxWx3 uint8` decodes it the way `decode` does; `size(bytes) -> int` is
    what a byte counts as written (packed_size when the file will be packed as JPEG XL).
    """
    with progress.counter(f"searching the quality for {target.describe()}", "setting") as bar:
        return _search(src, target, make_file, restore, size, bar)


def _search(src: SourceImage, target: Target, make_file, restore, size, bar) -> SearchResult:
    """search(), counting each setting tried on `bar`."""
    cache: dict[int, tuple[Probe, bytes]] = {}

    def probe(q: int) -> Probe:
        if q in cache:
            return cache[q][0]
        bar.update(1)
        data = make_file(q)
        p = Probe(q, size(data))
        if target.max_bytes is not None:
            p.ok = p.bytes <= target.max_bytes
        else:
            out = restore(data)
            if target.msssim is not None:
                p.msssim = metrics.ms_ssim(src.rgb, out)
                p.ok = p.msssim >= target.msssim
            else:
                p.psnr = metrics.psnr(src.rgb, out)
                p.ok = p.psnr >= target.psnr
        cache[q] = (p, data)
        return p

    budget = target.max_bytes is not None
    lo, hi = 1, 100
    # Bisection: for quality targets find the lowest passing setting, for a byte budget the
    # highest passing one.
    if budget:
        if not probe(1).ok:
            return SearchResult(None, None, [cache[1][0]])
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if probe(mid).ok else (lo, mid - 1)
        found = lo
        for q in range(found + 1, min(100, found + PROBE_BELOW) + 1):
            probe(q)
    else:
        if not probe(100).ok:
            return SearchResult(None, None, [cache[100][0]])
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if probe(mid).ok else (mid + 1, hi)
        found = lo
        for q in range(max(1, found - PROBE_BELOW), found):
            probe(q)
    probes = sorted((v[0] for v in cache.values()), key=lambda p: p.quality)
    ok = [p for p in probes if p.ok]
    # quality targets: the smallest passing file; byte budget: the best passing quality
    best = min(ok, key=lambda p: p.bytes) if not budget else max(ok, key=lambda p: p.quality)
    flags = [p.ok for p in probes]
    monotonic = flags == sorted(flags, reverse=budget)
    return SearchResult(best.quality, cache[best.quality][1], probes, monotonic)


def encode_to_target(src: SourceImage, target: Target, options: EncodeOptions, *,
                     tile: int = 1024) -> SearchResult:
    """The search above with regen-codec's own encoder and decoder, in `options.mode` (its
    quality is not read); `auto` searches regen and comrec and keeps the smaller passing file
    (for a byte budget: the one whose restored MS-SSIM is higher). The result's `mode` says
    which. `options.model` names the network (with auto, it replaces its own mode's default);
    the other options are file_maker's: the files searched are the files written.
    `options.pack`: the file will be packed as JPEG XL, so sizes (the byte budget, "smaller",
    the probes' bytes) are the packed sizes; the result's data is still the JPEG."""
    opts = options
    device, mode, model_id = opts.device, opts.mode, opts.model

    def restore(data: bytes) -> np.ndarray:
        return restored_array(data, device=device, tile=tile)

    size = packed_size if opts.for_pack else len
    if mode != "auto":
        res = search(src, target, file_maker(src, mode, model_id, opts), restore, size)
        res.mode = mode
        return res
    results, tried = [], []
    for m, mid in zip(("regen", "comrec"), candidate_models(model_id)):
        res = search(src, target, file_maker(src, m, mid, opts), restore, size)
        res.mode = m
        tried.append(res)
        if res.quality is not None:
            results.append(res)
    if not results:  # the mode that came closest, for the error to report
        return min(tried, key=lambda r: _shortfall(nearest(r, target), target))
    if target.max_bytes is None:
        return min(results, key=lambda r: r.best.bytes)  # size(r.data), measured by the search
    return max(results, key=lambda r: metrics.ms_ssim(src.rgb, restore(r.data)))


def reference_quality(rgb: np.ndarray, jpeg_quality: int) -> float:
    """MS-SSIM of `rgb` re-saved as a plain Pillow JPEG at `jpeg_quality` (the 'look like' bar)."""
    coded, _ = decode_jpeg(encode_jpeg(Image.fromarray(rgb), jpeg_quality, optimize=False))
    return metrics.ms_ssim(rgb, coded)
