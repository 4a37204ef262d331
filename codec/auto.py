"""`--mode auto`: choose, per image, between the full-size route (regen) and the half-size
route (comrec), whichever restores better for the same bytes.

Rule, for a requested quality Q:
1. make the regen file at Q; if it costs at least AUTO_MAX_BPP bits per pixel, keep it
   (at such rates shrinking never won on held-out training images: see
   bench/results/comrec/crossover.json, made by bench/comrec_crossover.py);
2. else make the best comrec file that is no larger (the highest comrec quality within
   the regen file's bytes), restore both with their networks, and keep the one with the
   higher MS-SSIM against the source; regen on ties or when no comrec file fits.
So auto never spends more bytes than regen at Q, and below the threshold it costs two
network decodes per image. With a target (`--target-*`, `--max-bytes`), codec.target
searches both modes and keeps the smaller passing file (the better one for a byte budget).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import metrics
from .imageio import SourceImage
from .registry import DEFAULT_COMREC, DEFAULT_MODEL, find_model

# Regen files at or above this rate skip the comparison (see above). Measured crossover on held-out
# crops (bench/comrec_crossover.py, regen-fast-tuned vs comrec-fast-rd): 0.64 bpp in MS-SSIM dB,
# 0.35 bpp in PSNR; above 0.65 bpp comrec never won there, so the comparison would be wasted work.
AUTO_MAX_BPP = 0.65


@dataclass
class Choice:
    """The file auto mode keeps, and why."""

    mode: str
    quality: int
    data: bytes
    msssim: dict[str, float]  # per mode compared (empty when the threshold decided)


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
           device: str = "cpu") -> Choice:
    """Apply the rule in this module's docstring to one image."""
    from .api import file_maker, restored_array

    regen_id, comrec_id = candidate_models(model)
    opts = dict(tables=tables, subsampling=subsampling, progressive=progressive, device=device)
    regen = file_maker(src, "regen", regen_id, **opts)(quality)
    if len(regen) * 8 / (src.size[0] * src.size[1]) >= AUTO_MAX_BPP:
        return Choice("regen", quality, regen, {})
    found = best_within(file_maker(src, "comrec", comrec_id, **opts), len(regen))
    if found is None:
        return Choice("regen", quality, regen, {})
    cq, comrec = found
    score = {m: metrics.ms_ssim(src.rgb, restored_array(d, device=device))
             for m, d in (("regen", regen), ("comrec", comrec))}
    if score["comrec"] > score["regen"]:
        return Choice("comrec", cq, comrec, score)
    return Choice("regen", quality, regen, score)
