"""Decoder-aware coefficient search: the encoder picks each quantized DCT coefficient for the
picture the regeneration network will restore, not for a plain decode (issue 7's
coefficient-level RDO, with the network in the loop).

A JPEG encoder rounds every coefficient to the nearest step. Our files are looked at through the
network, and the encoder has the source, so it searches: starting from the rounded coefficients,
each round takes the gradient of

    loss = -(MS-SSIM dB + PSNR) / 2 of the restored picture + lam * slope(Q) * bits / pixels

through a differentiable copy of decode (dequantization, inverse DCT, chroma upsampling, colour
conversion, the network, the consistency step), predicts what moving each coefficient by one
step up or down would do (the gradient, a curvature estimate, and the exact change of its bit
cost), applies the most promising moves and keeps the round only if the loss really fell.
slope(Q) is the regenerated curve's dB per bit per pixel at quality Q, so lam = 1 trades quality
for bytes at the rate the curve does. The bits are counted as baseline Huffman coding spends them
(codec.jpegrate: runs, end-of-block, the file's own code lengths), with lam 1.5: the default
since cs2 (held-out crops and photos, bench/results/FINDINGS.md: 'Coefficient search'); rate="proxy" (a nonzero
coefficient costs a fixed base plus its magnitude's bits) with lam 1 is cs1's rule.
Tables, subsampling and metadata stay as they were: any viewer opens the file, and every
decoder restores it as before. A comrec file (`refine(..., comrec=True)`, auto mode's) is searched
the same way through its own route: decode, bicubic 2x upscale, RecCNN, no consistency step, its
bits weighed by comrec's curve (COMREC_SLOPES). Large pictures are searched in tiles. Settings chosen on held-out
crops of the training pool (bench/try_coefopt.py, never Kodak).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..decoder.consistency import coefficients_of, project_blocks
from ..errors import CodecError
from ..format.container import header_segments
from ..format.jpeg import cond_vector, open_jpeg, read_info
from ..format.transforms import DCT, YCC2RGB
from ..reccnn.model import upscale
from ..utils.metrics import MSSSIM_MIN_SIDE, msssim_window
from . import effort
from .jpegrate import CodeLengths, block_bits, move_bits
from .precision import search_precision

#: The restored curve's slope, d[(MS-SSIM dB + PSNR) / 2] / d[bpp], of regen-coarse4 with the
#: regen-v1 tables on 16 held-out crops of the training pool (bench/try_coefopt.py's anchor),
#: by JPEG quality; linear in between, the end values beyond.
SLOPES = {8: 11.22, 15: 9.28, 25: 6.54, 40: 5.05, 60: 3.76, 80: 2.73, 92: 2.42}
#: The same for comrec files (comrec-r7 with the regen-v1 tables; bench/try_comrec_search.py's
#: anchor on held-out crops of the pool): the search weighs a comrec file's bits by these.
COMREC_SLOPES = {2: 73.78, 4: 53.9, 7: 32.41, 12: 19.14, 20: 15.54}
#: Energy in RGB (0-255 units, squared) of a change of 1 in a Y, Cb, Cr sample (JFIF matrices).
COMPONENT_GAIN = (3.0, 0.344136 ** 2 + 1.772 ** 2, 1.402 ** 2 + 0.714136 ** 2)
TILE = 768  # pixels on a side of the largest region searched at once (memory grows with its area)
CONTEXT = 48  # pixels of context around a tile: wider than the network's view


@dataclass(frozen=True)
class SearchSettings:
    """How hard the encoder searches (`rounds` = 0: plain rounding, no search)."""

    rounds: int = 20  # the `best` effort level's (codec.encoder.effort)
    lam: float = 1.5  # weight of the bit cost, in units of the curve's own slope
    reach: int = 1  # the most a coefficient may move from its rounded value, in steps
    share: float = 0.01  # share of all coefficients the first round may move
    bit_base: float = 4.0  # "proxy": a nonzero coefficient costs this plus its magnitude's bits
    msssim_weight: float = 0.5  # the quality term: this share MS-SSIM dB, the rest PSNR
    # bit cost: "proxy" (bits_proxy) or "huffman" (codec.jpegrate's count; the proxy where a
    # file's tables cannot be read)
    rate: str = "huffman"
    # the network's arithmetic in the search: "float32", or "bfloat16" (autocast); the levels
    # take codec.encoder.precision's choice for the device
    precision: str = "float32"

    @classmethod
    def for_level(cls, number: int, device: str = "cpu") -> SearchSettings:
        """The search of effort level `number` (codec.encoder.effort) on `device`, in the
        arithmetic codec.encoder.precision chooses for it."""
        lv = effort.level(number)
        return cls(rounds=lv.rounds, share=lv.share, precision=search_precision(device))


#: Names the search's rule: change it whenever the search makes other files (benchmark caches).
SEARCH_VERSION = "cs2"  # cs1: lam 1 with the proxy bit cost


def search_id(level: int | None = None, device: str = "cpu", precision: str | None = None) -> str:
    """The search of effort `level` (None: the default on `device`), for cache keys: the rule,
    the rounds, where it is not 0.01 the first round's share, and "-bf16" where the search runs
    in bfloat16 on `device` or `precision` says so ("cs2-r20", "cs2-r4-s0.04",
    "cs2-r4-s0.04-bf16")."""
    s = SearchSettings.for_level(effort.resolve(level, device), device)
    s = replace(s, precision=precision or s.precision)
    return (f"{SEARCH_VERSION}-r{s.rounds}" + ("" if s.share == 0.01 else f"-s{s.share:g}")
            + ("-bf16" if s.rounds and s.precision == "bfloat16" else ""))


def _at(table: dict[int, float], quality: int) -> float:
    """`table` at `quality` (linear in between, the end values beyond)."""
    qs = sorted(table)
    return float(np.interp(quality, qs, [table[q] for q in qs]))


def slope(quality: int) -> float:
    return _at(SLOPES, quality)


def comrec_slope(quality: int) -> float:
    return _at(COMREC_SLOPES, quality)


def bits_proxy(c: torch.Tensor, base: float) -> torch.Tensor:
    """Rough entropy-coded cost of each quantized coefficient: 0 for a zero, else `base` (its
    run/size code) plus the bits of its magnitude."""
    m = c.abs()
    return torch.where(m > 0, base + torch.floor(torch.log2(m.clamp_min(1))) + 1,
                       torch.zeros_like(m))


def decode_blocks(blocks: list[torch.Tensor], qtables: list[torch.Tensor],
                  factors: list[tuple[int, int]], h: int, w: int) -> torch.Tensor:
    """A differentiable JPEG decode of (by, bx, 8, 8) coefficient blocks per component: (3, h, w)
    RGB in 0-1. As libjpeg: each plane's samples clamped to 0-255, chroma upsampled with the
    triangle filter ("fancy" upsampling); it differs from libjpeg only by its rounding."""
    planes = []
    for blk, q, (fy, fx) in zip(blocks, qtables, factors):
        dct = DCT.to(blk.device)
        by, bx = blk.shape[:2]
        x = (dct.T @ (blk * q) @ dct + 128).clamp(0, 255).transpose(1, 2).reshape(by * 8, bx * 8)
        if fy * fx > 1:
            x = F.interpolate(x[None, None], scale_factor=(fy, fx), mode="bilinear",
                              align_corners=False)[0, 0]
        planes.append(x[:h, :w])
    shift = torch.tensor([0.0, 128.0, 128.0], device=planes[0].device)[:, None, None]
    rgb = torch.einsum("ij,jhw->ihw", YCC2RGB.to(shift.device), torch.stack(planes) - shift) / 255
    return rgb.clamp(0, 1)


def quality_db(out: torch.Tensor, ref: torch.Tensor | QualityRef, weight: float = 0.5) -> torch.Tensor:
    """weight * MS-SSIM dB + (1 - weight) * PSNR of two (3, h, w) pictures in 0-1, as
    codec.utils.metrics measures them; PSNR alone on pictures too small for MS-SSIM. `ref` may be a
    QualityRef of the reference picture (the search scores every round against the same one)."""
    if not isinstance(ref, QualityRef):
        ref = QualityRef(ref)
    psnr = -10 * torch.log10(((out - ref.picture) ** 2).mean().clamp_min(1e-12))
    if ref.levels is None:
        return psnr
    ms = ref.ms_ssim(out)
    return weight * -10 * torch.log10((1 - ms).clamp_min(1e-10)) + (1 - weight) * psnr


class QualityRef:
    """A reference picture (3, h, w, 0-1) with what MS-SSIM needs of it computed once: at each of
    MS-SSIM's five scales the picture, its local means and its local variances. ms_ssim() then
    filters only the other picture's terms, in one grouped convolution per scale instead of
    five. The same sums as pytorch_msssim.ms_ssim (data range 255, its window and weights,
    msssim_window's size), so the same values."""

    K = (0.01, 0.03)
    WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

    def __init__(self, picture: torch.Tensor):
        from pytorch_msssim.ssim import _fspecial_gauss_1d

        self.picture = picture
        side = min(picture.shape[1:])
        self.levels = None
        if side < MSSSIM_MIN_SIDE:
            return
        g = _fspecial_gauss_1d(msssim_window(side), 1.5).to(picture)
        self.win3 = g.repeat(3, 1, 1, 1)
        self.win9 = g.repeat(9, 1, 1, 1)
        y = picture[None].detach() * 255
        self.levels = []
        with torch.no_grad():
            for i in range(len(self.WEIGHTS)):
                mu = self._blur(y, self.win3)
                var = self._blur(y * y, self.win3) - mu * mu
                self.levels.append((y, mu, var))
                if i < len(self.WEIGHTS) - 1:
                    y = F.avg_pool2d(y, 2, padding=[n % 2 for n in y.shape[2:]])

    @staticmethod
    def _blur(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
        """pytorch_msssim's separable Gaussian filter ("valid" borders), all channels at once."""
        c = x.shape[1]
        x = F.conv2d(x, win, groups=c)
        return F.conv2d(x, win.transpose(2, 3), groups=c)

    def ms_ssim(self, out: torch.Tensor) -> torch.Tensor:
        """MS-SSIM of `out` (3, h, w, 0-1) against the reference: differentiable in `out`."""
        c1, c2 = (self.K[0] * 255) ** 2, (self.K[1] * 255) ** 2
        x = out[None] * 255
        mcs = []
        for i, (y, mu2, var2) in enumerate(self.levels):
            f = self._blur(torch.cat([x, x * x, x * y], 1), self.win9)
            mu1, xx, xy = f[:, :3], f[:, 3:6], f[:, 6:]
            mu1_sq, mu12 = mu1 * mu1, mu1 * mu2
            cs_map = (2 * (xy - mu12) + c2) / ((xx - mu1_sq) + var2 + c2)
            ssim_map = ((2 * mu12 + c1) / (mu1_sq + mu2 * mu2 + c1)) * cs_map
            if i < len(self.levels) - 1:
                mcs.append(torch.relu(cs_map.flatten(2).mean(-1)))
                x = F.avg_pool2d(x, 2, padding=[n % 2 for n in x.shape[2:]])
        last = torch.relu(ssim_map.flatten(2).mean(-1))
        w = x.new_tensor(self.WEIGHTS).view(-1, 1, 1)
        return torch.prod(torch.stack(mcs + [last], 0) ** w, 0).mean()


def _spans(n: int, step: int, tile: int) -> list[tuple[int, int]]:
    """Split [0, n) into spans of at most about `tile` (multiples of `step`), none too small
    for MS-SSIM."""
    tile = max(step, tile // step * step)
    cuts = list(range(0, n, tile)) + [n]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < 2 * MSSSIM_MIN_SIDE:
        cuts.pop(-2)  # a thin last strip joins the one before it
    return list(zip(cuts[:-1], cuts[1:]))


class _Search:
    """The search over one picture's coefficients (all tiles), in place on `self.cur`."""

    def __init__(self, model, cond, source: np.ndarray, coefs: list[np.ndarray],
                 qtables: list[np.ndarray], factors, quality: int, settings: SearchSettings,
                 device: str, lengths: CodeLengths | None = None, scale: int = 1,
                 slope_value: float | None = None):
        self.model, self.cond, self.s, self.dev = model, cond, settings, device
        # scale 2: a comrec file, whose picture the network restores after a bicubic 2x upscale
        # (codec.reccnn) and without the consistency step; tiles are in the file's pixels
        self.scale = scale
        # per component (DC, AC) code lengths for the exact bit count; None: bits_proxy
        self.lengths = None if lengths is None or settings.rate != "huffman" else [
            (torch.from_numpy(d).to(device), torch.from_numpy(a).to(device))
            for d, a in zip(lengths.dc, lengths.ac)]
        self.ref = torch.from_numpy(np.array(source)).to(device).permute(2, 0, 1).float() / 255
        self.c0 = [torch.from_numpy(np.asarray(c, np.float32)).to(device) for c in coefs]
        self.cur = [c.clone() for c in self.c0]
        self.q = [torch.from_numpy(np.asarray(q, np.float32)).to(device) for q in qtables]
        self.f = factors
        self.slope = slope(quality) if slope_value is None else slope_value
        # an upscaled sample covers about scale**2 output pixels
        self.gain = [g * fy * fx * scale ** 2 * q ** 2
                     for g, (fy, fx), q in zip(COMPONENT_GAIN, factors, self.q)]
        self.mcu = (8 * max(f[0] for f in factors), 8 * max(f[1] for f in factors))  # pixels
        (h, w), s = self.ref.shape[1:], scale
        self.hw = (-(-h // s), -(-w // s))  # the file's picture size
        self.context = CONTEXT // s

    def _out_span(self, a: int, b: int, n: int) -> tuple[int, int]:
        """Output pixels [A, B) of the file's pixels [a, b) (n: the output side)."""
        return self.scale * a, min(n, self.scale * b)

    def tiles(self, tile: int = TILE):
        (h, w), (my, mx) = self.hw, self.mcu
        tile //= self.scale
        return [(y0, y1, x0, x1) for y0, y1 in _spans(h, my, tile) for x0, x1 in _spans(w, mx, tile)]

    def _window(self, y0: int, y1: int, x0: int, x1: int) -> _Window:
        """The tile's core and the context around it, in pixels and in each component's blocks."""
        (h, w), (my, mx), ctx = self.hw, self.mcu, self.context
        wy0, wx0 = max(0, y0 - ctx) // my * my, max(0, x0 - ctx) // mx * mx
        wy1, wx1 = min(h, y1 + ctx), min(w, x1 + ctx)
        rows, cols, masks = [], [], []
        for c, (fy, fx) in zip(self.cur, self.f):
            r = (wy0 // (8 * fy), min(c.shape[0], -(-wy1 // (8 * fy))))
            k = (wx0 // (8 * fx), min(c.shape[1], -(-wx1 // (8 * fx))))
            m = torch.zeros(r[1] - r[0], k[1] - k[0], 1, 1, dtype=torch.bool, device=self.dev)
            m[y0 // (8 * fy) - r[0]:-(-y1 // (8 * fy)) - r[0],
              x0 // (8 * fx) - k[0]:-(-x1 // (8 * fx)) - k[0]] = True
            rows.append(r)
            cols.append(k)
            masks.append(m)
        (Y0, Y1), (X0, X1) = (self._out_span(y0, y1, self.ref.shape[1]),
                              self._out_span(x0, x1, self.ref.shape[2]))
        return _Window((y0, y1, x0, x1), (wy0, wy1, wx0, wx1), rows, cols, masks,
                       self.s.lam * self.slope / ((Y1 - Y0) * (X1 - X0)))

    def _evaluate(self, win: _Window, cs: list[torch.Tensor]):
        """(loss, its gradient per component, the core's squared error) for window blocks `cs`."""
        (y0, y1, x0, x1), (wy0, wy1, wx0, wx1) = win.core, win.outer
        cs = [t.clone().requires_grad_(True) for t in cs]
        dec = decode_blocks(cs, self.q, self.f, wy1 - wy0, wx1 - wx0)
        s = self.scale
        if s > 1:
            dec = upscale(dec[None], (s * (wy1 - wy0), s * (wx1 - wx0)))[0]
        with torch.autocast(self.ref.device.type, dtype=torch.bfloat16,
                            enabled=self.s.precision == "bfloat16"):
            out = self.model(dec[None], self.cond)
        out = out.float()[0].clamp(0, 1)
        if s == 1:
            out = project_blocks(out[None], [t[None] for t in cs], [q[None] for q in self.q],
                                 self.f)[0]
        (Y0, Y1), (X0, X1) = (self._out_span(y0, y1, self.ref.shape[1]),
                              self._out_span(x0, x1, self.ref.shape[2]))
        out = out[:, Y0 - s * wy0:Y1 - s * wy0, X0 - s * wx0:X1 - s * wx0]
        if win.ref is None:  # the reference's MS-SSIM terms, once per window
            win.ref = QualityRef(self.ref[:, Y0:Y1, X0:X1])
        bits = self._bits(cs, win.masks)
        loss = -quality_db(out, win.ref, self.s.msssim_weight) + win.weight * bits
        loss.backward()
        err = float(((out.detach() - win.ref.picture) * 255).pow(2).sum())
        return loss.item(), [t.grad for t in cs], err

    def _bits(self, cs: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        """The bit cost of the core's blocks (masks) of window blocks `cs`."""
        if self.lengths is None:
            return sum((bits_proxy(t, self.s.bit_base) * m).sum() for t, m in zip(cs, masks))
        return sum((block_bits(t.detach(), dc, ac) * m[..., 0, 0]).sum()
                   for t, m, (dc, ac) in zip(cs, masks, self.lengths))

    def _move_bits(self, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The bit change of moving each coefficient of component i's blocks `x` alone, by +1
        and by -1."""
        if self.lengths is None:
            now = bits_proxy(x, self.s.bit_base)
            return (bits_proxy(x + 1, self.s.bit_base) - now,
                    bits_proxy(x - 1, self.s.bit_base) - now)
        return move_bits(x, *self.lengths[i])

    def tile_loss(self, y0: int, y1: int, x0: int, x1: int) -> float:
        """The search's loss for the tile's current coefficients."""
        win = self._window(y0, y1, x0, x1)
        return self._evaluate(win, win.take(self.cur))[0]

    def run_tile(self, y0: int, y1: int, x0: int, x1: int, on_round=None) -> None:
        """Search the coefficients of one tile's blocks (the rest of the picture held)."""
        win = self._window(y0, y1, x0, x1)
        c0, cur = win.take(self.c0), [t.clone() for t in win.take(self.cur)]
        weight, masks = win.weight, win.masks
        n = sum(int(m.sum()) * 64 for m in masks)
        k = max(1, int(self.s.share * n))
        kappa = 1.0
        loss, grad, err = self._evaluate(win, cur)
        dbits = None  # the bit changes of single moves from `cur`: kept while it stays
        for _ in range(self.s.rounds):
            if on_round is not None:
                on_round()
            # curvature: the PSNR term's (5/ln 10 * energy / error energy), twice over for
            # MS-SSIM's, times kappa, which grows when a round fails and shrinks when none helps
            scale = kappa * 4 * (5 / np.log(10)) / max(err, 1.0)
            preds, moves = [], []
            if dbits is None:
                dbits = [self._move_bits(i, x) for i, x in enumerate(cur)]
            for x, x0_, g, gain, m, db in zip(cur, c0, grad, self.gain, masks, dbits):
                best, step = torch.full_like(x, float("inf")), torch.zeros_like(x)
                for s, d in zip((1.0, -1.0), db):
                    y = x + s
                    p = g * s + 0.5 * scale * gain + weight * d
                    p = torch.where(((y - x0_).abs() <= self.s.reach) & m, p, float("inf"))
                    better = p < best
                    best, step = torch.where(better, p, best), torch.where(better, s, step)
                # one move per block and round: moves within a block interact most
                blk_best = best.flatten(2).amin(2)[..., None, None]
                best = torch.where(best <= blk_best, best, float("inf"))
                preds.append(best)
                moves.append(step)
            flat = torch.cat([p.flatten() for p in preds])
            helpful = int((flat < 0).sum())
            if helpful == 0:
                kappa /= 2
                continue
            kk = min(k, helpful)
            thr = torch.topk(flat, kk, largest=False).values[-1]
            new = [x + torch.where(p <= thr, s, 0.0) for x, p, s in zip(cur, preds, moves)]
            new_loss, new_grad, new_err = self._evaluate(win, new)
            if new_loss < loss:
                cur, loss, grad, err, dbits = new, new_loss, new_grad, new_err, None
                k, kappa = int(kk * 1.5) + 1, kappa * 0.8
            else:
                k, kappa = max(1, kk // 2), kappa * 2
        for t, c, r, kc in zip(self.cur, cur, win.rows, win.cols):
            t[r[0]:r[1], kc[0]:kc[1]] = c


@dataclass
class _Window:
    """A tile (`core`, pixels y0, y1, x0, x1) and its context (`outer`); per component, the
    block rows and columns of the context, the core's blocks (`masks`), and the bit weight."""

    core: tuple[int, int, int, int]
    outer: tuple[int, int, int, int]
    rows: list[tuple[int, int]]
    cols: list[tuple[int, int]]
    masks: list[torch.Tensor]
    weight: float
    ref: QualityRef | None = None  # the core's reference picture, made by the first evaluation

    def take(self, planes: list[torch.Tensor]) -> list[torch.Tensor]:
        return [t[r[0]:r[1], k[0]:k[1]] for t, r, k in zip(planes, self.rows, self.cols)]


def _tmpdir() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


def refine(data: bytes, source: np.ndarray, model, quality: int,
           settings: SearchSettings = SearchSettings(), device: str = "cpu",
           progress: bool = False, comrec: bool = False) -> bytes:
    """The JPEG `data` (a YCbCr file of `source`, HxWx3 uint8, coded at table-set `quality`) with
    its coefficients chosen by the search; its other segments (Exif, ICC, ...) kept. Files the
    search does not apply to (not 3-component YCbCr, another size) come back unchanged.
    `comrec`: `data` is a comrec file (the compact half-size picture) and `model` its RecCNN."""
    import jpeglib
    from tqdm import tqdm

    if settings.rounds <= 0:
        return data
    with tempfile.TemporaryDirectory(dir=_tmpdir()) as d:
        path = Path(d) / "in.jpg"
        path.write_bytes(data)
        try:
            j = jpeglib.read_dct(str(path))
            j.load()
        except Exception as e:  # noqa: BLE001 - libjpeg's errors come as several types
            raise CodecError(f"coefficient search: libjpeg could not read the file ({e})") from None
        coefs = coefficients_of(j)
        scale = 2 if comrec else 1
        if coefs is None or coefs.size != (-(-source.shape[1] // scale), -(-source.shape[0] // scale)):
            return data
        cond = torch.from_numpy(cond_vector(read_info(open_jpeg(data)))[None]).to(device)
        params = [p.requires_grad for p in model.parameters()]
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            search = _Search(model, cond, source, coefs.blocks, coefs.qtables, coefs.factors,
                             quality, settings, device, CodeLengths.of_file(data), scale=scale,
                             slope_value=comrec_slope(quality) if comrec else None)
            tiles = search.tiles()
            with tqdm(total=len(tiles) * settings.rounds, desc="searching coefficients",
                      unit="round", disable=not progress, leave=False) as bar:
                for t in tiles:
                    search.run_tile(*t, on_round=lambda: bar.update(1))
        finally:
            for p, r in zip(model.parameters(), params):
                p.requires_grad_(r)
        planes = [c.round().to(torch.int16).cpu().numpy() for c in search.cur]
        j.Y, j.Cb, j.Cr = planes
        out = Path(d) / "out.jpg"
        j.write_dct(str(out), flags=["+OPTIMIZE_CODING"])
        return carry_segments(data, out.read_bytes())


def carry_segments(original: bytes, rewritten: bytes) -> bytes:
    """`rewritten` (jpeglib's file of the same picture) with the APPn and COM segments of
    `original` in place of its own, in their order."""
    def is_meta(marker: int) -> bool:
        return 0xE0 <= marker <= 0xEF or marker == 0xFE

    segs = list(header_segments(rewritten))
    meta = b"".join(original[s:e] for m, s, e in header_segments(original) if is_meta(m))
    rest = b"".join(rewritten[s:e] for m, s, e in segs if not is_meta(m))
    last = max(e for _, _, e in segs)
    return b"\xff\xd8" + meta + rest + rewritten[last:]
