"""JPEG coding simulated in torch: what `encode_jpeg` (Pillow's libjpeg-turbo) and libjpeg's
decoder do to a picture, batched and on any device, so that training crops are JPEG-coded where
the network trains (a GPU) instead of by CPU worker processes.

Each step follows libjpeg-turbo's integer arithmetic, not the ideal transform, so that the
simulated files are the real ones:

- encoder: JFIF RGB -> YCbCr in 16-bit fixed point (jccolor.c), edge replication as libjpeg
  pads (jcprepct.c, jcsample.c), chroma downsampling by averaging with libjpeg's alternating
  rounding bias (jcsample.c), the "islow" integer forward DCT (jfdctint.c) and quantization
  by libjpeg-turbo's reciprocal multiplication (jcdctmgr.c);
- decoder: dequantization, the "islow" integer inverse DCT with its range limit (jidctint.c),
  "fancy" triangle-filter chroma upsampling (jdsample.c) and the fixed-point YCbCr -> RGB
  tables (jdcolor.c).

Measured against Pillow on crops (tests/test_jpegsim.py): the quantized coefficients and the
decoded pixels agree with the real file's. codec.encoder.coefsearch.decode_blocks is the differentiable
floating-point relative of `decode` (same steps without the integer rounding), used where
gradients must flow through the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..decoder.consistency import project_blocks
from ..format.jpeg import SUBSAMPLINGS
from ..format.tables import STD_CHROMA, STD_LUMA, TableSet, _scaled

#: (vertical, horizontal) downsampling factor of the chroma planes, per subsampling
CHROMA_FACTORS = {"4:4:4": (1, 1), "4:2:2": (1, 2), "4:2:0": (2, 2)}

_SCALEBITS = 16
_ONE_HALF = 1 << (_SCALEBITS - 1)
_CONST_BITS, _PASS1_BITS = 13, 2
#: Integer type of the arithmetic. 32 bits, as libjpeg-turbo's SIMD code uses (bit-exact with its
#: C code on every valid file), is enough for every value a JPEG file can hold; half the memory
#: traffic of int64, and native multiplies on a GPU.
INT = torch.int32


def _fix(x: float, bits: int = _SCALEBITS) -> int:
    """libjpeg's FIX(): x in fixed point with `bits` fraction bits."""
    return int(x * (1 << bits) + 0.5)


# jfdctint.c / jidctint.c constants (CONST_BITS = 13)
_F0298, _F0390, _F0541, _F0765 = 2446, 3196, 4433, 6270
_F0899, _F1175, _F1501, _F1847 = 7373, 9633, 12299, 15137
_F1961, _F2053, _F2562, _F3072 = 16069, 16819, 20995, 25172


def _descale(x: torch.Tensor, n: int) -> torch.Tensor:
    """libjpeg's DESCALE: x / 2**n rounded half up (arithmetic shift)."""
    return (x + (1 << (n - 1))) >> n


@dataclass
class SimJpeg:
    """A simulated JPEG file's content, batched: what jpeglib.read_dct would report."""

    blocks: list[torch.Tensor]  # per component (N, by, bx, 8, 8) quantized coefficients (INT)
    qtables: list[torch.Tensor]  # per component (N, 8, 8) int64, natural order
    factors: list[tuple[int, int]]  # per component (vertical, horizontal) downsampling factor
    size: tuple[int, int]  # height, width of the pictures


# ---------------------------------------------------------------- colour conversion

def rgb_to_ycc(rgb: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) 0-255 integers -> (N,3,H,W) INT Y, Cb, Cr as libjpeg's rgb_ycc_convert."""
    r, g, b = rgb.to(INT).unbind(1)
    y = (_fix(0.299) * r + _fix(0.587) * g + _fix(0.114) * b + _ONE_HALF) >> _SCALEBITS
    # 0.5 - epsilon rounding for Cb and Cr, as libjpeg (the maximum rounds to 255, not 256)
    off = (128 << _SCALEBITS) + _ONE_HALF - 1
    cb = (-_fix(0.16874) * r - _fix(0.33126) * g + _fix(0.5) * b + off) >> _SCALEBITS
    cr = (_fix(0.5) * r - _fix(0.41869) * g - _fix(0.08131) * b + off) >> _SCALEBITS
    return torch.stack([y, cb, cr], 1)


def ycc_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) int Y, Cb, Cr -> (N,3,H,W) uint8 RGB as libjpeg's ycc_rgb_convert."""
    y, cb, cr = ycc.to(INT).unbind(1)
    cb, cr = cb - 128, cr - 128
    r = y + ((_fix(1.402) * cr + _ONE_HALF) >> _SCALEBITS)
    g = y + ((-_fix(0.34414) * cb + _ONE_HALF - _fix(0.71414) * cr) >> _SCALEBITS)
    b = y + ((_fix(1.772) * cb + _ONE_HALF) >> _SCALEBITS)
    return torch.stack([r, g, b], 1).clamp_(0, 255).to(torch.uint8)


# ---------------------------------------------------------------- sampling

def _pad_replicate(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(..., H, W) extended to (..., h, w) by repeating the last row and column."""
    if x.shape[-2] < h:
        x = torch.cat([x, x[..., -1:, :].expand(*x.shape[:-2], h - x.shape[-2], x.shape[-1])], -2)
    if x.shape[-1] < w:
        x = torch.cat([x, x[..., -1:].expand(*x.shape[:-1], w - x.shape[-1])], -1)
    return x


def downsample(plane: torch.Tensor, fy: int, fx: int) -> torch.Tensor:
    """(N, H, W) INT (H, W multiples of fy, fx) averaged over fy x fx as libjpeg's
    h2v2_downsample / h2v1_downsample: ordered-dither rounding bias per output column."""
    if (fy, fx) == (1, 1):
        return plane
    n, h, w = plane.shape
    s = plane.reshape(n, h // fy, fy, w // fx, fx).sum((2, 4))
    cols = torch.arange(w // fx, device=plane.device, dtype=plane.dtype)
    if (fy, fx) == (2, 2):
        return (s + 1 + (cols & 1)) >> 2  # bias 1, 2, 1, 2, ...
    if (fy, fx) == (1, 2):
        return (s + (cols & 1)) >> 1  # bias 0, 1, 0, 1, ...
    raise ValueError(f"unsupported downsampling {fy}x{fx}")


def _shift(x: torch.Tensor, dim: int, step: int) -> torch.Tensor:
    """x moved by one sample along `dim` (step -1: each sample's predecessor, +1: successor),
    the edge sample repeated."""
    n = x.shape[dim]
    if step < 0:
        return torch.cat([x.narrow(dim, 0, 1), x.narrow(dim, 0, n - 1)], dim)
    return torch.cat([x.narrow(dim, 1, n - 1), x.narrow(dim, n - 1, 1)], dim)


def _interleave(a: torch.Tensor, b: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.stack([a, b], dim + 1 if dim >= 0 else dim).flatten(
        dim if dim >= 0 else dim - 1, dim + 1 if dim >= 0 else dim)


def upsample(plane: torch.Tensor, fy: int, fx: int) -> torch.Tensor:
    """(N, h, w) samples (the component's real size) -> (N, fy*h, fx*w) as libjpeg's "fancy"
    upsampling: h2v2_fancy_upsample / h2v1_fancy_upsample (triangle filter, 3/4 and 1/4 weights,
    edges repeated, alternating rounding)."""
    if (fy, fx) == (1, 1):
        return plane
    p = plane.to(INT)
    if (fy, fx) == (1, 2):
        t = 3 * p
        return _interleave((t + _shift(p, -1, -1) + 1) >> 2, (t + _shift(p, -1, 1) + 2) >> 2, -1)
    if (fy, fx) == (2, 2):
        rows = []
        for nearer in (_shift(p, -2, -1), _shift(p, -2, 1)):  # output rows 2i (above), 2i+1 (below)
            s = 3 * p + nearer  # column sums
            t = 3 * s
            rows.append(_interleave((t + _shift(s, -1, -1) + 8) >> 4,
                                    (t + _shift(s, -1, 1) + 7) >> 4, -1))
        return _interleave(rows[0], rows[1], -2)
    raise ValueError(f"unsupported upsampling {fy}x{fx}")


# ---------------------------------------------------------------- DCT

def _fdct_1d(d: list[torch.Tensor], last: bool) -> list[torch.Tensor]:
    """One pass of jfdctint.c's jpeg_fdct_islow over 8 samples (a list of tensors)."""
    tmp0, tmp7 = d[0] + d[7], d[0] - d[7]
    tmp1, tmp6 = d[1] + d[6], d[1] - d[6]
    tmp2, tmp5 = d[2] + d[5], d[2] - d[5]
    tmp3, tmp4 = d[3] + d[4], d[3] - d[4]
    tmp10, tmp13 = tmp0 + tmp3, tmp0 - tmp3
    tmp11, tmp12 = tmp1 + tmp2, tmp1 - tmp2
    out = [None] * 8
    if last:
        out[0] = _descale(tmp10 + tmp11, _PASS1_BITS)
        out[4] = _descale(tmp10 - tmp11, _PASS1_BITS)
    else:
        out[0] = (tmp10 + tmp11) << _PASS1_BITS
        out[4] = (tmp10 - tmp11) << _PASS1_BITS
    n = _CONST_BITS + _PASS1_BITS if last else _CONST_BITS - _PASS1_BITS
    z1 = (tmp12 + tmp13) * _F0541
    out[2] = _descale(z1 + tmp13 * _F0765, n)
    out[6] = _descale(z1 - tmp12 * _F1847, n)
    z1, z2, z3, z4 = tmp4 + tmp7, tmp5 + tmp6, tmp4 + tmp6, tmp5 + tmp7
    z5 = (z3 + z4) * _F1175
    tmp4, tmp5, tmp6, tmp7 = tmp4 * _F0298, tmp5 * _F2053, tmp6 * _F3072, tmp7 * _F1501
    z1, z2 = z1 * -_F0899, z2 * -_F2562
    z3, z4 = z3 * -_F1961 + z5, z4 * -_F0390 + z5
    out[7] = _descale(tmp4 + z1 + z3, n)
    out[5] = _descale(tmp5 + z2 + z4, n)
    out[3] = _descale(tmp6 + z2 + z3, n)
    out[1] = _descale(tmp7 + z1 + z4, n)
    return out


def _separable(x: torch.Tensor, pass_1d, first: int, second: int) -> torch.Tensor:
    """`pass_1d` along axis `first` of (..., 8, 8) blocks, then (its last pass) along `second`;
    the transformed axis is moved to the front so that each of its 8 slices is contiguous."""
    a = x.movedim(first, 0).contiguous()
    a = torch.stack(pass_1d(list(a), False)).movedim(0, first)
    b = a.movedim(second, 0).contiguous()
    return torch.stack(pass_1d(list(b), True)).movedim(0, second)


def fdct_islow(blocks: torch.Tensor) -> torch.Tensor:
    """(..., 8, 8) INT centred samples (-128..127) -> libjpeg's islow DCT, scaled up by 8
    ([vertical frequency, horizontal frequency])."""
    return _separable(blocks.to(INT), _fdct_1d, -1, -2)  # rows first, then columns


def _idct_1d(d: list[torch.Tensor], last: bool) -> list[torch.Tensor]:
    """One pass of jidctint.c's jpeg_idct_islow over 8 coefficients."""
    z2, z3 = d[2], d[6]
    z1 = (z2 + z3) * _F0541
    tmp2 = z1 - z3 * _F1847
    tmp3 = z1 + z2 * _F0765
    tmp0 = (d[0] + d[4]) << _CONST_BITS
    tmp1 = (d[0] - d[4]) << _CONST_BITS
    tmp10, tmp13 = tmp0 + tmp3, tmp0 - tmp3
    tmp11, tmp12 = tmp1 + tmp2, tmp1 - tmp2
    tmp0, tmp1, tmp2, tmp3 = d[7], d[5], d[3], d[1]
    z1, z2, z3, z4 = tmp0 + tmp3, tmp1 + tmp2, tmp0 + tmp2, tmp1 + tmp3
    z5 = (z3 + z4) * _F1175
    tmp0, tmp1, tmp2, tmp3 = tmp0 * _F0298, tmp1 * _F2053, tmp2 * _F3072, tmp3 * _F1501
    z1, z2 = z1 * -_F0899, z2 * -_F2562
    z3, z4 = z3 * -_F1961 + z5, z4 * -_F0390 + z5
    tmp0, tmp1, tmp2, tmp3 = tmp0 + z1 + z3, tmp1 + z2 + z4, tmp2 + z2 + z3, tmp3 + z1 + z4
    n = _CONST_BITS + _PASS1_BITS + 3 if last else _CONST_BITS - _PASS1_BITS
    return [_descale(v, n) for v in (tmp10 + tmp3, tmp11 + tmp2, tmp12 + tmp1, tmp13 + tmp0,
                                     tmp13 - tmp0, tmp12 - tmp1, tmp11 - tmp2, tmp10 - tmp3)]


def idct_islow(coef: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """(..., 8, 8) quantized coefficients and their table (broadcastable) -> (..., 8, 8) INT
    samples 0-255, as libjpeg's islow inverse DCT with its range limit."""
    out = _separable(coef.to(INT) * q.to(INT), _idct_1d, -2, -1)  # columns first, then rows
    return (out + 128).clamp_(0, 255)


def _reciprocals(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """libjpeg-turbo's compute_reciprocal for divisors 8 q (16-bit DCTELEM): (reciprocal,
    correction, shift) such that a coefficient's magnitude quantizes to ((|x| + corr) * recip) >>
    shift. Not always the exact rounding of |x| / (8 q): the file holds this one."""
    d = q.long() * 8
    b = torch.floor(torch.log2(d.double())).long()
    r = 16 + b
    one = torch.ones_like(d) << r
    fq, fr = one // d, one % d
    c = d // 2
    pow2 = fr == 0
    fq = torch.where(pow2, fq >> 1, fq)
    r = torch.where(pow2, r - 1, r)
    c = torch.where(~pow2 & (fr <= d // 2), c + 1, c)
    fq = torch.where(~pow2 & (fr > d // 2), fq + 1, fq)
    return fq.to(INT), c.to(INT), r.to(INT)


def quantize(dct8: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """islow DCT output (scaled by 8) -> quantized coefficients, as libjpeg-turbo's quantize()."""
    fq, c, r = _reciprocals(q)
    mag = ((dct8.abs() + c) * fq) >> r
    return torch.where(dct8 < 0, -mag, mag)


# ---------------------------------------------------------------- whole files

def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _blocks(plane: torch.Tensor) -> torch.Tensor:
    n, h, w = plane.shape
    return plane.reshape(n, h // 8, 8, w // 8, 8).transpose(2, 3).contiguous()


def _unblocks(blocks: torch.Tensor) -> torch.Tensor:
    n, by, bx = blocks.shape[:3]
    return blocks.transpose(2, 3).reshape(n, by * 8, bx * 8)


def _as_tables(qtables, n: int, device) -> torch.Tensor:
    """[luma, chroma] tables (64 entries each, natural order), or one pair per picture, as an
    (n, 2, 8, 8) int64 tensor."""
    t = torch.as_tensor(np.asarray(qtables) if not torch.is_tensor(qtables) else qtables,
                        device=device).long().reshape(-1, 2, 8, 8)
    return t.expand(n, 2, 8, 8) if t.shape[0] == 1 else t


def encode(rgb: torch.Tensor, qtables, subsampling: str = "4:2:0") -> SimJpeg:
    """Simulate encode_jpeg on (N,3,H,W) uint8 pictures: the quantized coefficients of the file
    Pillow would write with these tables ([luma, chroma], natural order, or one pair per
    picture: (N,2,64)) and `subsampling`."""
    if subsampling not in CHROMA_FACTORS:
        raise ValueError(f"subsampling must be one of {', '.join(CHROMA_FACTORS)}")
    n, _, h, w = rgb.shape
    vmax, hmax = CHROMA_FACTORS[subsampling]
    q = _as_tables(qtables, n, rgb.device)
    # As libjpeg: the last column is repeated to whole MCUs and the last row to a whole row
    # group before downsampling (jcsample.c, jcprepct.c); each downsampled plane's last row is
    # then repeated to whole blocks (so rows and columns differ where a row group is averaged).
    ycc = _pad_replicate(rgb_to_ycc(rgb), _ceil(h, vmax) * vmax, _ceil(w, 8 * hmax) * 8 * hmax)
    blocks, tables, factors = [], [], []
    for c in range(3):
        fy, fx = (1, 1) if c == 0 else (vmax, hmax)
        # the component's own blocks (the MCU's dummy blocks beyond them are not kept)
        by, bx = _ceil(_ceil(h, fy), 8), _ceil(_ceil(w, fx), 8)
        plane = _pad_replicate(downsample(ycc[:, c], fy, fx), by * 8, bx * 8)
        blk = _blocks(plane[:, :by * 8, :bx * 8] - 128)
        qc = q[:, min(c, 1)]
        blocks.append(quantize(fdct_islow(blk), qc[:, None, None]))
        tables.append(qc)
        factors.append((fy, fx))
    return SimJpeg(blocks, tables, factors, (h, w))


def decode(j: SimJpeg) -> torch.Tensor:
    """Decode as libjpeg (Pillow's `decode_jpeg`): (N,3,H,W) uint8 RGB."""
    h, w = j.size
    planes = []
    for blk, q, (fy, fx) in zip(j.blocks, j.qtables, j.factors):
        plane = _unblocks(idct_islow(blk, q[:, None, None]))
        plane = plane[:, :_ceil(h, fy), :_ceil(w, fx)]  # the component's real samples
        planes.append(upsample(plane, fy, fx)[:, :h, :w])
    return ycc_to_rgb(torch.stack(planes, 1))


def roundtrip(rgb: torch.Tensor, qtables, subsampling: str = "4:2:0") -> tuple[torch.Tensor, SimJpeg]:
    """(decoded uint8 pictures, the simulated file) of one JPEG coding, as data.jpeg_roundtrip."""
    j = encode(rgb, qtables, subsampling)
    return decode(j), j


# ---------------------------------------------------------------- tables and conditioning

def tables_for(quality: int, table_set: TableSet | None = None) -> tuple[list[list[int]], str]:
    """([luma, chroma] tables, subsampling) that encode_jpeg writes at `quality` with this table
    set (None or the standard set: libjpeg's own scaled tables and 4:2:0)."""
    if table_set is None or table_set.name == "standard":
        return [_scaled(STD_LUMA, quality), _scaled(STD_CHROMA, quality)], "4:2:0"
    return table_set.qtables(quality), table_set.subsampling_for(quality)


def cond_tensor(qtables: torch.Tensor, subsampling: str | list[str]) -> torch.Tensor:
    """codec.format.jpeg.cond_vector for (N,2,64)-shaped tables (any shape ending in 2 x 64 entries)
    and one subsampling or one per picture: (N, COND_DIM) float32."""
    t = qtables.reshape(-1, 128).float()
    subs = [subsampling] * len(t) if isinstance(subsampling, str) else list(subsampling)
    onehot = torch.zeros(len(t), len(SUBSAMPLINGS), device=t.device)
    onehot[torch.arange(len(t)), torch.tensor([SUBSAMPLINGS.index(s) for s in subs])] = 1.0
    return torch.cat([torch.log(t) / float(np.log(255.0)), onehot], 1)


def project(rgb: torch.Tensor, j: SimJpeg) -> torch.Tensor:
    """codec.decoder.consistency's projection of (N,3,H,W) 0-1 pictures onto the simulated files'
    narrowed quantization intervals, as `decode` applies it to a real file. Differentiable."""
    return project_blocks(rgb, [b.float() for b in j.blocks], [q.float() for q in j.qtables],
                          j.factors)
