"""The `regen-codec` command (click): the only layer that parses options or prints.

`codec.cli:main` is the console entry point; `python -m codec` runs it too."""

from .commands import cli, main

__all__ = ["cli", "main"]
