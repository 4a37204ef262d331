"""The entropy-coded size of baseline JPEG blocks, and how one coefficient's move changes it.

codec.encoder.coefsearch weighs each candidate move of a quantized coefficient by what it does to the
restored picture and to the file's bytes. A move's byte cost depends on its neighbours in
zigzag order: zeroing the last nonzero coefficient of a block shortens the run before the
end-of-block code, zeroing one in the middle merges two zero runs, a new nonzero far down the
zigzag splits a run. This module counts those bits exactly as baseline sequential Huffman coding
spends them (run/size codes, 16-zero escapes, end-of-block, magnitude bits; DC as the difference
from the block to its left), with the code lengths of the file's own Huffman tables. It ignores
what the rewrite's re-optimized tables and byte stuffing change: a close estimate, not the size.
"""

from __future__ import annotations

import numpy as np
import torch

from ..format.container import header_segments

#: Natural-order (row-major) index of each zigzag position.
ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
    59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63])
#: Code length given to a symbol the file's table lacks (the longest a Huffman code may be).
MISSING = 16.0


class CodeLengths:
    """Huffman code lengths, per component: `dc` (16 sizes) and `ac` (256 run/size symbols)."""

    def __init__(self, dc: list[np.ndarray], ac: list[np.ndarray]):
        self.dc, self.ac = dc, ac

    @classmethod
    def of_file(cls, data: bytes, components: int = 3) -> CodeLengths | None:
        """The tables the file's first scan uses for each component; None when that cannot be
        told (no tables, a scan that does not hold every component, e.g. a progressive file)."""
        tables: dict[tuple[int, int], np.ndarray] = {}
        order: list[int] = []
        picks: dict[int, tuple[int, int]] = {}
        for marker, s, e in header_segments(data):
            seg = data[s + 4:e]
            if marker == 0xC0 or marker == 0xC1:  # baseline / extended sequential frame
                order = [seg[6 + 3 * i] for i in range(seg[5])]
            elif marker == 0xC4:
                pos = 0
                while pos + 17 <= len(seg):
                    tc, th = seg[pos] >> 4, seg[pos] & 15
                    counts = seg[pos + 1:pos + 17]
                    lengths = np.full(256, MISSING, np.float32)
                    k = pos + 17
                    for n, c in enumerate(counts, start=1):
                        for v in seg[k:k + c]:
                            lengths[v] = n
                        k += c
                    tables[(tc, th)] = lengths
                    pos = k
            elif marker == 0xDA:
                for i in range(seg[0]):
                    picks[seg[1 + 2 * i]] = (seg[2 + 2 * i] >> 4, seg[2 + 2 * i] & 15)
        if len(order) != components or any(c not in picks for c in order):
            return None
        try:
            dc = [tables[(0, picks[c][0])][:16] for c in order]
            ac = [tables[(1, picks[c][1])] for c in order]
        except KeyError:
            return None
        return cls(dc, ac)


def _size(v: torch.Tensor) -> torch.Tensor:
    """JPEG's magnitude category: 0 for 0, else the bit length of |v| (at most 15)."""
    m = v.abs().clamp(max=32767)
    return torch.where(m > 0, torch.floor(torch.log2(m.clamp_min(1))) + 1, torch.zeros_like(m))


def _symbol(run: torch.Tensor, size: torch.Tensor, ac: torch.Tensor) -> torch.Tensor:
    """Bits of a nonzero AC coefficient of `size` after `run` zeros: escapes, code, magnitude."""
    idx = ((run % 16) * 16 + size.clamp(max=15)).long()
    return torch.div(run, 16, rounding_mode="floor") * ac[0xF0] + ac[idx] + size


def _zigzag(blocks: torch.Tensor) -> torch.Tensor:
    """(..., 8, 8) natural-order blocks as (..., 64) in zigzag order."""
    return blocks.flatten(-2)[..., torch.as_tensor(ZIGZAG, device=blocks.device)]


def _neighbours(nz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each AC position 1..63 of (..., 64) nonzero flags: the nearest nonzero AC position
    before it (0 when none) and after it (64 when none), both strictly."""
    pos = torch.arange(64, device=nz.device, dtype=torch.float32).expand(nz.shape)
    ac = nz.clone()
    ac[..., 0] = False
    before = torch.where(ac, pos, torch.zeros_like(pos)).cummax(-1).values
    prev = torch.cat([torch.zeros_like(before[..., :1]), before[..., :-1]], -1)
    after = torch.where(ac, pos, torch.full_like(pos, 64.0)).flip(-1).cummin(-1).values.flip(-1)
    nxt = torch.cat([after[..., 1:], torch.full_like(after[..., :1], 64.0)], -1)
    return prev, nxt


def _eob(last: torch.Tensor, ac: torch.Tensor) -> torch.Tensor:
    """End-of-block bits for a block whose last nonzero AC position is `last` (0: none)."""
    return torch.where(last < 63, ac[0x00], torch.zeros_like(last))


def _dc_bits(diff: torch.Tensor, dc: torch.Tensor) -> torch.Tensor:
    """Bits of DC differences: the size category's code and the magnitude bits."""
    s = _size(diff)
    return dc[s.long()] + s


def _left(z0: torch.Tensor) -> torch.Tensor:
    """Each block's left neighbour's DC along a row of (..., bx) DC values (0 before the first)."""
    return torch.nn.functional.pad(z0, (1, 0))[..., :-1]


def block_bits(blocks: torch.Tensor, dc: torch.Tensor, ac: torch.Tensor) -> torch.Tensor:
    """Bits of each block of (by, bx, 8, 8) quantized coefficients (natural order): its DC
    difference from the block to its left (the first of a row: from 0) and its AC codes."""
    z = _zigzag(blocks)
    nz = z != 0
    prev, _ = _neighbours(nz)
    pos = torch.arange(64, device=z.device, dtype=torch.float32)
    acbits = torch.where(nz[..., 1:], _symbol(pos - prev - 1, _size(z), ac)[..., 1:],
                         torch.zeros_like(z[..., 1:]))
    last = torch.where(nz, pos, torch.zeros_like(pos))[..., 1:].amax(-1)
    return acbits.sum(-1) + _eob(last, ac) + _dc_bits(z[..., 0] - _left(z[..., 0]), dc)


def move_bits(blocks: torch.Tensor, dc: torch.Tensor, ac: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (by, bx, 8, 8) arrays: the change of the picture's bits if each coefficient alone
    moved by +1, and by -1, exactly as block_bits counts them."""
    z = _zigzag(blocks)
    nz = z != 0
    prev, nxt = _neighbours(nz)
    pos = torch.arange(64, device=z.device, dtype=torch.float32).expand(z.shape)
    s_old = _size(z)
    run = pos - prev - 1
    # the next nonzero coefficient's bits with this position nonzero (split) and zero (merged);
    # when there is none, the end-of-block follows this position or the one before it
    has_next = nxt < 64
    s_next = torch.gather(s_old, -1, nxt.clamp(max=63).long())
    split = torch.where(has_next, _symbol(nxt - pos - 1, s_next, ac), _eob(pos, ac))
    merged = torch.where(has_next, _symbol(nxt - prev - 1, s_next, ac), _eob(prev, ac))
    old = torch.where(nz, _symbol(run, s_old, ac) + split, merged)
    nonzero = split - old  # the bits of this position made nonzero, less its own symbol
    z0 = z[..., 0]
    left = _left(z0)
    right = torch.nn.functional.pad(z0, (0, 1))[..., 1:]
    has_right = torch.ones_like(z0)
    has_right[..., -1] = 0
    zz = torch.as_tensor(ZIGZAG, device=z.device)
    out = []
    for step in (1.0, -1.0):
        new = z + step
        delta = torch.where(new != 0, _symbol(run, _size(new), ac) + nonzero, merged - old)
        # DC: its difference from the left block, and the right block's difference from it
        ddc = (_dc_bits(z0 + step - left, dc) - _dc_bits(z0 - left, dc)
               + has_right * (_dc_bits(right - z0 - step, dc) - _dc_bits(right - z0, dc)))
        delta = torch.cat([ddc[..., None], delta[..., 1:]], -1)
        o = torch.empty_like(delta)
        o[..., zz] = delta
        out.append(o.reshape(blocks.shape))
    return out[0], out[1]
