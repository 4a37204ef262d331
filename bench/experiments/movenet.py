"""The coefficient search in one pass: a small network that predicts the search's moves.

codec.encoder.coefsearch moves quantized DCT coefficients one step up or down where the restored picture
gains more quality than the bits cost; it runs the restoration network forwards and backwards
every round, which makes it slow. MoveNet predicts those moves from what the search starts from:
per block of each component, the rounded coefficients, where the source's own coefficients lie
between the steps (the fraction that rounding threw away), and the step sizes. It sees a few
blocks of context on every side (3x3 convolutions over the block grid). It is trained on the
search's own results on crops of the training pool (bench/experiments/distill_search.py), never on Kodak or
the held-out photos.

The file stays a standard JPEG: only coefficient values change, by at most one step, and tables,
subsampling and metadata are kept.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from codec.format.transforms import DCT, RGB2YCC

#: Input channels per block position: 64 rounded values, 64 rounding fractions, 64 step sizes,
#: and one flag telling chroma from luma.
IN_CHANNELS = 64 * 3 + 1


def _read(data: bytes):
    """(jpeglib's DCT object, codec's Coefficients or None) of JPEG `data`."""
    import jpeglib

    from codec.decoder.consistency import coefficients_of

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "in.jpg"
        path.write_bytes(data)
        j = jpeglib.read_dct(str(path))
        j.load()
    return j, coefficients_of(j)


def _write(j, planes: list[np.ndarray], original: bytes) -> bytes:
    """The file of `j` with coefficient `planes`, Huffman-optimized, `original`'s segments kept."""
    from codec.encoder.coefsearch import carry_segments

    j.Y, j.Cb, j.Cr = planes
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.jpg"
        j.write_dct(str(out), flags=["+OPTIMIZE_CODING"])
        return carry_segments(original, out.read_bytes())


def source_coefficients(rgb: np.ndarray | torch.Tensor, shape: tuple[int, int],
                        factor: tuple[int, int], component: int) -> torch.Tensor:
    """The source's DCT coefficients (by, bx, 8, 8), unquantized, of one YCbCr component as a
    JPEG encoder computes them: colour conversion, the picture extended by its edge to whole
    blocks, chroma averaged over `factor` pixels, level shift, DCT."""
    x = torch.tensor(np.asarray(rgb), dtype=torch.float32).permute(2, 0, 1)
    plane = torch.einsum("j,jhw->hw", RGB2YCC[component], x)
    if component > 0:
        plane = plane + 128
    by, bx = shape
    fy, fx = factor
    ph, pw = by * 8 * fy, bx * 8 * fx
    h, w = plane.shape
    plane = F.pad(plane[None, None], (0, max(0, pw - w), 0, max(0, ph - h)), mode="replicate")
    plane = plane[:, :, :ph, :pw]
    if fy * fx > 1:
        plane = F.avg_pool2d(plane, (fy, fx))
    blocks = plane[0, 0].reshape(by, 8, bx, 8).transpose(1, 2) - 128
    return DCT @ blocks @ DCT.T


def features(c0: torch.Tensor, src: torch.Tensor, q: torch.Tensor, chroma: bool) -> torch.Tensor:
    """MoveNet's input (IN_CHANNELS, by, bx) for one component: `c0` the rounded coefficients
    (by, bx, 8, 8), `src` the source's unquantized ones, `q` the (8, 8) step sizes."""
    by, bx = c0.shape[:2]
    frac = (src / q - c0).clamp(-1.5, 1.5)
    mag = torch.sign(c0) * torch.log1p(c0.abs())
    steps = (torch.log(q.clamp_min(1)) / 5).expand(by, bx, 8, 8)
    flag = torch.full((by, bx, 1), float(chroma))
    x = torch.cat([mag.reshape(by, bx, 64), frac.reshape(by, bx, 64), steps.reshape(by, bx, 64),
                   flag], 2)
    return x.permute(2, 0, 1)


class _Res(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.a = nn.Conv2d(ch, ch, 3, padding=1)
        self.b = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return x + self.b(F.relu(self.a(F.relu(x))))


class MoveNet(nn.Module):
    """Block-grid CNN: (N, IN_CHANNELS, by, bx) -> logits (N, 3, 64, by, bx) of moving each
    coefficient down a step, keeping it, or moving it up a step."""

    def __init__(self, width: int = 64, blocks: int = 3, inputs: int = IN_CHANNELS):
        super().__init__()
        self.width, self.blocks, self.inputs = width, blocks, inputs
        self.inp = nn.Conv2d(inputs, width, 1)
        self.body = nn.Sequential(*[_Res(width) for _ in range(blocks)])
        self.out = nn.Conv2d(width, 3 * 64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, by, bx = x.shape
        y = self.out(F.relu(self.body(self.inp(x))))
        return y.reshape(n, 3, 64, by, bx)


def predict_moves(net: MoveNet, rgb: np.ndarray, blocks: list[np.ndarray],
                  qtables: list[np.ndarray], factors: list[tuple[int, int]],
                  threshold: float, rounds: list[torch.Tensor] | None = None) -> list[np.ndarray]:
    """Per component, the moves (by, bx, 8, 8) in {-1, 0, 1} that MoveNet gives a probability of
    at least `threshold` (the likelier direction where both pass)."""
    out = []
    with torch.inference_mode():
        for k, (c, q, f) in enumerate(zip(blocks, qtables, factors)):
            c0 = torch.from_numpy(np.asarray(c, np.float32))
            qt = torch.from_numpy(np.asarray(q, np.float32))
            src = source_coefficients(rgb, c0.shape[:2], f, k)
            x = features(c0, src, qt, k > 0)
            if rounds is not None:  # the search's first-round predictions (first_round)
                x = torch.cat([x, round_features(rounds[k])])
            p = net(x[None]).softmax(1)[0]  # (3, 64, by, bx)
            down, up = p[0], p[2]
            move = torch.where((up >= down) & (up >= threshold), 1,
                               torch.where((down > up) & (down >= threshold), -1, 0))
            by, bx = c0.shape[:2]
            out.append(move.reshape(8, 8, by, bx).permute(2, 3, 0, 1).to(torch.int16).numpy())
    return out


def apply(data: bytes, rgb: np.ndarray, net: MoveNet, threshold: float = 0.5,
          model=None, quality: int | None = None) -> bytes:
    """The JPEG `data` (a YCbCr file of `rgb`, HxWx3 uint8) with the coefficients MoveNet moves
    moved; its other segments kept. Files it does not apply to come back unchanged. A MoveNet
    that reads the search's first round (more inputs than IN_CHANNELS) needs the restoration
    `model` and the file's `quality` to compute it."""
    j, coefs = _read(data)
    if coefs is None or coefs.size != (rgb.shape[1], rgb.shape[0]):
        return data
    rounds = first_round(model, rgb, data, quality) if net.inputs > IN_CHANNELS else None
    moves = predict_moves(net, rgb, coefs.blocks, coefs.qtables, coefs.factors, threshold, rounds)
    if not any(m.any() for m in moves):
        return data
    return _write(j, [np.clip(c.astype(np.int32) + m, -2047, 2047).astype(np.int16)
                      for c, m in zip(coefs.blocks, moves)], data)


def first_round(model, rgb: np.ndarray, data: bytes, quality: int) -> list[torch.Tensor]:
    """Per component (2, by, bx, 8, 8): the search's own prediction, before any move, of how its
    loss would change if each coefficient alone moved one step up (0) or down (1): the gradient
    of one forward and backward pass, its curvature estimate and the exact bit change
    (codec.encoder.coefsearch's first round, on a picture small enough to be one tile)."""
    from codec.decoder.consistency import read_coefficients
    from codec.encoder.coefsearch import SearchSettings, _Search
    from codec.encoder.jpegrate import CodeLengths
    from codec.format.jpeg import cond_vector, open_jpeg, read_info

    coefs = read_coefficients(data)
    cond = torch.from_numpy(cond_vector(read_info(open_jpeg(data)))[None])
    for p in model.parameters():
        p.requires_grad_(False)
    s = _Search(model, cond, rgb, coefs.blocks, coefs.qtables, coefs.factors, quality,
                SearchSettings(), "cpu", CodeLengths.of_file(data))
    out = [torch.zeros(2, *c.shape) for c in s.cur]
    for tile in s.tiles():
        win = s._window(*tile)
        cur = win.take(s.cur)
        _, grad, err = s._evaluate(win, cur)
        scale = 4 * (5 / np.log(10)) / max(err, 1.0)
        for i, (x, g, gain, m) in enumerate(zip(cur, grad, s.gain, win.masks)):
            up, down = s._move_bits(i, x)
            p_up = g + 0.5 * scale * gain + win.weight * up
            p_dn = -g + 0.5 * scale * gain + win.weight * down
            r, k = win.rows[i], win.cols[i]
            sel = m.expand_as(x)
            out[i][0, r[0]:r[1], k[0]:k[1]][sel] = p_up[sel]
            out[i][1, r[0]:r[1], k[0]:k[1]][sel] = p_dn[sel]
    return out


def round_features(pred: torch.Tensor) -> torch.Tensor:
    """(128, by, bx) input channels of first_round()'s (2, by, bx, 8, 8) predictions: signed log
    scale (the predictions span several orders of magnitude)."""
    by, bx = pred.shape[1:3]
    z = torch.sign(pred) * torch.log1p(pred.abs() * 1e4)
    return z.reshape(2, by, bx, 64).permute(0, 3, 1, 2).reshape(128, by, bx)


def oneshot(model, data: bytes, rgb: np.ndarray, quality: int, per_block: int = 1,
            margin: float = 0.0) -> bytes:
    """The search's first round taken all at once: in every block, the `per_block` single moves
    whose predicted loss change (first_round) is most negative, beyond `margin`, are made
    together, without the rounds that would check them."""
    pred = first_round(model, rgb, data, quality)
    j, coefs = _read(data)
    planes = []
    for c, p in zip(coefs.blocks, pred):
        best, idx = p.min(0)  # (by, bx, 8, 8): the better direction's change, 0 = up
        step = torch.where(idx == 0, 1, -1)
        k = min(per_block, 64)
        thr = best.flatten(2).topk(k, dim=2, largest=False).values[..., -1:, None]
        pick = (best <= thr) & (best < -margin)
        move = torch.where(pick, step, 0).numpy().astype(np.int32)
        planes.append(np.clip(c.astype(np.int32) + move, -2047, 2047).astype(np.int16))
    return _write(j, planes, data)
