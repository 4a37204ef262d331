"""Differentiable stand-ins for the JPEG codec, used while ComCNN trains through RecCNN.

- `identity`: the codec is skipped (as in Jiang et al. 2017).
- `jpeg`: an approximation of the real codec: JFIF colour conversion, 4:2:0 chroma averaging,
  8x8 blockwise DCT, quantization with the file's real tables and straight-through rounding
  (forward rounds, backward passes the gradient), then the inverse path.

`rate_proxy` estimates the bits of the coded planes, for a rate term in ComCNN's loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..format.transforms import DCT, RGB2YCC, YCC2RGB


def st_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass."""
    return x + (torch.round(x) - x).detach()


def _dct(c: torch.Tensor) -> torch.Tensor:
    """8x8 blockwise DCT of a channel plane (B,1,H,W), edge-padded: B,nh,nw,8,8 coefficients."""
    b, _, h, w = c.shape
    c = F.pad(c, (0, (-w) % 8, 0, (-h) % 8), mode="replicate")
    H, W = c.shape[-2:]
    blk = c.reshape(b, H // 8, 8, W // 8, 8).permute(0, 1, 3, 2, 4)
    d = DCT.to(c)
    return d @ blk @ d.T


def _blocks(c: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Quantize one channel plane (B,1,H,W, values -128..127) blockwise with table q (8x8)."""
    b, _, h, w = c.shape
    coef = _dct(c)
    H, W = coef.shape[1] * 8, coef.shape[2] * 8
    d = DCT.to(c)
    coef = st_round(coef / q) * q
    rec = d.T @ coef @ d
    return rec.permute(0, 1, 3, 2, 4).reshape(b, 1, H, W)[..., :h, :w]


def _planes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B,3,H,W in [0,1]) -> centred luma (B,1,H,W) and 4:2:0 chroma (B,2,H/2,W/2), 0..255."""
    ycc = torch.einsum("ij,bjhw->bihw", RGB2YCC.to(x), x.clamp(0, 1) * 255)
    h, w = x.shape[-2:]
    chroma = F.avg_pool2d(F.pad(ycc[:, 1:], (0, w % 2, 0, h % 2), mode="replicate"), 2)
    return ycc[:, :1] - 128, chroma


def rate_proxy(x: torch.Tensor, luma_q: torch.Tensor, chroma_q: torch.Tensor) -> torch.Tensor:
    """A differentiable estimate of the bits JPEG spends on x, per pixel of x (B,).

    Sum over all DCT coefficients of log2(1 + |coef / q|) with the file's tables: it grows with
    every coefficient that survives quantization, so ComCNN cannot buy quality with bytes
    unseen. A proxy for ranking, not calibrated to the entropy coder's real counts."""
    y, chroma = _planes(x)
    bits = torch.log2(1 + (_dct(y) / luma_q.to(x).reshape(8, 8)).abs()).flatten(1).sum(1)
    for i in range(2):
        c = _dct(chroma[:, i:i + 1]) / chroma_q.to(x).reshape(8, 8)
        bits = bits + torch.log2(1 + c.abs()).flatten(1).sum(1)
    return bits / (x.shape[-2] * x.shape[-1])


def jpeg_standin(x: torch.Tensor, luma_q: torch.Tensor, chroma_q: torch.Tensor) -> torch.Tensor:
    """Differentiable JPEG-like coding of x (B,3,H,W in [0,1]) with 4:2:0 subsampling."""
    y, chroma = _planes(st_round(x.clamp(0, 1) * 255) / 255)
    y = _blocks(y, luma_q.to(x).reshape(8, 8)) + 128
    h, w = x.shape[-2:]
    cb = _blocks(chroma[:, :1], chroma_q.to(x).reshape(8, 8))
    cr = _blocks(chroma[:, 1:], chroma_q.to(x).reshape(8, 8))
    up = F.interpolate(torch.cat([cb, cr], 1), scale_factor=2, mode="bilinear",
                       align_corners=False)[..., :h, :w]
    rgb = torch.einsum("ij,bjhw->bihw", YCC2RGB.to(x), torch.cat([y, up], 1))
    return st_round(rgb.clamp(0, 255)) / 255


def identity_standin(x: torch.Tensor, *_):
    """The codec skipped; pixel rounding only (straight-through)."""
    return st_round(x.clamp(0, 1) * 255) / 255


STANDINS = {"identity": identity_standin, "jpeg": jpeg_standin}
