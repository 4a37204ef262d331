"""RegenNet: a small quality-aware U-Net that predicts a correction to the JPEG decode.

The input is the decoded RGB image; the file's quantization tables and chroma subsampling
(see `codec.format.jpeg.cond_vector`) drive per-layer feature modulation (FiLM), so one model covers
qualities 5 to 95. Work happens at half and quarter resolution (pixel unshuffle), which keeps
the cost near 20k multiply-accumulates per pixel; the output is the input plus a residual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..format.jpeg import COND_DIM

#: Height and width are padded to a multiple of this before the network runs.
ALIGN = 4


class FiLMConv(nn.Module):
    """3x3 convolution, feature-wise affine modulation from the conditioning vector, leaky ReLU.

    Leaky, because FiLM can push a whole plain-ReLU layer below zero and kill it for good.
    """

    def __init__(self, cin: int, cout: int, blend: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        if blend:  # a second kernel, mixed in per picture: conv(x, W + a dW), a from the file
            self.delta = nn.Conv2d(cin, cout, 3, padding=1)
            nn.init.zeros_(self.delta.weight)  # starts as the plain layer exactly
            nn.init.zeros_(self.delta.bias)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                a: torch.Tensor | None = None) -> torch.Tensor:
        """`a`: the second kernel's weight, one number for the whole batch (0-d: one picture, one
        merged kernel, one convolution) or one per picture (B,: the same sum, per picture)."""
        if a is None:
            y = self.conv(x)
        elif a.dim() == 0:
            y = F.conv2d(x, self.conv.weight + a * self.delta.weight,
                         self.conv.bias + a * self.delta.bias, padding=1)
        else:
            y = self.conv(x) + a[:, None, None, None] * self.delta(x)
        y = y * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        return F.leaky_relu(y, 0.1)


class RegenNet(nn.Module):
    """JPEG restoration: x (B,3,H,W in [0,1]) and cond (B,COND_DIM) -> restored image.

    `width1` channels at half resolution, `width2` at quarter resolution, `depth` FiLM
    convolutions at quarter resolution, `depth1` on each side at half resolution. With
    `depth3` > 0, a branch of `depth3` FiLM convolutions with `width3` channels at eighth
    resolution joins halfway through the quarter-resolution layers (a wider view for little work).
    With `blend`, those quarter- and eighth-resolution layers each carry a second kernel that a
    per-picture weight from `cond` mixes in (see add_blend).
    """

    def __init__(self, width1: int = 32, width2: int = 64, depth: int = 6, depth1: int = 1,
                 cond_hidden: int = 64, depth3: int = 0, width3: int = 128, blend: bool = False):
        super().__init__()
        self.config = dict(width1=width1, width2=width2, depth=depth, depth1=depth1,
                           cond_hidden=cond_hidden)
        if depth3:  # older models' configs (and files) stay as they were
            self.config.update(depth3=depth3, width3=width3)
        if blend:
            self.config.update(blend=True)
        self.align = 2 * ALIGN if depth3 else ALIGN
        self.head = nn.Conv2d(12, width1, 3, padding=1)
        self.enc = nn.ModuleList(FiLMConv(width1, width1) for _ in range(depth1))
        self.down = nn.Conv2d(width1, width2, 2, stride=2)
        self.mid = nn.ModuleList(FiLMConv(width2, width2, blend) for _ in range(depth))
        self.up = nn.Conv2d(width2, width1 * 4, 1)
        self.dec = nn.ModuleList(FiLMConv(width1, width1) for _ in range(depth1))
        self.tail = nn.Conv2d(width1, 12, 3, padding=1)
        if depth3:
            self.down3 = nn.Conv2d(width2, width3, 2, stride=2)
            self.coarse = nn.ModuleList(FiLMConv(width3, width3, blend) for _ in range(depth3))
            self.up3 = nn.Conv2d(width3, width2 * 4, 1)
            nn.init.zeros_(self.up3.weight)  # the branch starts silent
            nn.init.zeros_(self.up3.bias)
        # FiLM rows: enc, mid, dec, then the coarse branch (so a grown model keeps the old rows)
        self._film_sizes = ([width1] * depth1 + [width2] * depth + [width1] * depth1
                            + [width3] * depth3)
        self.cond = nn.Sequential(
            nn.Linear(COND_DIM, cond_hidden), nn.ReLU(),
            nn.Linear(cond_hidden, 2 * sum(self._film_sizes)))
        if blend:  # per picture and layer, how much of the second kernel: a = sigmoid(mix(cond))
            self.mix = nn.Linear(COND_DIM, depth + depth3)
        # Start as the identity: a zero residual, and no modulation.
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        nn.init.zeros_(self.cond[-1].weight)
        nn.init.zeros_(self.cond[-1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.align, (-w) % self.align
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        films = torch.split(self.cond(cond), [s for s in self._film_sizes for _ in (0, 1)], dim=1)
        n = 2 * (len(self.enc) + len(self.mid) + len(self.dec))
        coarse_films, films = iter(films[n:]), iter(films[:n])
        mix = [None] * (len(self.mid) + len(getattr(self, "coarse", ())))
        if hasattr(self, "mix"):  # one picture (decode's tiles): one weight per layer, kernels merged
            one = cond.shape[0] == 1 or bool((cond == cond[0]).all())
            mix = torch.sigmoid(self.mix(cond[:1] if one else cond)).unbind(1)
            mix = [m[0] for m in mix] if one else mix
        mid_mix, coarse_mix = iter(mix[:len(self.mid)]), iter(mix[len(self.mid):])
        y = self.head(F.pixel_unshuffle(xp * 2 - 1, 2))
        for layer in self.enc:
            y = y + layer(y, next(films), next(films))
        skip = y
        z = self.down(y)
        join = len(self.mid) // 2 if hasattr(self, "coarse") else -1
        for i, layer in enumerate(self.mid):
            if i == join:
                z = z + self._coarse(z, coarse_films, coarse_mix)
            z = z + layer(z, next(films), next(films), next(mid_mix))
        y = F.pixel_shuffle(self.up(z), 2) + skip
        for layer in self.dec:
            y = y + layer(y, next(films), next(films))
        out = xp + F.pixel_shuffle(self.tail(y), 2)
        return out[..., :h, :w]

    @property
    def context(self) -> int:
        """Pixels of context each output pixel depends on, on each side (an upper bound): what
        tiled inference must give each tile."""
        c = self.config
        half = 2 * (2 + 2 * c["depth1"]) + 2  # head, enc, dec, tail (3x3), down (2x2)
        quarter = 4 * c["depth"]
        eighth = 4 + 8 * c["depth3"] if c.get("depth3") else 0
        return half + quarter + eighth + 8  # + 8: pixel (un)shuffle and padding alignment

    def _coarse(self, z: torch.Tensor, films, mix) -> torch.Tensor:
        c = self.down3(z)
        for layer in self.coarse:
            c = c + layer(c, next(films), next(films), next(mix))
        return F.pixel_shuffle(self.up3(c), 2)


def _grown(model: RegenNet, **changes) -> tuple[RegenNet, dict]:
    """A network of `model`'s configuration with `changes` (new weights drawn from a fixed seed),
    and a state dict for it holding `model`'s tensors under their names, except the FiLM output
    rows (cond.2), which the caller fits to the new layout before loading it."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        new = type(model)(**{**model.config, **changes})
    state = new.state_dict()
    state.update({k: v.clone() for k, v in model.state_dict().items() if not k.startswith("cond.2.")})
    return new, state


def deepen(model: RegenNet, extra: int) -> RegenNet:
    """A copy of `model` with `extra` more quarter-resolution layers that start as the identity.

    The new layers (appended after the old ones) keep random convolutions but their FiLM scale
    starts at gamma = -1 (a closed gate, as in ReZero), so the deeper network computes exactly
    what `model` does and fine-tuning opens the gates where the added capacity helps.
    """
    cfg = model.config
    new, state = _grown(model, depth=cfg["depth"] + extra)  # old layers keep their names
    old = model.state_dict()
    # FiLM rows run enc, mid, dec (gamma then beta per layer): old rows around the new ones.
    w2, cut = cfg["width2"], 2 * (cfg["width1"] * cfg["depth1"] + cfg["width2"] * cfg["depth"])
    weight, bias = old["cond.2.weight"], old["cond.2.bias"]
    gate = torch.zeros(2 * w2 * extra, dtype=bias.dtype)
    for i in range(extra):
        gate[2 * w2 * i: 2 * w2 * i + w2] = -1.0  # gamma = -1, beta = 0
    state["cond.2.weight"] = torch.cat([weight[:cut], weight.new_zeros((len(gate), weight.shape[1])),
                                        weight[cut:]])
    state["cond.2.bias"] = torch.cat([bias[:cut], gate, bias[cut:]])
    new.load_state_dict(state)
    return new


def add_coarse(model: RegenNet, depth3: int = 3, width3: int = 128) -> RegenNet:
    """A copy of `model` with an eighth-resolution branch that starts silent (its output
    convolution is zero), so the grown network computes what `model` does (exactly, on sizes
    that are multiples of 8) and fine-tuning opens the branch where it helps."""
    if model.config.get("depth3"):
        raise ValueError("the model already has an eighth-resolution branch")
    new, state = _grown(model, depth3=depth3, width3=width3)
    old = model.state_dict()
    rows = 2 * width3 * depth3  # the branch's FiLM rows come last and start at zero
    w, b = old["cond.2.weight"], old["cond.2.bias"]
    state["cond.2.weight"] = torch.cat([w, w.new_zeros((rows, w.shape[1]))])
    state["cond.2.bias"] = torch.cat([b, b.new_zeros(rows)])
    new.load_state_dict(state)
    return new


def add_blend(model: RegenNet) -> RegenNet:
    """A copy of `model` whose quarter- and eighth-resolution layers each get a second kernel,
    mixed in per picture by a weight the file's tables and subsampling set: more parameters to
    specialize by quality for the same multiply-accumulates per pixel at decode (one picture's
    kernel is merged before the convolution). The second kernels start at zero, so the copy
    computes what `model` does until fine-tuning moves them."""
    if model.config.get("blend"):
        raise ValueError("the model already has blended kernels")
    new, state = _grown(model, blend=True)
    for k in ("cond.2.weight", "cond.2.bias"):  # the FiLM layout does not change
        state[k] = model.state_dict()[k].clone()
    new.load_state_dict(state)
    return new
