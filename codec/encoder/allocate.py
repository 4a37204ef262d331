"""Per-image choice of the JPEG quality: what `--quality` means for a regen file.

At one JPEG quality, some pictures buy far more restored quality per byte than others. So in
regen mode `--quality Q` sets an exchange rate between bytes and restored quality, and the
encoder (which has the source) tries JPEG qualities near Q, restores each file as `decode`
will, and keeps the one of least cost

    bpp / B(Q)  -  WEIGHT_MSSSIM * a(Q) * MS-SSIM  -  (1 - WEIGHT_MSSSIM) * b(Q) * PSNR

where B(Q) is the mean bits per pixel at Q, and a(Q), b(Q) turn a gain in this picture's
MS-SSIM or PSNR into the log rate it is worth on the mean rate-quality curve (the benchmark
averages bpp, PSNR and MS-SSIM over pictures). Summed over pictures, that is the Lagrangian
of the mean curve, so a collection coded this way gets more mean quality for its total bytes
than one coded at one fixed quality. B, a and b are data (codec/allocation.json, per table
set), measured on the whole held-out files of the training pool by
bench/calibrate_allocation.py --whole, never on Kodak. The search is a hill climb in steps of STEP
within WINDOW of Q, then one finer step.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from ..utils import metrics, progress

WEIGHT_MSSSIM = 0.85  # the cost's share of MS-SSIM; PSNR has the rest
WINDOW = 16  # the kept quality is within this many settings of the requested one
STEP = 4
_TABLE = Path(__file__).with_name("allocation.json")
_TILE = 1024  # pictures above 4 tiles score MS-SSIM as the mean over tiles (bounded memory)


#: The calibration key of plain Pillow JPEG seen by a plain viewer (the benchmark's `jpeg`
#: method): its reference row `jpeg-alloc`, the same rule without the network, not something
#: `encode` writes.
PLAIN_JPEG = "pillow-jpeg"


@dataclass(frozen=True)
class Tradeoff:
    """The exchange rates at one requested quality (see the module docstring)."""

    bpp: float
    msssim_weight: float
    psnr_weight: float

    @classmethod
    def from_table(cls, table: dict, quality: int) -> "Tradeoff":
        """The rates of `table` (a calibration: per-quality lists) at `quality`."""
        i = int(np.clip(quality, 1, 100)) - 1
        return cls(table["bpp"][i], table["msssim_weight"][i], table["psnr_weight"][i])

    def cost(self, bpp: float, msssim: float, psnr: float) -> float:
        """Bytes minus what the restored quality is worth, in units of log rate."""
        psnr = min(psnr, 100.0)  # a lossless decode is worth no more than a near-lossless one
        return (bpp / self.bpp - WEIGHT_MSSSIM * self.msssim_weight * msssim
                - (1 - WEIGHT_MSSSIM) * self.psnr_weight * psnr)


@lru_cache(maxsize=1)
def _calibrations() -> dict:
    return json.loads(_TABLE.read_text())


def rule_id(tables: str) -> str:
    """A short digest of the rule and of its calibration for `tables` (part of the benchmark's
    cache key); "none" where that set has none."""
    cal = _calibrations().get(tables)
    if cal is None:
        return "none"
    text = f"{WEIGHT_MSSSIM}-{WINDOW}-{STEP}-" + json.dumps(cal, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def tradeoff(tables: str, quality: int) -> Tradeoff | None:
    """The exchange rates for files of table set `tables`; None where that set has none (such
    files are coded at the requested quality)."""
    cal = _calibrations().get(tables)
    return None if cal is None else Tradeoff.from_table(cal, quality)


def climb(quality: int, cost: Callable[[int], float], window: int = WINDOW,
          step: int = STEP) -> tuple[int, int]:
    """The quality the hill climb keeps, and how many qualities it scored.

    From `quality`, step by `step` up (or, if the first step up does not pay, down) while the
    cost falls, staying within `window` of `quality` and in 1-100 (a step that would leave them
    stops at the edge); then try half a step either side of the best."""
    lo, hi = max(1, quality - window), min(100, quality + window)
    seen: dict[int, float] = {}

    def f(q: int) -> float:
        if q not in seen:
            seen[q] = cost(q)
        return seen[q]

    def to(d: int) -> int:  # the step d from best, stopped at the window's edge
        return min(hi, max(lo, best + d))

    def better(q: int) -> bool:  # the step to q pays
        return q != best and f(q) < f(best)

    best = quality
    for d in (step, -step):
        while better(to(d)):
            best = to(d)
        if best != quality:
            break
    half = max(1, step // 2)
    for d in (half, -half):
        if better(to(d)):
            best = to(d)
            break
    f(best)  # scored even when no step was possible (a window of 0): choose() keeps its file
    return best, len(seen)


def measure(source: np.ndarray, restored: np.ndarray) -> tuple[float, float]:
    """(MS-SSIM, PSNR) of `restored` against `source`; above 4 megapixels MS-SSIM is the mean
    over 1024-pixel tiles (bounded memory; the choice only needs a faithful estimate)."""
    h, w = source.shape[:2]
    if h * w <= 4 * _TILE * _TILE:
        return metrics.ms_ssim(source, restored), metrics.psnr(source, restored)
    ms, weights, se = [], [], 0.0
    for y in range(0, h, _TILE):
        for x in range(0, w, _TILE):
            s, r = source[y:y + _TILE, x:x + _TILE], restored[y:y + _TILE, x:x + _TILE]
            se += float(np.square(s.astype(np.float32) - r).sum())
            if min(s.shape[:2]) >= metrics.MSSSIM_MIN_SIDE:
                ms.append(metrics.ms_ssim(s, r))
                weights.append(s.shape[0] * s.shape[1])
    mse = se / source.size
    return float(np.average(ms, weights=weights)), (float("inf") if mse == 0
                                                    else 10 * np.log10(255 ** 2 / mse))


def choose(make: Callable[[int], bytes], restore: Callable[[bytes], np.ndarray],
           source: np.ndarray, quality: int, tables: str) -> tuple[int, bytes]:
    """(JPEG quality, file) that codec.encoder.allocate's rule keeps for `source` at `quality`.

    `make(q)` makes the file at JPEG quality q, `restore(file)` decodes it as `decode` does.
    A table set without a calibration keeps `quality`."""
    tr = tradeoff(tables, quality)
    if tr is None:
        return quality, make(quality)
    pixels = source.shape[0] * source.shape[1]
    files: dict[int, bytes] = {}

    bar = progress.counter("choosing the quality for this image", "setting")

    def cost(q: int) -> float:
        bar.update(1)
        files[q] = make(q)
        ms, ps = measure(source, restore(files[q]))
        return tr.cost(len(files[q]) * 8 / pixels, ms, ps)

    with bar:
        best, _ = climb(quality, cost)
    return best, files[best]
