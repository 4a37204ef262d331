"""Settings read from environment variables (torch-free: the CLI's light commands use it)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import CodecError


def whole_number(name: str, minimum: int, unit: str, env: Mapping[str, str] | None = None
                 ) -> int | None:
    """$`name` as a whole number of at least `minimum`, or None where it is unset or blank; any
    other value is a CodecError naming the variable and what it must be (`unit`: "threads")."""
    v = (os.environ if env is None else env).get(name, "").strip()
    if not v:
        return None
    try:
        n = int(v)
    except ValueError:
        n = minimum - 1
    if n < minimum:
        raise CodecError(f"{name} must be a whole number of {unit}, {minimum} or more, got {v!r}")
    return n
