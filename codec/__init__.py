"""regen-codec: images stored as small standard JPEGs, restored by a neural network on decode."""

__version__ = "0.4.0"

from .api import DEFAULT_QUALITY, decode, decode_plain, encode, info, load_model  # noqa: E402
from .errors import CodecError  # noqa: E402
from .imageio import CodecWarning  # noqa: E402
from .registry import create_model, list_models  # noqa: E402

__all__ = ["encode", "decode", "decode_plain", "info", "load_model", "create_model",
           "list_models", "CodecError", "CodecWarning", "DEFAULT_QUALITY", "__version__"]
