"""RecCNN: the regeneration U-Net, run on the bicubic 2x upscale of the decoded compact image.

It reuses `codec.regen.model.RegenNet` (quality-aware, residual), conditioned on the compact
JPEG's tables; `upscale` brings the compact image back to the exact original size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..regen.model import RegenNet


def upscale(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic 2x upscale of the compact image cropped to (H, W), on 8-bit levels.

    Exactly 2x (then cropped, for odd sides) so that strips of a large image upscale
    identically to the whole; rounding is straight-through so gradients pass.
    """
    up = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)[..., :size[0], :size[1]]
    up = up.clamp(0, 1) * 255
    return (up + (torch.round(up) - up).detach()) / 255


class RecCNN(RegenNet):
    """Same network as RegenNet; a separate class so the registry knows its role."""
