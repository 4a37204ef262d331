"""codec.encoder.jpegrate: its per-move bit changes agree with its block counts, and its block counts
come close to the entropy-coded size libjpeg writes."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from codec.decoder.consistency import read_coefficients
from codec.encoder.jpegrate import CodeLengths, block_bits, move_bits
from codec.format.jpeg import encode_jpeg


def test_move_bits_is_the_change_of_block_bits():
    torch.manual_seed(0)
    dc, ac = torch.rand(16) * 8 + 2, torch.rand(256) * 12 + 2  # any code lengths will do
    # low frequencies large, high ones mostly zero; a last coefficient set, a block all zero
    b = (torch.randn(2, 3, 8, 8) * torch.linspace(8, 0.2, 64).reshape(8, 8)).round()
    b[0, 0] = 0
    b[1, 2, 7, 7] = 1
    base = block_bits(b, dc, ac).sum()
    for step, mb in zip((1.0, -1.0), move_bits(b, dc, ac)):
        for idx in np.ndindex(*b.shape):
            moved = b.clone()
            moved[idx] += step
            assert float(block_bits(moved, dc, ac).sum() - base) == pytest.approx(
                float(mb[idx]), abs=1e-3), (step, idx)


@pytest.mark.parametrize("sub", ["4:2:0", "4:4:4"])
def test_block_bits_near_the_files_scan(photo, sub):
    for q in (15, 60):
        data = encode_jpeg(Image.fromarray(photo), q, sub)
        lengths = CodeLengths.of_file(data)
        c = read_coefficients(data)
        bits = sum(float(block_bits(torch.from_numpy(b.astype(np.float32)),
                                    torch.from_numpy(dc), torch.from_numpy(ac)).sum())
                   for b, dc, ac in zip(c.blocks, lengths.dc, lengths.ac))
        scan = len(data) - data.find(b"\xff\xda")  # the scan, with its header and byte stuffing
        assert abs(bits / 8 / scan - 1) < 0.04, (sub, q, bits / 8, scan)


def test_code_lengths_of_files_it_cannot_read(photo):
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=50, progressive=True)
    assert CodeLengths.of_file(buf.getvalue()) is None  # its first scan holds DC only
    gray = io.BytesIO()
    Image.fromarray(photo[..., 0]).save(gray, "JPEG", quality=50)
    assert CodeLengths.of_file(gray.getvalue()) is None  # one component, three asked
