"""Keeping C libraries' own messages off the user's terminal, and object reprs out of errors.

libtiff and libjpeg (through Pillow and jpeglib) print warnings and errors straight to file
descriptor 2 ("Using code not yet in table", "Sorry, there are legal restrictions on arithmetic
coding"), often naming a temporary file the user never saw. The codec's promise is one line per
failure, naming the user's file: `captured_stderr` collects that text so the caller can turn it
into a warning or into the error it raises, and `library_message` cleans an exception's text.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.RLock()

#: `<_io.BytesIO object at 0x7f...>` and the like: meaningless to a user, different every run.
_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")
#: The name of the temporary file Pillow hands to libtiff, which starts libtiff's messages.
_TEMP_NAME = re.compile(r"^\s*tempfile\.tif:\s*")


@contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Redirect file descriptor 2 (where C libraries write) into a temporary file while the block
    runs; the yielded list then holds the non-empty lines written, temporary file names removed.

    Written by hand rather than with `wurlitzer`: that one needs a reader thread and fcntl
    (Unix only), where a file and two dup2 calls do. The redirection is process-wide, so it is
    serialised by a lock, and Python's own sys.stderr is flushed first so nothing of ours is
    swallowed. Where fd 2 cannot be redirected (no such descriptor), the block runs as it is."""
    lines: list[str] = []
    with _LOCK:
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:
            saved = None
        if saved is None:
            yield lines
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield lines
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                text = sink.read(64 * 1024).decode("utf-8", "replace")
                lines.extend(_TEMP_NAME.sub("", ln).strip() for ln in text.splitlines()
                             if ln.strip())


def library_message(exc: BaseException) -> str:
    """An exception's text without object reprs and temporary file names, for a user's error
    message (the caller names the user's file itself)."""
    text = _REPR.sub("", str(exc)).strip().rstrip(":").strip()
    return text or exc.__class__.__name__
