"""RecCNN: restores the upscaled decode of a compact JPEG to the full-size image."""

from .model import RecCNN, upscale

__all__ = ["RecCNN", "upscale"]
