"""Shared fixtures: small real photos (from scikit-image), files on disk, and a CLI runner."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

# encode runs the decoder-aware coefficient search (codec.encoder.coefsearch) by default, 4 rounds of
# the network forwards and backwards on a CPU; tests not about it run effort level 1, 2 rounds
# (test_effort checks the default)
os.environ.setdefault("REGEN_CODEC_EFFORT", "1")


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A 120x168 crop of scikit-image's 'chelsea' photo: small, real, odd-free size."""
    from skimage import data

    return np.ascontiguousarray(data.chelsea()[60:180, 100:268])


@pytest.fixture(scope="session")
def odd_photo() -> np.ndarray:
    """A 53x77 crop: neither side a multiple of 8 or 16."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[100:153, 200:277])


@pytest.fixture()
def png_file(tmp_path, photo):
    p = tmp_path / "photo.png"
    Image.fromarray(photo).save(p)
    return p


@pytest.fixture()
def cli():
    """Invoke `regen-codec` in-process; result.stdout / result.stderr / result.exit_code."""
    from codec.cli.commands import cli as group

    runner = CliRunner()

    def run(*args):
        return runner.invoke(group, [str(a) for a in args], catch_exceptions=True)

    return run


@pytest.fixture()
def user_models(tmp_path, monkeypatch):
    """An empty user model directory for this test."""
    d = tmp_path / "user-models"
    monkeypatch.setenv("REGEN_CODEC_MODELS", str(d))
    return d


def jpeg_bytes(arr: np.ndarray, quality: int = 50, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality, **kw)
    return buf.getvalue()
