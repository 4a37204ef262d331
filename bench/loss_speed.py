"""The coefficient search's quality loss, timed: pytorch_msssim's MS-SSIM against the search's
QualityRef (the reference's terms computed once), forward and backward, on one window.

    .venv/bin/python -m bench.loss_speed --height 512 --width 768
"""

from __future__ import annotations

import argparse
import time

import torch
from pytorch_msssim import ms_ssim

from codec.encoder.coefsearch import QualityRef
from codec.utils.metrics import msssim_window


def best_of(fn, ref: torch.Tensor, reps: int) -> float:
    """Fastest of `reps` forward-and-backward passes of fn(out) for a noisy copy `out` of `ref`."""
    times = []
    for _ in range(reps):
        out = (ref + 0.05 * torch.randn_like(ref)).clamp(0, 1).requires_grad_(True)
        t = time.perf_counter()
        fn(out).backward()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    ref = torch.rand(3, a.height, a.width, generator=torch.Generator().manual_seed(0))
    win = msssim_window(min(a.height, a.width))
    q = QualityRef(ref)
    old = best_of(lambda o: ms_ssim(o[None] * 255, ref[None] * 255, data_range=255, win_size=win),
                  ref, a.reps)
    new = best_of(q.ms_ssim, ref, a.reps)
    print(f"{a.height}x{a.width}, {torch.get_num_threads()} threads: pytorch_msssim {old:.3f} s, "
          f"QualityRef {new:.3f} s (forward and backward, best of {a.reps}): {old / new:.2f}x")


if __name__ == "__main__":
    main()
