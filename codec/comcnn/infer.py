"""Running ComCNN on an image of any size: tiles with context, stitched (output is half size)."""

from __future__ import annotations

import numpy as np
import torch

from .model import compact_size

CONTEXT = 32  # full-resolution pixels of context per side (receptive field is ~14)


def compact(model, rgb: np.ndarray, device: str = "cpu", tile: int = 1024) -> np.ndarray:
    """The compact image (ceil(H/2) x ceil(W/2) x 3, uint8) of an HxWx3 uint8 image."""
    h, w = rgb.shape[:2]
    ch, cw = compact_size(h, w)
    out = np.empty((ch, cw, 3), np.uint8)
    tile = max(64, tile // 2 * 2)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            wy0, wx0 = max(0, y0 - CONTEXT), max(0, x0 - CONTEXT)
            wy1, wx1 = min(h, y1 + CONTEXT), min(w, x1 + CONTEXT)
            x = torch.from_numpy(np.array(rgb[wy0:wy1, wx0:wx1])).to(device)
            with torch.inference_mode():
                y = model(x.permute(2, 0, 1)[None].float().div_(255))
                y = y[0].clamp_(0, 1).mul_(255).round_().byte().permute(1, 2, 0).cpu().numpy()
            oy, ox = (y0 - wy0) // 2, (x0 - wx0) // 2
            out[y0 // 2:(y1 + 1) // 2, x0 // 2:(x1 + 1) // 2] = y[oy:oy + (y1 + 1) // 2 - y0 // 2,
                                                                   ox:ox + (x1 + 1) // 2 - x0 // 2]
    return out
