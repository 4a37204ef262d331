"""Stop long work cleanly on SIGINT or SIGTERM: the first signal is recorded for the work loop to
act on (finish the step, save, export); a second one acts as it would have without us."""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Context manager: `.signum` is the first SIGINT/SIGTERM received inside it (None until
    then). Handlers are only installed in the main thread; elsewhere it never fires."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.signum = signum
        self._restore()  # a second signal: the usual behaviour (KeyboardInterrupt, termination)

    def _restore(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()


class Stopped(Exception):
    """Work stopped early by a signal after saving what it had (`result`: e.g. the exported
    weight file); the caller reports it and exits with 128 + the signal's number."""

    def __init__(self, signum: int, result=None, message: str = ""):
        super().__init__(message or f"stopped by {signal.Signals(signum).name}")
        self.signum, self.result = signum, result


class Terminated(KeyboardInterrupt):
    """SIGTERM raised as an interrupt in the main thread (see terminate_as_interrupt): the work
    under way unwinds as on Ctrl-C, so temporary files are removed and partial results kept."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


class terminate_as_interrupt:
    """Context manager: inside it, SIGTERM raises Terminated (a KeyboardInterrupt) in the main
    thread instead of killing the process on the spot; the previous handler is restored after."""

    def __enter__(self) -> terminate_as_interrupt:
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, _raise_terminated)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
