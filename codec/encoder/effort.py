"""Effort levels: how hard `encode` searches the coefficients (codec.encoder.coefsearch).

A user picks a level, not a number of search rounds: `--effort 0` to `--effort 3`, or its name.
Each level is a fixed search setting; its speed and its share of the search's gain are measured
by bench/encode_speed.py and the Kodak and held-out benchmarks (docs/encoding.md: 'Effort').
The default depends on where the network runs: a CPU gets `balanced`, a GPU `best`.

Torch-free, so `--help` and the light commands can name the levels without importing PyTorch.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass

from ..errors import CodecError


@dataclass(frozen=True)
class Level:
    """One effort level: its number and name, and the search it runs."""

    number: int
    name: str
    rounds: int  # search rounds, each one forward and backward pass of the network
    share: float  # share of all coefficients the first round may move
    summary: str  # what the level is for, in a few words (shown by --help)


#: The levels, fastest first. `best` is the search every release before levels ran by default
#: (20 rounds, first-round share 0.01); the shorter levels move more coefficients in their first
#: round (share 0.04: more of the gain in 2 or 4 rounds on held-out crops of the training pool,
#: bench/results/coefsearch-fewrounds.json).
LEVELS: tuple[Level, ...] = (
    Level(0, "fastest", 0, 0.01, "no search: the coefficients as JPEG rounds them"),
    Level(1, "fast", 2, 0.04, "2 search rounds"),
    Level(2, "balanced", 4, 0.04, "4 search rounds"),
    Level(3, "best", 20, 0.01, "20 search rounds"),
)
BY_NAME = {lv.name: lv for lv in LEVELS}
#: The default on a CPU and where the network runs on a GPU (which affords far more rounds).
CPU_DEFAULT = 2
GPU_DEFAULT = 3
ENV = "REGEN_CODEC_EFFORT"


def level(value: int | str) -> Level:
    """The level named by `value`: its number (0-3, as int or text) or its name. Anything else
    is a CodecError that lists the levels (and says what an old round count became)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in BY_NAME:
            return BY_NAME[text]
        if not text.lstrip("-").isdigit():
            raise CodecError(f"unknown effort level {value!r} ({choices()})")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CodecError(f"unknown effort level {value!r} ({choices()})")
    value = int(value)  # numpy's integers too
    if 0 <= value < len(LEVELS):
        return LEVELS[value]
    hint = ""
    if value > 0:  # before levels, --effort counted search rounds (default 20)
        near = min(LEVELS, key=lambda lv: abs(lv.rounds - value))
        hint = (f"; --effort used to count search rounds: {value} rounds is closest to "
                f"{near.number} ({near.name})")
    raise CodecError(f"unknown effort level {value} ({choices()}){hint}")


def choices() -> str:
    return ", ".join(f"{lv.number} {lv.name}" for lv in LEVELS)


def default_level(device: str = "cpu") -> int:
    """The level `encode` runs when not told: $REGEN_CODEC_EFFORT (a number or a name) if set,
    else CPU_DEFAULT, or GPU_DEFAULT where the network runs on a GPU (`device` as resolved:
    "cuda...")."""
    v = os.environ.get(ENV, "").strip()
    if v:
        try:
            return level(v).number
        except CodecError as e:
            raise CodecError(f"${ENV}: {e}") from None
    return GPU_DEFAULT if str(device).startswith("cuda") else CPU_DEFAULT


def resolve(value: int | str | None, device: str = "cpu") -> int:
    """The level number `value` names, or the default on `device` (as resolved) for None."""
    return default_level(device) if value is None else level(value).number


def describe() -> str:
    """The levels as one line for --help: "0 fastest (no search ...), 1 fast (...), ..."."""
    return "; ".join(f"{lv.number} {lv.name} ({lv.summary})" for lv in LEVELS)
