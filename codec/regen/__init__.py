"""The regeneration network: restores a decoded JPEG toward the original."""

from .model import RegenNet

__all__ = ["RegenNet"]
