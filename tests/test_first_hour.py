"""What a new user meets in the first hour: fast light commands, batches that leave their own
outputs and plain JPEGs alone, errors that name the real problem, readable listings and reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import codec

ROOT = Path(__file__).resolve().parents[1]


def _run_without_torch(commands: list[list[str]], cwd: Path) -> dict:
    """Run each CLI command in one fresh interpreter; {command: (exit code, torch loaded)}."""
    script = (
        "import json, sys\n"
        "from codec.cli import cli\n"
        "seen = {}\n"
        f"for args in {commands!r}:\n"
        "    try:\n"
        "        cli(args, prog_name='regen-codec')\n"
        "    except SystemExit as e:\n"
        "        code = e.code\n"
        "    seen[' '.join(args)] = (code, 'torch' in sys.modules)\n"
        "print(json.dumps(seen), file=sys.stderr)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=120)
    return json.loads(r.stderr.strip().splitlines()[-1])


def test_light_commands_do_not_import_torch(tmp_path, photo):
    """--version, --help, info, models, pack and unpack need no network: importing PyTorch
    (2-3 s) made each of them slow."""
    (tmp_path / "p.jpg").write_bytes(codec.encode(photo, effort=0, fit=False, mode="regen"))
    Image.fromarray(photo).save(tmp_path / "plain.jpg")
    commands = [["--version"], ["--help"], ["encode", "--help"], ["info", "p.jpg"],
                ["info", "plain.jpg"], ["models"], ["models", "list", "--json"],
                ["pack", "p.jpg"], ["unpack", "p.jxl", "-o", "back.jpg"], ["info", "p.jxl"]]
    seen = _run_without_torch(commands, tmp_path)
    assert (tmp_path / "back.jpg").read_bytes() == (tmp_path / "p.jpg").read_bytes()
    for cmd, (code, torch_loaded) in seen.items():
        assert code in (0, None), (cmd, code)
        assert not torch_loaded, f"`regen-codec {cmd}` imported torch"
