"""A local pool of worker processes for batches, that cannot outlive or be broken by one death.

concurrent.futures.ProcessPoolExecutor fails every remaining task with BrokenProcessPool when
one worker dies (the OOM killer, a crash in a C library, `kill`), cannot say which task that
worker held, and leaves its workers running when the main process is killed. Here each worker
holds one task at a time, so the main process always knows which one a dead worker had: that
task alone is reported failed, a new worker takes the dead one's place, and the rest go on.
Workers ask the kernel to kill them when their parent dies (Linux: PR_SET_PDEATHSIG), and also
watch for it (elsewhere, or where a fork server stands between them). SIGINT and SIGTERM
reach the main process, which stops the workers, and the caller gets `Stopped`.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from ..utils.stopsignal import Stopped, StopSignals

_PR_SET_PDEATHSIG = 1
_POLL_S = 0.5  # how often the main process checks for a stop signal while it waits


class WorkerDied(Exception):
    """The worker process running a task died before it finished (killed, or crashed)."""


def _die_with_parent(parent: int | None) -> None:
    """Make this process end when its parent (`parent`, the process that runs the pool, or a
    fork server that ends with it when None) ends: at once on Linux (the kernel sends SIGKILL),
    and by a watchdog thread everywhere (it notices that the parent changed, within a second)."""
    parent = os.getppid() if parent is None else parent
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(1.0)

    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_main(conn: Connection, parent: int | None, initializer: Callable | None,
                 initargs: tuple) -> None:
    """A worker's life: run (index, fn, arg) tasks from `conn`, send back (index, ok, pickled
    value); pickled here, so that a result or exception that cannot travel is a message."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        index, fn, arg = task
        try:
            ok, value = True, fn(arg)
        except Exception as exc:  # noqa: BLE001 - the task's failure, reported to the caller
            ok, value = False, exc
        try:
            payload = pickle.dumps(value)
        except Exception:  # noqa: BLE001 - pickling fails with many types
            ok, payload = False, pickle.dumps(RuntimeError(
                f"{value.__class__.__name__}: {value}" if not ok
                else "the worker's result could not be sent back"))
        conn.send((index, ok, payload))


class _Worker:
    """One worker process and the task it holds."""

    def __init__(self, ctx, initializer: Callable | None, initargs: tuple):
        self.conn, child = ctx.Pipe()
        parent = None if ctx.get_start_method() == "forkserver" else os.getpid()
        self.proc = ctx.Process(target=_worker_main, args=(child, parent, initializer, initargs),
                                daemon=True)
        self.proc.start()
        child.close()
        self.task: int | None = None

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def _death(proc) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _unpickled(payload: bytes):
    try:
        return pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001 - an exception class that cannot be rebuilt
        return RuntimeError(f"the worker's result could not be read back ({exc})")


def imap_unordered(fn: Callable[[Any], Any], items: Iterable, n_workers: int,
                   initializer: Callable | None = None, initargs: tuple = (),
                   on_stop: Callable[[list[int]], None] | None = None
                   ) -> Iterator[tuple[int, Any]]:
    """Yield (index of the item, fn(item) or the exception it raised) as tasks finish, run in
    `n_workers` processes. A task whose worker died yields WorkerDied and the worker is
    replaced. On SIGINT or SIGTERM the workers are stopped, `on_stop` gets the indices of
    the tasks they held, and Stopped is raised."""
    todo = list(enumerate(items))[::-1]  # popped from the end: in order
    if not todo:
        return
    ctx = multiprocessing.get_context()
    workers: list[_Worker] = []
    pending = len(todo)
    with StopSignals() as stop:
        try:
            while pending:
                while len(workers) < min(n_workers, pending) and not stop.requested:
                    workers.append(_Worker(ctx, initializer, initargs))
                for w in workers:
                    if w.task is None and todo:
                        index, arg = todo.pop()
                        try:
                            w.conn.send((index, fn, arg))
                            w.task = index
                        except OSError:  # it died idle: the task waits for the next worker
                            todo.append((index, arg))
                if stop.requested:
                    raise Stopped(stop.signum)
                ready = wait([w.conn for w in workers] + [w.proc.sentinel for w in workers],
                             timeout=_POLL_S)
                for w in list(workers):
                    got = None
                    if w.conn in ready or w.proc.sentinel in ready:
                        try:
                            if w.conn.poll():
                                got = w.conn.recv()
                        except (EOFError, OSError):
                            pass
                    if got is not None:
                        index, _ok, payload = got
                        w.task = None
                        pending -= 1
                        yield index, _unpickled(payload)
                    elif w.proc.sentinel in ready:  # it died, with or without a task
                        w.proc.join()
                        workers.remove(w)
                        if w.task is not None:
                            pending -= 1
                            yield w.task, WorkerDied(f"the worker process died while on this "
                                                     f"file ({_death(w.proc)})")
                        w.conn.close()
        except (Stopped, KeyboardInterrupt) as exc:
            held = [w.task for w in workers if w.task is not None]
            for w in workers:
                w.stop()
            workers.clear()
            if on_stop is not None:
                on_stop(held)
            if isinstance(exc, KeyboardInterrupt):
                raise Stopped(signal.SIGINT) from None
            raise
        finally:
            for w in workers:
                w.stop()
