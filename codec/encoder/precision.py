"""The coefficient search's network arithmetic: bfloat16 where the processor computes it
natively, float32 elsewhere.

The search runs the network forward and backward a few times per picture, and that is most of
an encode's time. Under bfloat16 autocast the search found the same gain (BD-rate against the
rounded files on held-out crops and photos, bench/results/coefsearch-bf16*.json) in about two
thirds of the time on a CPU with AVX512-BF16; CPUs without those instructions emulate it and
lose time, so they keep float32. Only the search's choice of moves sees bfloat16: the strength
fit and every decode stay float32, so a file decodes the same everywhere, while the bytes an
encode writes may differ between a processor with bfloat16 and one without.

`$REGEN_CODEC_SEARCH_PRECISION` (`float32` or `bfloat16`) overrides the choice, e.g. for
identical files from machines of both kinds. GPUs keep float32 until half precision is measured
on one (bench/gpu_speed.py).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from ..errors import CodecError

ENV = "REGEN_CODEC_SEARCH_PRECISION"
CHOICES = ("float32", "bfloat16")
#: /proc/cpuinfo flags of native bfloat16 arithmetic (AVX-512 BF16, AMX).
NATIVE_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.lru_cache(maxsize=1)
def _cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The processor's feature flags (Linux); empty where the file cannot be read."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def native_bfloat16(device: str) -> bool:
    """Whether `device` ("cpu", "cuda", ...) is a processor that computes bfloat16 natively (only
    CPUs are asked: see the module docstring)."""
    return device == "cpu" and bool(NATIVE_FLAGS & _cpu_flags())


def search_precision(device: str, env: Mapping[str, str] | None = None) -> str:
    """"bfloat16" or "float32": $REGEN_CODEC_SEARCH_PRECISION where set, else bfloat16 on a
    processor that computes it natively (native_bfloat16)."""
    v = (os.environ if env is None else env).get(ENV, "").strip().lower()
    if v and v != "auto":
        if v not in CHOICES:
            raise CodecError(f"{ENV} must be one of auto, {', '.join(CHOICES)}, got {v!r}")
        return v
    return "bfloat16" if native_bfloat16(device) else "float32"


@contextmanager
def forced(name: str | None) -> Iterator[None]:
    """The block with the search in arithmetic `name` ($REGEN_CODEC_SEARCH_PRECISION set for
    it and restored after; None changes nothing): how the benchmarks time and score both
    arithmetics in one process. Not thread-safe: the environment is the process's."""
    with mock.patch.dict(os.environ, {ENV: name} if name else {}):
        yield
