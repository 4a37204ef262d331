"""The GPU measurement in one call: decode and encode speed, peak GPU memory, half precision, and
how a GPU decode differs from a CPU decode of the same file.

On a CUDA device (`--device cuda`, the default where one is present), in this order, each step
skipped (and said so in the JSON) once the time budget (--budget, seconds) is spent:

1. decode MP/s of the default model, the JPEG decode, consistency step and strength included
   (`codec.decode`, files made at quality 40 in regen mode), on Kodak-size pictures (768x512)
   and on one 12-megapixel picture (4032x3024), after one warm-up; peak GPU memory of each;
2. CPU against GPU: the same files decoded on the CPU; how many pixels differ (any channel),
   how many 8-bit values, by how much (the largest difference and a histogram);
3. half precision: the network under torch.autocast (float16 on CUDA) against float32: speed,
   the pixels that differ, and PSNR / MS-SSIM against the source for both (quality 20 and 40);
4. encode MP/s of the default pipeline (auto mode, strength fit) per effort level on
   the Kodak-size pictures at qualities 10 and 40, peak GPU memory; then the 12-megapixel
   picture at effort 0 and at the slowest level (3, the default on a GPU);
5. the search's arithmetic: the slowest level on the Kodak-size pictures with the search's
   network in float32 and in bfloat16 ($REGEN_CODEC_SEARCH_PRECISION): time, bytes, and the
   restored PSNR and MS-SSIM of each.

The pictures are scikit-image's sample photos resized (astronaut, coffee, chelsea, rocket;
nothing is read from ../shared, which does not travel to the GPU machine); without
scikit-image, smooth synthetic pictures. `--smoke` runs a reduced form on the CPU (small
pictures, efforts 0 and 1 at quality 40, the half-precision step in bfloat16 at quality 40) so that the script is tested
where there is no GPU. The device machine needs the codec's dependencies (jpeglib,
pytorch-msssim, mozjpeg-lossless-optimization, imagecodecs: carried as wheels, see the device
notes). Writes one JSON to --out and, where $OUT is set, to $OUT/gpu-speed.json.

    python -m bench.gpu_speed                      # on the GPU machine, under 8 minutes
    python -m bench.gpu_speed --smoke --out /tmp/gpu-speed-smoke.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

root = Path(__file__).resolve().parents[1]

KODAK_SIZE = (768, 512)  # width, height
LARGE_SIZE = (4032, 3024)  # 12.2 megapixels, a phone camera's picture


def pictures(size: tuple[int, int], n: int) -> list[tuple[str, np.ndarray]]:
    """`n` photos of `size` (width, height): scikit-image's samples resized, or synthetic ones."""
    from PIL import Image

    out = []
    try:
        from skimage import data

        names = ["astronaut", "coffee", "chelsea", "rocket"]
        for name in names[:n]:
            img = Image.fromarray(getattr(data, name)()).convert("RGB")
            out.append((name, np.asarray(img.resize(size, Image.Resampling.LANCZOS))))
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    while len(out) < n:  # smooth gradients with some texture: no scikit-image here
        w, h = size
        y, x = np.mgrid[0:h, 0:w] / max(w, h)
        base = np.stack([np.sin(6 * x + len(out)), np.cos(5 * y), np.sin(4 * (x + y))], -1)
        img = (127 + 100 * base + rng.normal(0, 8, base.shape)).clip(0, 255).astype(np.uint8)
        out.append((f"synthetic{len(out)}", img))
    return out


class Budget:
    """Seconds left of the run's budget; steps past it are skipped."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds
        self.skipped: list[str] = []

    def ok(self, step: str, need: float = 0.0) -> bool:
        if time.perf_counter() + need < self.end:
            return True
        self.skipped.append(step)
        print(f"skipped (time budget): {step}", flush=True)
        return False


def sync(dev: str) -> None:
    import torch

    if dev.startswith("cuda"):
        torch.cuda.synchronize()


def reset_peak(dev: str) -> None:
    import torch

    if dev.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def peak_mib(dev: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if dev.startswith("cuda") else None


def timed(fn, dev: str):
    sync(dev)
    t0 = time.perf_counter()
    out = fn()
    sync(dev)
    return out, time.perf_counter() - t0


def mean_bpp(files: list[bytes], pics: list[tuple[str, np.ndarray]]) -> float:
    """Mean bits per pixel of `files`, each made of the picture beside it in `pics`."""
    return round(float(np.mean([len(d) * 8 / (p.shape[0] * p.shape[1])
                                for d, (_, p) in zip(files, pics)])), 4)


def difference(a: np.ndarray, b: np.ndarray) -> dict:
    """How two HxWx3 uint8 decodes differ: pixels (any channel), values, largest, histogram."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    hist = np.bincount(np.minimum(d, 4).ravel(), minlength=5)
    return {"pixels": int(a.shape[0] * a.shape[1]), "pixels_differing": int((d > 0).any(2).sum()),
            "values_differing": int((d > 0).sum()), "max_abs": int(d.max()),
            "mean_abs": round(float(d.mean()), 5),
            "values_by_abs_difference": {"1": int(hist[1]), "2": int(hist[2]), "3": int(hist[3]),
                                         "4+": int(hist[4])}}


class HalfNetwork:
    """The default model's forward run under torch.autocast(`dtype`) while in use (the cached
    network object itself is patched, so codec.decode picks it up), its output back in float32."""

    def __init__(self, dev: str, dtype) -> None:
        from codec.registry import DEFAULT_MODEL, load_model

        self.net = load_model(DEFAULT_MODEL, device=dev)
        self.dev, self.dtype = dev, dtype

    def __enter__(self):
        import torch

        forward = type(self.net).forward.__get__(self.net)
        dev_type = "cuda" if self.dev.startswith("cuda") else "cpu"

        def half_forward(*args, **kwargs):
            with torch.autocast(dev_type, dtype=self.dtype):
                return forward(*args, **kwargs).float()

        self.net.forward = half_forward
        return self

    def __exit__(self, *exc) -> None:
        del self.net.forward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="reduced form for the CPU (tests)")
    ap.add_argument("--device", default=None, help="cuda or cpu [default: cuda if present]")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for the whole run [default: 420, --smoke 300]")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON file [default: bench/results/gpu-speed.json, "
                         "--smoke: bench/results/gpu-speed-smoke.json]")
    a = ap.parse_args()
    os.environ.pop("REGEN_CODEC_EFFORT", None)
    t_start = time.perf_counter()

    import torch

    import codec
    import codec.encoder.maker
    from codec.batch.threads import configure
    from codec.encoder import effort as levels
    from codec.registry import DEFAULT_MODEL
    from codec.encoder import precision
    from codec.utils.metrics import db, ms_ssim, psnr

    threads = configure()
    dev = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    budget = Budget(a.budget or (300 if a.smoke else 420))
    if a.smoke:
        small, large, n_small = (128, 96), (256, 192), 2
        efforts, qualities, tile, half_dtype = [0, 1], [40], 128, torch.bfloat16
        half_qualities = (40,)
    else:
        small, large, n_small = KODAK_SIZE, LARGE_SIZE, 4
        efforts, qualities, tile = [lv.number for lv in levels.LEVELS], [10, 40], 1024
        half_dtype = torch.float16 if dev.startswith("cuda") else torch.bfloat16
        half_qualities = (20, 40)
    res: dict = {
        "smoke": a.smoke, "device": dev,
        "device_name": torch.cuda.get_device_name() if dev.startswith("cuda") else platform.processor(),
        "torch": torch.__version__, "cuda": torch.version.cuda, "cpu_threads": threads,
        "model": DEFAULT_MODEL, "default_effort": levels.default_level(dev),
        "levels": {lv.number: lv.summary for lv in levels.LEVELS},
        "sizes": {"kodak_size": list(small), "large": list(large)}, "tile": tile,
    }
    kodak = pictures(small, n_small)
    big = pictures(large, 1)
    mpx_k = sum(p.shape[0] * p.shape[1] for _, p in kodak) / 1e6
    mpx_b = big[0][1].shape[0] * big[0][1].shape[1] / 1e6

    # 1. decode speed
    files = {q: [codec.encode(p, q, mode="regen", effort=0, device=dev) for _, p in kodak]
             for q in sorted({*half_qualities, 40})}
    big_file = codec.encode(big[0][1], 40, mode="regen", effort=0, device=dev)
    codec.decode(files[40][0], device=dev, tile=tile)  # warm-up: weights, kernels
    reset_peak(dev)
    dec_gpu, t = timed(lambda: [np.asarray(codec.decode(d, device=dev, tile=tile))
                                for d in files[40]], dev)
    res["decode_kodak_size"] = {"pictures": len(kodak), "megapixels": round(mpx_k, 3),
                                "seconds": round(t, 3), "mpx_per_s": round(mpx_k / t, 3),
                                "peak_gpu_mib": peak_mib(dev)}
    reset_peak(dev)
    big_gpu, t = timed(lambda: np.asarray(codec.decode(big_file, device=dev, tile=tile)), dev)
    res["decode_large"] = {"megapixels": round(mpx_b, 3), "seconds": round(t, 3),
                           "mpx_per_s": round(mpx_b / t, 3), "peak_gpu_mib": peak_mib(dev)}
    print("decode", res["decode_kodak_size"], res["decode_large"], flush=True)

    # 2. CPU against GPU (the same files)
    if budget.ok("cpu_vs_device"):
        diffs = [difference(np.asarray(codec.decode(d, device="cpu", tile=tile)), g)
                 for d, g in zip(files[40], dec_gpu)]
        big_cpu = np.asarray(codec.decode(big_file, device="cpu", tile=tile))
        res["cpu_vs_device"] = {"reference": "cpu", "device": dev, "kodak_size": diffs,
                                "large": difference(big_cpu, big_gpu)}
        print("cpu vs device", res["cpu_vs_device"]["large"], flush=True)

    # 3. half precision
    if budget.ok("half_precision"):
        half: dict = {"dtype": str(half_dtype).removeprefix("torch."), "by_quality": {}}
        for q in half_qualities:
            full = [np.asarray(codec.decode(d, device=dev, tile=tile)) for d in files[q]]
            with HalfNetwork(dev, half_dtype):
                codec.decode(files[q][0], device=dev, tile=tile)  # warm-up
                part, t_half = timed(lambda: [np.asarray(codec.decode(d, device=dev, tile=tile))
                                              for d in files[q]], dev)
            _, t_full = timed(lambda: [codec.decode(d, device=dev, tile=tile) for d in files[q]],
                              dev)
            src = [p for _, p in kodak]
            half["by_quality"][str(q)] = {
                "mpx_per_s_float32": round(mpx_k / t_full, 3),
                "mpx_per_s_half": round(mpx_k / t_half, 3),
                "psnr_float32": round(float(np.mean([psnr(s, o) for s, o in zip(src, full)])), 4),
                "psnr_half": round(float(np.mean([psnr(s, o) for s, o in zip(src, part)])), 4),
                "msssim_float32": round(float(np.mean([ms_ssim(s, o) for s, o in zip(src, full)])), 6),
                "msssim_half": round(float(np.mean([ms_ssim(s, o) for s, o in zip(src, part)])), 6),
                "difference": [difference(f, p) for f, p in zip(full, part)],
            }
        res["half_precision"] = half
        print("half", {q: {k: v for k, v in r.items() if k != "difference"}
                       for q, r in half["by_quality"].items()}, flush=True)

    # 4. encode speed per effort (default pipeline: auto mode, strength fit)
    enc: dict = {}
    for e in efforts:
        for q in qualities:
            step = f"encode effort {e} quality {q}"
            if not budget.ok(step):
                continue
            codec.encoder.maker._search_memo.clear()
            reset_peak(dev)
            out, t = timed(lambda: [codec.encode(p, q, effort=e, device=dev) for _, p in kodak],
                           dev)
            enc[f"effort{e}_q{q}"] = {
                "effort": e, "quality": q, "seconds": round(t, 3),
                "mpx_per_s": round(mpx_k / t, 4), "peak_gpu_mib": peak_mib(dev),
                "bpp": mean_bpp(out, kodak),
                "modes_kept": [codec.info(d).metadata["mode"] for d in out]}
            print(step, enc[f"effort{e}_q{q}"], flush=True)
    res["encode_kodak_size"] = enc
    big_enc: dict = {}
    for e in sorted({0, efforts[-1]}):
        step = f"encode large effort {e} quality 40"
        rate = enc.get(f"effort{e}_q40", {}).get("mpx_per_s")  # the small pictures' pace
        if not budget.ok(step, need=mpx_b / rate if rate else 0.0):
            continue
        reset_peak(dev)
        data, t = timed(lambda: codec.encode(big[0][1], 40, effort=e, device=dev), dev)
        big_enc[f"effort{e}_q40"] = {"effort": e, "quality": 40, "seconds": round(t, 3),
                                     "mpx_per_s": round(mpx_b / t, 4),
                                     "peak_gpu_mib": peak_mib(dev),
                                     "bpp": round(len(data) * 8 / (mpx_b * 1e6), 4)}
        print(step, big_enc[f"effort{e}_q40"], flush=True)
    res["encode_large"] = big_enc

    # 5. the search's arithmetic: the slowest level with its network in float32 and in bfloat16
    # (codec.encoder.precision keeps GPUs at float32 until this shows what bfloat16 costs)
    prec: dict = {}
    for q in qualities:
        e = efforts[-1]
        step = f"encode effort {e} quality {q}, search in float32 and bfloat16"
        if not budget.ok(step):
            continue
        row = {}
        for name in precision.CHOICES:
            codec.encoder.maker._search_memo.clear()
            with precision.forced(name):
                out, t = timed(lambda: [codec.encode(p, q, effort=e, device=dev) for _, p in kodak],
                               dev)
            back = [np.asarray(codec.decode(d, device=dev, tile=tile).convert("RGB")) for d in out]
            row[name] = {
                "seconds": round(t, 3), "mpx_per_s": round(mpx_k / t, 4),
                "bpp": mean_bpp(out, kodak),
                "psnr": round(float(np.mean([psnr(p, b) for (_, p), b in zip(kodak, back)])), 3),
                "msssim_db": round(float(np.mean([db(ms_ssim(p, b))
                                                  for (_, p), b in zip(kodak, back)])), 3)}
        prec[f"effort{e}_q{q}"] = row
        print(step, row, flush=True)
    res["search_precision"] = prec
    res["skipped_for_time"] = budget.skipped
    res["seconds_total"] = round(time.perf_counter() - t_start, 1)
    res["reproduce"] = "python -m bench.gpu_speed" + (" --smoke" if a.smoke else "")

    out = a.out or root / "bench/results" / ("gpu-speed-smoke.json" if a.smoke else "gpu-speed.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(res, indent=1) + "\n"
    out.write_text(text)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu-speed.json").write_text(text)
    print(f"{out}: {res['seconds_total']} s")


if __name__ == "__main__":
    main()
