"""The one exception type users see: a clear, one-line message (the CLI prints it and exits 2)."""


class CodecError(Exception):
    """A user-facing failure: bad input, missing model, hash mismatch, unwritable output."""
