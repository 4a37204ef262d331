"""JPEG's own transforms as torch tensors: JFIF's RGB <-> YCbCr matrices (what libjpeg, and so
Pillow, use) and the 8x8 DCT (JPEG's is the orthonormal one). Shared by the ComCNN stand-in
(codec/comcnn/standin.py) and decode's consistency step (codec/decoder/consistency.py)."""

from __future__ import annotations

import math

import torch

_rgb2ycc = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5],
                         [0.5, -0.418688, -0.081312]], dtype=torch.float64)
RGB2YCC = _rgb2ycc.float()  # Y, Cb, Cr (chroma centred on 0: add 128 for JPEG's planes)
YCC2RGB = torch.linalg.inv(_rgb2ycc).float()  # inverted in double precision
# rows: frequency k, columns: sample n
DCT = torch.tensor([[math.sqrt((1 if k == 0 else 2) / 8) * math.cos(math.pi * (2 * n + 1) * k / 16)
                     for n in range(8)] for k in range(8)])
