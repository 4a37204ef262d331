"""regen-codec: images stored as small standard JPEGs, restored by a neural network on decode."""

from __future__ import annotations

import importlib

__version__ = "0.4.0"

from .errors import CodecError  # noqa: E402
from .io.imageio import CodecWarning  # noqa: E402

# The API names are looked up on first use (PEP 562): codec.api imports PyTorch (2-3 s), which
# `regen-codec --version`, `info`, `models`, `pack` and `unpack` never need.
_LAZY = {"encode": "api", "decode": "api", "decode_plain": "api", "info": "api",
         "load_model": "api", "DEFAULT_QUALITY": "api", "create_model": "registry",
         "list_models": "registry"}

__all__ = ["encode", "decode", "decode_plain", "info", "load_model", "create_model",
           "list_models", "CodecError", "CodecWarning", "DEFAULT_QUALITY", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
