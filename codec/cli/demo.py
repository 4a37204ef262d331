"""The quick-start demo: a built-in photo (from scikit-image) through encode and decode."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np
from PIL import Image

from .. import api
from ..io.fileio import atomic_write, image_bytes
from ..utils import metrics


def sample_photo() -> np.ndarray:
    """scikit-image's 'astronaut' photo (512x512 RGB), shipped inside that package."""
    from skimage import data  # scikit-image's sample photos: slow to import, for the demo only

    return np.ascontiguousarray(data.astronaut())


def run_demo(quality: int | None = None, out_dir: Path | None = None, device: str = "auto") -> dict:
    q = quality or api.DEFAULT_QUALITY
    original = sample_photo()
    h, w = original.shape[:2]
    t = time.perf_counter()
    # regen mode: the plain decode of a full-size file is what the regenerated one is compared
    # with (at low qualities auto mode picks comrec, whose plain decode is half the size)
    data = api.encode(original, quality=q, mode="regen")
    t_enc = time.perf_counter() - t
    plain = api.decode_plain(data)
    t = time.perf_counter()
    regen = np.asarray(api.decode(data, device=device))
    t_dec = time.perf_counter() - t
    res = {
        "bytes": len(data), "bpp": len(data) * 8 / (w * h),
        "plain_psnr": metrics.psnr(original, plain), "regen_psnr": metrics.psnr(original, regen),
        "plain_msssim": metrics.ms_ssim(original, plain), "regen_msssim": metrics.ms_ssim(original, regen),
    }
    click.echo(f"sample photo: scikit-image 'astronaut', {w}x{h} pixels")
    click.echo(f"encoded at quality {q}: {res['bytes']} bytes, {res['bpp']:.3f} bits per pixel "
               f"({t_enc * 1000:.0f} ms)")
    click.echo(f"{'':<22}{'PSNR (dB)':>10}{'MS-SSIM':>10}{'MS-SSIM dB':>12}")
    for name, key in (("plain JPEG decode", "plain"), ("regenerated decode", "regen")):
        click.echo(f"{name:<22}{res[key + '_psnr']:>10.2f}{res[key + '_msssim']:>10.4f}"
                   f"{metrics.db(res[key + '_msssim']):>12.2f}")
    click.echo(f"regeneration gain: {res['regen_psnr'] - res['plain_psnr']:+.2f} dB PSNR, "
               f"{metrics.db(res['regen_msssim']) - metrics.db(res['plain_msssim']):+.2f} dB "
               f"MS-SSIM (decode {t_dec * 1000:.0f} ms)")
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(out_dir / "encoded.jpg", data, force=True)
        for name, arr in (("original", original), ("plain", plain), ("regenerated", regen)):
            atomic_write(out_dir / f"{name}.png", image_bytes(Image.fromarray(arr), ".png"),
                         force=True)
        click.echo(f"files written to {out_dir}/")
    return res
