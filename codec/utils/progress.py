"""Progress on the terminal for the slow steps of one encode: the coefficient search, auto's
comparison with comrec files, the strength fit, a quality search.

The command line turns it on around a single-file encode when stderr is a terminal
(`shown(True)`); the steps ask `enabled()`, so the library stays silent by default and a batch,
which draws its own bar per file, is not cluttered with bars per step.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from tqdm import tqdm

_shown: ContextVar[bool] = ContextVar("regen_codec_progress", default=False)


@contextmanager
def shown(on: bool = True) -> Iterator[None]:
    """Show (or not) the steps' progress inside this block."""
    token = _shown.set(bool(on))
    try:
        yield
    finally:
        _shown.reset(token)


def enabled() -> bool:
    """Whether the steps run now should show their progress."""
    return _shown.get()


def counter(desc: str, unit: str) -> tqdm:
    """A bar that counts what a step has done so far (its total unknown in advance), with the
    time spent; a silent one where progress is off. Close it (or use it in `with`)."""
    return tqdm(total=None, desc=desc, unit=unit, leave=False, file=sys.stderr,
                disable=not enabled(), dynamic_ncols=True)


@contextmanager
def step(desc: str, show: bool | None = None) -> Iterator[None]:
    """A line naming a step while it runs (one network run, say), cleared when it ends; shown
    where `show` says, or by default where progress is on (`enabled()`)."""
    with tqdm(total=None, desc=desc, bar_format="{desc}... {elapsed}", leave=False,
              file=sys.stderr, disable=not (enabled() if show is None else show)):
        yield
