"""Decoding the comrec mode: upscale the decoded compact image in strips, then RecCNN in tiles."""

from __future__ import annotations

import numpy as np
import torch

from ..comcnn.model import compact_size
from ..errors import CodecError
from ..regen.infer import regenerate
from .model import upscale

STRIP = 256  # compact rows per strip
CONTEXT = 4  # compact rows of context (bicubic reads 2 on each side)


def upscale_image(small: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic 2x upscale (uint8, HxWx3, cropped to `size` = (H, W)) with bounded memory.

    `size` must be one whose compact image (compact_size) is `small`'s: any other would leave
    rows or columns of the output unwritten (uninitialized memory) or cut."""
    h, w = size
    if compact_size(h, w) != small.shape[:2]:
        raise CodecError(f"a {small.shape[1]}x{small.shape[0]} compact image cannot restore to "
                         f"{w}x{h}: the file is damaged")
    sh = small.shape[0]
    out = np.empty((h, w, 3), np.uint8)
    for a in range(0, sh, STRIP):
        b = min(sh, a + STRIP)
        a0, b0 = max(0, a - CONTEXT), min(sh, b + CONTEXT)
        x = torch.from_numpy(np.array(small[a0:b0])).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            up = upscale(x, (2 * (b0 - a0), 2 * small.shape[1]))
        up = (up[0] * 255).round().byte().permute(1, 2, 0).numpy()
        rows = up[2 * (a - a0):2 * (a - a0) + 2 * (b - a)]
        lo, hi = 2 * a, min(h, 2 * b)
        out[lo:hi] = rows[:hi - lo, :w]
    return out


def restore(model, small: np.ndarray, cond: np.ndarray, size: tuple[int, int],
            device: str = "cpu", tile: int = 1024, progress: bool = False) -> np.ndarray:
    """The full-size image from the decoded compact JPEG."""
    return regenerate(model, upscale_image(small, size), cond, device=device, tile=tile,
                      progress=progress)
