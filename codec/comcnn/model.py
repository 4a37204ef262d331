"""ComCNN (after Jiang et al. 2017): full-resolution RGB -> compact half-resolution RGB.

The output is a bicubic 2x downscale plus a learned correction, so an untrained ComCNN is
exactly the no-network baseline; odd sizes round up (ceil(H/2) x ceil(W/2)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..format.container import compact_size  # noqa: F401  (the format's rule; re-exported for callers)


def pad_even(x: torch.Tensor) -> torch.Tensor:
    """Replicate the last row / column of odd-sized images."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, w % 2, 0, h % 2), mode="replicate") if (h % 2 or w % 2) else x


def downscale(x: torch.Tensor) -> torch.Tensor:
    """The no-network route: antialiased bicubic 2x downscale (odd sides padded, so round up).

    Exactly 2x, so a tile of a large image downscales identically to the whole image."""
    return F.interpolate(pad_even(x), scale_factor=0.5, mode="bicubic", align_corners=False,
                         antialias=True)


class ComCNN(nn.Module):
    """x (B,3,H,W in [0,1]) -> compact (B,3,ceil(H/2),ceil(W/2)), not yet clamped or rounded."""

    def __init__(self, width: int = 32, depth: int = 3):
        super().__init__()
        self.config = dict(width=width, depth=depth)
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.down = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(depth))
        self.tail = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp = pad_even(x)
        y = F.leaky_relu(self.head(xp * 2 - 1), 0.1)
        y = F.leaky_relu(self.down(y), 0.1)
        for conv in self.body:
            y = y + F.leaky_relu(conv(y), 0.1)
        return downscale(xp) + self.tail(y)
