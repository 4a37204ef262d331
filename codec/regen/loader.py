"""Training batches, one per optimizer step, made in worker processes when asked.

Each batch is a pure function of (seed, rank, step): a resumed run sees the same batches as an
unbroken one, whatever the number of workers. On a GPU the JPEG coding of the crops (CPU work)
would otherwise starve the network; `--workers N` spreads it over N processes.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator

import numpy as np
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .data import Batch, sample_batch


def step_rng(seed: int, rank: int, step: int) -> np.random.Generator:
    """The random stream of one step's batch."""
    return np.random.default_rng([seed, rank, step])


def batch_maker(pool: np.ndarray, batch: int, seed: int, rank: int, table_sets: tuple = (),
                tuned_prob: float = 0.5, patch: int | None = None,
                coefficients: bool = False) -> Callable[[int], Batch]:
    """step -> that step's Batch (see data.sample_batch for the arguments)."""
    def make(step: int) -> Batch:
        return sample_batch(pool, batch, step_rng(seed, rank, step), table_sets=table_sets,
                            tuned_prob=tuned_prob, patch=patch, coefficients=coefficients)
    return make


class _Steps(IterableDataset):
    """Steps start..stop-1; worker k of n makes steps start+k, start+k+n, ... (the DataLoader
    collects them round-robin, so they arrive in step order)."""

    def __init__(self, make: Callable[[int], Batch], start: int, stop: int):
        self.make, self.start, self.stop = make, start, stop

    def __iter__(self):
        info = get_worker_info()
        k, n = (info.id, info.num_workers) if info else (0, 1)
        for s in range(self.start + k, self.stop, n):
            yield self.make(s)


def _as_is(b: Batch) -> Batch:
    return b


def _ignore_stop_signals(_worker_id: int) -> None:
    """Workers leave Ctrl-C and SIGTERM (sent to the whole process group, by a terminal or by
    `timeout`) to the training process, which finishes its step, saves, and then shuts them
    down; they still end on their own if it dies (PyTorch's watchdog)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


def batches(make: Callable[[int], Batch], start: int, stop: int, workers: int = 0) -> Iterator[Batch]:
    """The batches of steps start..stop-1 in order; made here, or by `workers` processes."""
    if workers <= 0:
        for s in range(start, stop):
            yield make(s)
        return
    # fork shares the crop pool with the workers instead of pickling it to each
    ctx = "fork" if sys.platform.startswith("linux") else None
    loader = iter(DataLoader(_Steps(make, start, stop), batch_size=None, num_workers=workers,
                             collate_fn=_as_is, prefetch_factor=4, multiprocessing_context=ctx,
                             worker_init_fn=_ignore_stop_signals))
    try:
        yield from loader
    finally:
        del loader  # a consumer that stops early (close()) shuts the workers down now, not at exit
