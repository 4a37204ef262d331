"""regen-codec: images stored as small standard JPEGs, restored by a neural network on decode."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.4.0"

from .errors import CodecError  # noqa: E402
from .io.imageio import CodecWarning  # noqa: E402

# The API names are looked up on first use (PEP 562), so `import codec` stays light; PyTorch (2-3 s)
# comes only with encode and decode, which `--version`, `info`, `models`, `pack` and `unpack` never call.
_LAZY = {"encode": "api", "encode_with": "api", "decode": "api", "decode_plain": "api",
         "info": "api", "load_model": "api", "EncodeOptions": "api", "FileInfo": "api",
         "DEFAULT_QUALITY": "api", "create_model": "registry", "list_models": "registry"}

__all__ = ["encode", "encode_with", "decode", "decode_plain", "info", "load_model", "create_model",
           "list_models", "EncodeOptions", "FileInfo", "CodecError", "CodecWarning",
           "DEFAULT_QUALITY", "__version__"]


if TYPE_CHECKING:  # what type checkers and editors see: the real signatures behind _LAZY
    from .api import (DEFAULT_QUALITY, EncodeOptions, FileInfo, decode, decode_plain, encode,
                      encode_with, info, load_model)
    from .registry import create_model, list_models


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
