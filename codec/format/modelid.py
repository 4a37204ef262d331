"""Model IDs: the one pattern every ID read from a file or typed by a user must match.

An ID becomes part of a file name in the model folder and is printed by `models` and `info`,
so it may hold no path separator, no `..` lead, no control character and no upper case (two
IDs that differ only in case would clash on case-insensitive file systems).
"""

from __future__ import annotations

import re

from ..errors import CodecError

#: A model ID: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit,
#: at most 64 characters.
MODEL_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def is_model_id(value: object) -> bool:
    """Whether `value` is a string that matches MODEL_ID_PATTERN as a whole."""
    return isinstance(value, str) and MODEL_ID_PATTERN.fullmatch(value) is not None


def check_model_id(value: object, where: str) -> str:
    """`value` if it is a valid model ID, else a CodecError naming `where` it came from (the
    value shown escaped, so a hostile ID cannot put control characters on the terminal)."""
    if not is_model_id(value):
        raise CodecError(f"{where}: invalid model ID {shown(value)} (IDs are 1-64 characters: "
                         f"lower-case letters, digits, '.', '_' or '-', starting with a letter "
                         f"or digit)")
    return value


def shown(value: object, limit: int = 80) -> str:
    """`value` for an error message: quoted, non-ASCII and control characters escaped, long
    values cut."""
    text = ascii(value)
    return text if len(text) <= limit else text[:limit] + "..."


def printable(text: str, limit: int = 200) -> str:
    """Free text from a file (a model's summary) made safe to print on one terminal line:
    control and other non-printable characters become '?', and it is cut at `limit`."""
    out = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return out + ("..." if len(text) > limit else "")
