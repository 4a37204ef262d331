"""Restoration strength: how much of the network's correction a file's decode keeps.

The encoder has the source, so it decodes its own file and fits one number s in [0, 1]:
decoded = plain + s * (restored - plain), with s the least-squares fit to the source rounded to
1/64 (codec.format.container stores it), or whichever end, s = 0 (the plain decode) or s = 1 (the
network alone), is better after the decode's rounding to 8 bits: in PSNR a fitted file never
decodes worse than a plain viewer shows it, nor than the network alone. Where the network
helps, s comes out at or near 1; where it hurts (fine steps on grainy 4:4:4 photos, see
bench/results/heldout-photos), s falls towards 0. A blend of two
pictures that are consistent with the file's coefficients stays consistent with them.
"""

from __future__ import annotations

import numpy as np

from ..format.container import STRENGTH_STEPS


def fit(plain: np.ndarray, restored: np.ndarray, source: np.ndarray) -> float:
    """The strength in [0, 1], in steps of 1/STRENGTH_STEPS, that brings the blend of `plain`
    and `restored` closest to `source` in squared error (HxWx3 uint8 arrays of one size).

    The least-squares value, rounded to the grid, competes with 0 and 1 after the blend's
    rounding to 8 bits, so the result is never worse than either end. Works in strips of rows,
    so a large picture needs little memory beyond its three arrays."""
    de = dd = 0.0
    for p, r, src in _strips(plain, restored, source):
        p, d = p.astype(np.float32), r.astype(np.float32) - p
        de += float((d * (src.astype(np.float32) - p)).sum())
        dd += float((d * d).sum())
    if dd == 0:
        return 1.0
    s = float(np.clip(np.round(de / dd * STRENGTH_STEPS), 0, STRENGTH_STEPS)) / STRENGTH_STEPS
    errors = dict.fromkeys(sorted({1.0, s, 0.0}, reverse=True), 0.0)
    for p, r, src in _strips(plain, restored, source):
        for k in errors:  # scored on exactly the pixels decode's apply() will give
            errors[k] += float(np.square(apply(p, r, k).astype(np.float32) - src).sum())
    return min(errors, key=errors.get)  # ties go to the first, the strongest


def _strips(*arrays: np.ndarray, rows: int = 256):
    """The arrays a strip of rows at a time (views: no copies)."""
    for y in range(0, arrays[0].shape[0], rows):
        yield tuple(a[y:y + rows] for a in arrays)


def apply(plain: np.ndarray, restored: np.ndarray, strength: float | None) -> np.ndarray:
    """plain + strength * (restored - plain), rounded to uint8; `restored` itself at None or 1."""
    if strength is None or strength >= 1:
        return restored
    p = plain.astype(np.float32)
    out = p + np.float32(strength) * (restored.astype(np.float32) - p)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
