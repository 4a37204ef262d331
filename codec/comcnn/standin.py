"""Differentiable stand-ins for the JPEG codec, used while ComCNN trains through RecCNN.

- `identity`: the codec is skipped (as in Jiang et al. 2017).
- `jpeg`: an approximation of the real codec: JFIF colour conversion, 4:2:0 chroma averaging,
  8x8 blockwise DCT, quantization with the file's real tables and straight-through rounding
  (forward rounds, backward passes the gradient), then the inverse path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_RGB2YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5],
                         [0.5, -0.418688, -0.081312]])
_YCC2RGB = torch.linalg.inv(_RGB2YCC)


def _dct_matrix() -> torch.Tensor:
    m = torch.zeros(8, 8)
    for k in range(8):
        for n in range(8):
            m[k, n] = math.cos(math.pi * (2 * n + 1) * k / 16) * (
                math.sqrt(1 / 8) if k == 0 else math.sqrt(2 / 8))
    return m


_DCT = _dct_matrix()


def st_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass."""
    return x + (torch.round(x) - x).detach()


def _blocks(c: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Quantize one channel plane (B,1,H,W, values -128..127) blockwise with table q (8x8)."""
    b, _, h, w = c.shape
    ph, pw = (-h) % 8, (-w) % 8
    c = F.pad(c, (0, pw, 0, ph), mode="replicate")
    H, W = c.shape[-2:]
    blk = c.reshape(b, H // 8, 8, W // 8, 8).permute(0, 1, 3, 2, 4)  # B,nh,nw,8,8
    d = _DCT.to(c)
    coef = d @ blk @ d.T
    coef = st_round(coef / q) * q
    rec = d.T @ coef @ d
    return rec.permute(0, 1, 3, 2, 4).reshape(b, 1, H, W)[..., :h, :w]


def jpeg_standin(x: torch.Tensor, luma_q: torch.Tensor, chroma_q: torch.Tensor) -> torch.Tensor:
    """Differentiable JPEG-like coding of x (B,3,H,W in [0,1]) with 4:2:0 subsampling."""
    x = st_round(x.clamp(0, 1) * 255)
    ycc = torch.einsum("ij,bjhw->bihw", _RGB2YCC.to(x), x)
    y = _blocks(ycc[:, :1] - 128, luma_q.to(x).reshape(8, 8)) + 128
    h, w = x.shape[-2:]
    chroma = F.avg_pool2d(F.pad(ycc[:, 1:], (0, w % 2, 0, h % 2), mode="replicate"), 2)
    cb = _blocks(chroma[:, :1], chroma_q.to(x).reshape(8, 8))
    cr = _blocks(chroma[:, 1:], chroma_q.to(x).reshape(8, 8))
    up = F.interpolate(torch.cat([cb, cr], 1), scale_factor=2, mode="bilinear",
                       align_corners=False)[..., :h, :w]
    rgb = torch.einsum("ij,bjhw->bihw", _YCC2RGB.to(x), torch.cat([y, up], 1))
    return st_round(rgb.clamp(0, 255)) / 255


def identity_standin(x: torch.Tensor, *_):
    """The codec skipped; pixel rounding only (straight-through)."""
    return st_round(x.clamp(0, 1) * 255) / 255


STANDINS = {"identity": identity_standin, "jpeg": jpeg_standin}
