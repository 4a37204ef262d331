"""How much could more side information at encode buy? An upper bound on held-out crops.

The restoration strength (codec/decoder/strength.py) stores one number per file: how much of the
network's residual to keep. This probe asks what a richer per-image fit would reach: one weight
per feature channel of the network's last convolution (32 numbers for the regen-coarse models),
fitted by least squares against the source and rounded to 1/32, with no byte cost counted. If
even that bound is small, per-image side information of this kind is not worth a file format.
Scored in PSNR gain over the plain decode (network output without the consistency step), on
held-out crops of the training pool (never Kodak).

    .venv/bin/python -m bench.experiments.try_side_info   -> bench/results/side-info.json
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from bench.tuning import code_and_restore, crop_args, load_crops
from codec.decoder import strength
from codec.format.jpeg import cond_vector, open_jpeg, read_info
from codec.format.tables import get_table_set
from codec.registry import load_model
from codec.utils.metrics import psnr

QUALITIES = [10, 30, 60]


def _uint8(a: np.ndarray) -> np.ndarray:
    """A CHW float picture in [0, 1] as the HxWx3 uint8 image a decode gives."""
    return np.clip(np.rint(a.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)


def gains(model, data: bytes, source: np.ndarray) -> tuple[float, float, float]:
    """PSNR gains over the plain decode (dB, codec.utils.metrics on 8-bit pictures): the network, the
    fitted strength (codec.decoder.strength, one number), the per-channel fit of the last convolution
    (one number per channel)."""
    im = open_jpeg(data)
    plain = np.array(im.convert("RGB"))
    x = torch.from_numpy(plain).permute(2, 0, 1)[None].float() / 255
    cond = torch.from_numpy(cond_vector(read_info(im)))[None]
    seen = {}
    hook = model.tail.register_forward_hook(lambda mod, i, o: seen.__setitem__("y", i[0]))
    with torch.inference_mode():
        out = model(x, cond)[0].numpy()
        y, w, b = seen["y"], model.tail.weight, model.tail.bias
        parts = torch.stack([F.pixel_shuffle(F.conv2d(y[:, k:k + 1], w[:, k:k + 1], padding=1), 2)[0]
                             for k in range(w.shape[1])])  # each channel's share of the residual
        bias = F.pixel_shuffle(b[None, :, None, None].expand(1, -1, *y.shape[2:]), 2)[0].numpy()
    hook.remove()
    x0, t = x[0].numpy(), source.transpose(2, 0, 1).astype(np.float32) / 255
    a_mat = parts.reshape(len(parts), -1).T.numpy()
    coef = np.linalg.lstsq(a_mat, (t - x0 - bias).reshape(-1), rcond=None)[0]
    coef = np.round(coef * 32) / 32
    fit = _uint8(x0 + bias + (a_mat @ coef).reshape(x0.shape))
    restored = _uint8(out)
    blended = strength.apply(plain, restored, strength.fit(plain, restored, source))
    base = psnr(source, plain)
    return psnr(source, restored) - base, psnr(source, blended) - base, psnr(source, fit) - base


def main() -> None:
    ap = crop_args(__doc__, "results/side-info.json")
    a = ap.parse_args()
    t0 = time.time()
    model, crops = load_model(a.model).eval(), load_crops(a.shared, a.crops)
    ts = get_table_set(a.tables)
    rows = []
    for q in QUALITIES:
        files, _, _ = code_and_restore(model, crops, ts, q)
        g = np.mean([gains(model, f, c) for f, c in zip(files, crops)], axis=0)
        rows.append({"quality": q, "network_db": round(float(g[0]), 4),
                     "strength_db": round(float(g[1]), 4), "per_channel_fit_db": round(float(g[2]), 4)})
        print(f"q{q}: network {g[0]:+.3f} dB, strength {g[1]:+.3f}, per-channel fit {g[2]:+.3f}",
              flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({
        "model": a.model, "tables": ts.name, "crops": len(crops),
        "note": "mean PSNR gain over the plain decode, dB; network output without the consistency "
                "step; per-channel fit: one least-squares weight per channel of the last "
                "convolution, rounded to 1/32, its bytes not counted (an upper bound)",
        "reproduce": ".venv/bin/python -m bench.experiments.try_side_info", "rows": rows,
        "seconds": round(time.time() - t0)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
