"""`python -m codec` is the `regen-codec` command."""

from .cli import main

main()
