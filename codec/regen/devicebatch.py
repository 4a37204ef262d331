"""Training batches made where the network trains: the crop pool is uploaded once as uint8, and
each step's crops are cut, flipped, rotated and JPEG-coded on that device by the simulator
(codec.regen.jpegsim), which reproduces Pillow's files and libjpeg's decode exactly. A GPU then
needs no CPU worker processes to keep it busy (`train regen --device-jpeg`).

The random choices of a step (crops, windows, flips, qualities, subsampling, table sets) come
from the same per-step stream as the CPU batches (loader.step_rng), so a resumed run sees the
batches an unbroken one would; the crops are the same kind (data.sample_batch's distribution),
not the same pixels as the CPU route's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..format.jpeg import SUBSAMPLINGS
from . import jpegsim as S
from .loader import step_rng


@dataclass
class DeviceBatch:
    """One step's crops on the training device; `coefs` projects the network's output onto the
    files' quantization intervals (codec.decoder.consistency), as `decode` does, when asked for."""

    clean: torch.Tensor  # (B,H,W,3) uint8
    coded: torch.Tensor  # (B,H,W,3) uint8, the simulated decode
    cond: torch.Tensor  # (B,COND_DIM) float32
    groups: list[tuple[torch.Tensor, S.SimJpeg]]  # (picture indices, their simulated file)
    consistency: bool = False

    @property
    def coefs(self):
        return self.project if self.consistency else None

    def project(self, out: torch.Tensor) -> torch.Tensor:
        """`out` (B,3,H,W, 0-1) projected group by group (one call per subsampling)."""
        parts = out.clone()
        for idx, j in self.groups:
            parts[idx] = S.project(out[idx], j)
        return parts


class DeviceBatches:
    """step -> that step's DeviceBatch, on `device` (see data.sample_batch for the arguments)."""

    def __init__(self, pool: np.ndarray, batch: int, seed: int, rank: int, device,
                 table_sets: tuple = (), tuned_prob: float = 0.5, patch: int | None = None,
                 consistency: bool = False, qmin: int = 5, qmax: int = 95,
                 sub_probs: tuple[float, float, float] = (0.1, 0.1, 0.8)):
        trellis = [ts.name for ts in table_sets if ts.trellis]
        if trellis:
            raise ValueError(f"table set {', '.join(trellis)} codes by trellis quantization, which "
                             "the device JPEG simulator does not reproduce: train without "
                             "--device-jpeg")
        self.device = torch.device(device)
        self.pool = torch.from_numpy(np.ascontiguousarray(pool)).to(self.device)  # uploaded once
        self.side = pool.shape[1]
        self.patch = patch or self.side
        if self.patch > self.side:
            raise ValueError(f"the pool's crops are {self.side} px, smaller than the {self.patch} "
                             "px asked for")
        self.batch, self.seed, self.rank = batch, seed, rank
        self.table_sets, self.tuned_prob = table_sets, tuned_prob
        self.consistency, self.qmin, self.qmax, self.sub_probs = consistency, qmin, qmax, sub_probs
        # tables for every quality: [standard] + table sets, (sets, 101, 2, 64), and subsampling
        tabs, subs = [], []
        for ts in (None,) + tuple(table_sets):
            tq, sq = [[[1] * 64] * 2], [""]
            for q in range(1, 101):
                t, s = S.tables_for(q, ts)
                tq.append(t)
                sq.append(s)
            tabs.append(tq)
            subs.append(sq)
        self.tables = torch.tensor(tabs, dtype=torch.long, device=self.device)
        self.set_subs = subs

    def __call__(self, step: int) -> DeviceBatch:
        rng = step_rng(self.seed, self.rank, step)
        b, side, p = self.batch, self.side, self.patch
        # the same draws, in the same order per crop, as data.sample_batch
        idx = rng.integers(0, len(self.pool), b)
        ys, xs = np.zeros(b, np.int64), np.zeros(b, np.int64)
        flip, rot = np.zeros(b, bool), np.zeros(b, np.int64)
        qs, sets, subs = np.zeros(b, np.int64), np.zeros(b, np.int64), []
        for k in range(b):
            if p < side:
                ys[k], xs[k] = rng.integers(0, side - p + 1, 2)
            flip[k] = rng.random() < 0.5
            rot[k] = rng.integers(0, 4)
            qs[k] = int(rng.integers(self.qmin, self.qmax + 1))
            sub = SUBSAMPLINGS[rng.choice(3, p=self.sub_probs)]
            if self.table_sets and rng.random() < self.tuned_prob:
                sets[k] = 1 + rng.integers(len(self.table_sets))
                sub = self.set_subs[sets[k]][qs[k]]
            subs.append(sub)
        dev = self.device
        ar = torch.arange(p, device=dev)
        yy = torch.as_tensor(ys, device=dev)[:, None] + ar
        xx = torch.as_tensor(xs, device=dev)[:, None] + ar
        crops = self.pool[torch.as_tensor(idx, device=dev)[:, None, None], yy[:, :, None], xx[:, None, :]]
        crops = crops.permute(0, 3, 1, 2)  # (B,3,p,p)
        for f in (False, True):
            for r in range(4):
                sel = np.flatnonzero((flip == f) & (rot == r))
                if len(sel) and (f or r):
                    t = torch.as_tensor(sel, device=dev)
                    x = crops[t].flip(-1) if f else crops[t]
                    crops[t] = torch.rot90(x, r, (-2, -1)) if r else x
        crops = crops.contiguous()
        tables = self.tables[torch.as_tensor(sets, device=dev), torch.as_tensor(qs, device=dev)]
        coded = torch.empty_like(crops)
        groups = []
        for sub in SUBSAMPLINGS:
            sel = [k for k in range(b) if subs[k] == sub]
            if not sel:
                continue
            t = torch.as_tensor(sel, device=dev)
            dec, j = S.roundtrip(crops[t], tables[t], sub)
            coded[t] = dec
            groups.append((t, j))
        cond = S.cond_tensor(tables, subs)
        return DeviceBatch(crops.permute(0, 2, 3, 1), coded.permute(0, 2, 3, 1), cond, groups,
                           self.consistency)
