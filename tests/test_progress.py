"""Progress on a terminal: a large picture's decode shows its tiles, a batch its files."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

import codec

ROOT = Path(__file__).resolve().parents[1]


def _on_terminal(args: list[str]) -> str:
    """Run `regen-codec ARGS` with stdout and stderr on a pseudo-terminal; all it printed."""
    main, sub = pty.openpty()
    # a terminal of 24 rows and 100 columns (a new pty has 0 columns: tqdm would draw nothing)
    fcntl.ioctl(sub, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "codec", *args], stdout=sub, stderr=sub,
                            stdin=subprocess.DEVNULL, env=env, cwd=ROOT)
    os.close(sub)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # the other end closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert proc.wait(timeout=600) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow  # two new processes import torch and decode: about 20 s
def test_decode_shows_tiles_for_one_large_picture_and_files_for_a_batch(tmp_path, photo):
    data = codec.encode(photo, 40, mode="regen", effort=0)
    (tmp_path / "in").mkdir()
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / "in" / name).write_bytes(data)
    # 120x168 in 64-pixel tiles: 2x3 tiles, as a 12-megapixel picture has in 1024-pixel tiles
    out = _on_terminal(["decode", str(tmp_path / "in" / "a.jpg"), "-o", str(tmp_path / "a.png"),
                        "--tile", "64", "--device", "cpu"])
    assert "regenerating" in out and "0/6" in out
    assert "consistency step" in out and "writing PNG" in out  # the steps after the tiles
    out = _on_terminal(["decode", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                        "--device", "cpu"])
    assert "decode" in out and "2/2" in out and "2 done" in out
