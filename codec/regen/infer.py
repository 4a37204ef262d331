"""Running a restoration network on an image of any size, in overlapping tiles.

Each tile is run with `overlap` pixels of context on every side; the context is discarded
and neighbouring tiles are cross-faded over a narrow band, so memory stays bounded by the tile
size and the result matches an untiled run (the context is wider than the receptive field).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from ..errors import CodecError

GRID = 16  # tile origins stay on this grid: a multiple of the network stride and the JPEG MCU
BLEND = 16  # cross-fade band between neighbouring tiles, pixels


def pick_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'; 'cuda' without a GPU is an error."""
    if not isinstance(device, str):  # None failed with "'NoneType' has no attribute 'startswith'"
        raise CodecError(f"unknown device {device!r} (use auto, cpu or cuda)")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CodecError("--device cuda: no CUDA GPU is available (use --device cpu or auto)")
    if device != "cpu" and not device.startswith("cuda"):
        raise CodecError(f"unknown device {device!r} (use auto, cpu or cuda)")
    return device


def _run(model, tile: np.ndarray, cond: torch.Tensor, device: str) -> np.ndarray:
    x = torch.from_numpy(np.array(tile)).to(device)  # a writable copy of the tile
    with torch.inference_mode():
        x = x.permute(2, 0, 1)[None].float().div_(255).contiguous(memory_format=torch.channels_last)
        y = model(x, cond)
        return y[0].clamp_(0, 1).mul_(255).round_().byte().permute(1, 2, 0).cpu().numpy()


def _ramp(n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.float32) + 0.5) / n


def regenerate(model, rgb: np.ndarray, cond: np.ndarray, device: str = "cpu",
               tile: int = 1024, overlap: int = 48, progress: bool = False) -> np.ndarray:
    """Restore an HxWx3 uint8 image with `model` conditioned on `cond`; returns HxWx3 uint8."""
    h, w = rgb.shape[:2]
    tile = max(GRID * 4, tile // GRID * GRID)
    overlap = max(overlap, getattr(model, "context", 0))  # a deeper network needs more
    overlap = -(-overlap // GRID) * GRID
    c = torch.from_numpy(cond[None]).to(device)
    if h <= tile and w <= tile:
        return _run(model, rgb, c, device)
    out = np.empty_like(rgb)
    ys, xs = range(0, h, tile), range(0, w, tile)
    bar = tqdm(total=len(ys) * len(xs), desc="regenerating", unit="tile", disable=not progress,
               leave=False)
    for y0 in ys:
        for x0 in xs:
            # core [y0, y1) x [x0, x1), extended back by BLEND into the tiles already written
            by, bx = (BLEND if y0 else 0), (BLEND if x0 else 0)
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            wy0, wx0 = max(0, y0 - by - overlap), max(0, x0 - bx - overlap)
            wy1, wx1 = min(h, y1 + overlap), min(w, x1 + overlap)
            res = _run(model, rgb[wy0:wy1, wx0:wx1], c, device)
            cy, cx = y0 - by, x0 - bx
            core = res[cy - wy0:y1 - wy0, cx - wx0:x1 - wx0]
            if by or bx:
                wgt = np.ones(core.shape[:2], np.float32)
                if by:
                    wgt[:by] *= _ramp(by)[:, None]
                if bx:
                    wgt[:, :bx] *= _ramp(bx)[None, :]
                prev = out[cy:y1, cx:x1].astype(np.float32)
                blended = prev + (core.astype(np.float32) - prev) * wgt[:, :, None]
                out[cy:y1, cx:x1] = np.round(blended).astype(np.uint8)
            else:
                out[cy:y1, cx:x1] = core
            bar.update(1)
    bar.close()
    return out
