"""ComCNN: maps an image to a compact half-resolution image that is then JPEG-coded."""

from .model import ComCNN

__all__ = ["ComCNN"]
