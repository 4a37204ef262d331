"""Image quality measures, computed the way CompressAI reports them (8-bit RGB, data range 255)."""

from __future__ import annotations

import math

import numpy as np
import torch
from pytorch_msssim import ms_ssim as _ms_ssim
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..errors import CodecError

#: MS-SSIM's four halvings with the smallest window (3) need more than 32 pixels on a side.
MSSSIM_MIN_SIDE = 33


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB over all RGB values of two HxWx3 uint8 images."""
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=255))


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.require(a, requirements=["C", "W"])).permute(2, 0, 1)[None].float()


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM (pytorch_msssim, data_range=255) of two HxWx3 uint8 images.

    Images smaller than 161 pixels on a side use a smaller window, as the 5-scale default
    cannot run on them; below MSSSIM_MIN_SIDE no window fits, a CodecError (not an assertion
    deep in pytorch_msssim) says so.
    """
    side = min(a.shape[:2])
    if side < MSSSIM_MIN_SIDE:
        raise CodecError(f"{a.shape[1]}x{a.shape[0]} is too small for MS-SSIM (it needs at least "
                         f"{MSSSIM_MIN_SIDE} pixels on each side)")
    win = msssim_window(side)
    with torch.no_grad():
        return float(_ms_ssim(_tensor(a), _tensor(b), data_range=255, win_size=win))


def msssim_window(side: int) -> int:
    """The Gaussian window ms_ssim() uses on a picture whose shorter side is `side` pixels."""
    return 11 if side > 160 else max(3, (side // 16 - 1) | 1)


def db(msssim: float) -> float:
    """MS-SSIM on a decibel scale: -10 log10(1 - MS-SSIM)."""
    return -10 * math.log10(max(1e-10, 1 - msssim))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (scikit-image, channel-wise on RGB, data range 255)."""
    return float(structural_similarity(a, b, data_range=255, channel_axis=2))
