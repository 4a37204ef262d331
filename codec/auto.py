"""`--mode auto`: choose, per image, between the full-size route (regen) and the half-size
route (comrec), whichever restores better for the same bytes.

Rule, for a requested quality Q:
1. make the regen file at Q; if it costs at least AUTO_MAX_BPP bits per pixel, keep it
   (at such rates shrinking never won on held-out training images: see
   bench/results/comrec/crossover.json, made by bench/comrec_crossover.py);
2. else make the best comrec file that is no larger (the highest comrec quality within
   the regen file's bytes), restore both with their networks, and keep comrec only when it
   is better against the source in both MS-SSIM and PSNR; regen otherwise (ties, mixed
   verdicts, or no comrec file fits).
So auto never spends more bytes than regen at Q and, per image, is never worse than regen in
either measure; below the threshold it costs two network decodes per image. (Until 2026-11-25
MS-SSIM alone decided; comrec's half-size files often win on structure and lose on pixel error,
so that rule bought MS-SSIM with PSNR: on Kodak +0.7 points of MS-SSIM BD-rate, -3.8 in PSNR.)
With a target (`--target-*`, `--max-bytes`), codec.target searches both modes and keeps the
smaller passing file (the better one for a byte budget).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import metrics
from .imageio import SourceImage
from .registry import DEFAULT_COMREC, DEFAULT_MODEL, find_model

# Regen files at or above this rate skip the comparison. Measured on held-out crops
# (bench/comrec_crossover.py, regen-fast-tuned vs comrec-r7, file format 2): the mean curves
# cross at 0.57 bpp in MS-SSIM dB and 0.39 bpp in PSNR, and with the threshold lifted comrec
# won in both measures for no crop whose regen file was above 0.36 bpp (format 1: one crop at
# 0.417), so above 0.4 the comparison would be wasted work.
AUTO_MAX_BPP = 0.4
#: Part of the benchmark's cache key for auto: change it whenever the rule or threshold changes.
RULE_VERSION = "both-0.4"


@dataclass
class Choice:
    """The file auto mode keeps, and why."""

    mode: str
    quality: int
    data: bytes
    msssim: dict[str, float]  # per mode compared (empty when the threshold decided)
    psnr: dict[str, float]


def candidate_models(model: str | None) -> tuple[str, str]:
    """(regen model, comrec model): `model` replaces the default of its own mode."""
    regen, comrec = DEFAULT_MODEL, DEFAULT_COMREC
    if model:
        if find_model(model).mode == "comrec":
            comrec = model
        else:
            regen = model
    return regen, comrec


def best_within(make, max_bytes: int) -> tuple[int, bytes] | None:
    """The highest quality whose file fits in `max_bytes`: codec.target's byte-budget search
    (bisection, then the settings just above the answer, since size is not strictly monotonic)."""
    from .target import Target, search

    res = search(None, Target(max_bytes=max_bytes), make, restore=None)
    return None if res.quality is None else (res.quality, res.data)


def choose(src: SourceImage, quality: int, model: str | None = None, *, tables: str,
           subsampling: str | None = None, progressive: bool = False,
           device: str = "cpu", max_bpp: float | None = None, for_pack: bool = False,
           fit: bool = True, allocate: bool = False, effort: int | None = None) -> Choice:
    """Apply the rule in this module's docstring to one image (`max_bpp` replaces
    AUTO_MAX_BPP, e.g. inf to always compare, as bench/comrec_crossover.py does).
    `allocate`: the regen file's quality is chosen per image (codec.allocate, api.regen_file)."""
    from .api import file_maker, regen_file, restored_array

    regen_id, comrec_id = candidate_models(model)
    opts = dict(tables=tables, subsampling=subsampling, progressive=progressive, device=device,
                for_pack=for_pack, fit=fit, effort=effort)
    rq, regen = regen_file(src, quality, regen_id, allocate=allocate, **opts)
    if len(regen) * 8 / (src.size[0] * src.size[1]) >= (AUTO_MAX_BPP if max_bpp is None else max_bpp):
        return Choice("regen", rq, regen, {}, {})
    if min(src.size) < metrics.MSSSIM_MIN_SIDE:  # too small to compare by MS-SSIM: keep regen
        return Choice("regen", rq, regen, {}, {})
    found = best_within(file_maker(src, "comrec", comrec_id, **opts), len(regen))
    if found is None:
        return Choice("regen", rq, regen, {}, {})
    cq, comrec = found
    ms, ps = {}, {}
    for m, d in (("regen", regen), ("comrec", comrec)):
        out = restored_array(d, device=device)
        ms[m], ps[m] = metrics.ms_ssim(src.rgb, out), metrics.psnr(src.rgb, out)
    if ms["comrec"] > ms["regen"] and ps["comrec"] > ps["regen"]:
        return Choice("comrec", cq, comrec, ms, ps)
    return Choice("regen", rq, regen, ms, ps)
