"""Geometric self-ensemble: run the network on flipped (and transposed) copies and average.

A restoration network is not exactly equivariant to flips, so averaging its outputs over the
eight symmetries of the square cancels part of its error, at 2, 4 or 8 times the work. A flipped
copy is padded at its leading edge so that the JPEG block grid (and the chroma MCU) of the flipped
picture falls on multiples of 16 again, as the network saw in training; a transposed copy also
gets transposed quantization tables, and is used only when the subsampling is symmetric.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..format.jpeg import SUBSAMPLINGS

MCU = 16  # the largest JPEG block grid (4:2:0 MCU)
CHOICES = (1, 2, 4, 8)
# (transpose, flip rows, flip columns): the first n are used for an n-member ensemble
_MEMBERS = ((False, False, False), (False, False, True), (False, True, False), (False, True, True),
            (True, False, False), (True, False, True), (True, True, False), (True, True, True))
_SYMMETRIC = [SUBSAMPLINGS.index("4:4:4"), SUBSAMPLINGS.index("4:2:0")]


def _transpose_cond(cond: torch.Tensor) -> torch.Tensor:
    """The tables of a transposed picture: each 8x8 table (natural order) transposed."""
    n = cond.shape[0]
    tables = cond[:, :128].reshape(n, 2, 8, 8).transpose(-1, -2).reshape(n, 128)
    return torch.cat([tables, cond[:, 128:]], dim=1)


class SelfEnsemble(nn.Module):
    """`model` averaged over `members` (1, 2, 4 or 8) symmetries; same call as the model.

    `grid`: the block grid of the pictures it sees, in pixels (16 for a decode's 4:2:0 MCU; 32
    for a comrec upscale, whose 16-pixel MCUs were doubled)."""

    def __init__(self, model: nn.Module, members: int = 8, grid: int = MCU):
        super().__init__()
        if members not in CHOICES:
            raise ValueError(f"ensemble size must be one of {CHOICES}, not {members}")
        self.model, self.members, self.grid = model, members, grid

    @property
    def context(self) -> int:
        return getattr(self.model, "context", 0)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if self.members == 1:
            return self.model(x, cond)
        h, w = x.shape[-2:]
        symmetric = bool(cond[:, 128 + torch.tensor(_SYMMETRIC)].sum(1).gt(0).all())
        members = [m for m in _MEMBERS[: self.members] if symmetric or not m[0]]
        total = None
        for transpose, flip_rows, flip_cols in members:
            y, c = x, cond
            # pad at the edge a flip moves to the origin, so the block grid stays on grid multiples
            g = self.grid
            pr, pc = ((-h) % g if flip_rows else 0), ((-w) % g if flip_cols else 0)
            if pr or pc:
                y = F.pad(y, (0, pc, 0, pr), mode="replicate")
            dims = [d for d, f in ((-2, flip_rows), (-1, flip_cols)) if f]
            if dims:
                y = y.flip(dims)
            if transpose:
                y, c = y.transpose(-1, -2), _transpose_cond(cond)
            y = self.model(y.contiguous(memory_format=torch.channels_last), c)
            if transpose:
                y = y.transpose(-1, -2)
            if dims:
                y = y.flip(dims)
            y = y[..., :h, :w]
            total = y if total is None else total + y
        return total / len(members)
