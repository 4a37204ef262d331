"""Grayscale as one JPEG component or three: bytes and PSNR of the plain and the regenerated
decode (default model, regen-v1 tables, no coefficient search, no strength fit), on three
256x256 grayscale crops of scikit-image photos at qualities 15 and 40.

    .venv/bin/python -m bench.gray_components
"""
import io

import numpy as np
from PIL import Image
from skimage import data

import codec
from codec.format.jpeg import cond_vector, decode_jpeg
from codec.format.tables import get_table_set
from codec.regen.infer import regenerate
from codec.registry import DEFAULT_MODEL, load_model


def psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float))**2))

net = load_model(DEFAULT_MODEL)
ts = get_table_set("regen-v1")
for name, img in [("camera", data.camera()[64:320, 64:320]), ("coffee-gray", np.asarray(Image.fromarray(data.coffee()[:256, :256]).convert("L"))),
                  ("astro-gray", np.asarray(Image.fromarray(data.astronaut()[:256, :256]).convert("L")))]:
    for q in (15, 40):
        # A: one-component JPEG with the luma table of the set
        buf = io.BytesIO()
        Image.fromarray(img, "L").save(buf, "JPEG", qtables=[ts.qtables(q)[0]], optimize=True)
        a = buf.getvalue()
        rgb, info = decode_jpeg(a)
        out = regenerate(net, rgb, cond_vector(info))
        outl = np.asarray(Image.fromarray(out).convert("L"))
        spread = int(np.abs(out.astype(int) - out.mean(2, keepdims=True).astype(int)).max())
        # B: today's route (3 components), no search, no fit
        b = codec.encode(np.stack([img] * 3, -1), quality=q, mode="regen", effort=0, fit=False)
        bl = np.asarray(codec.decode(b, device="cpu").convert("L"))
        bp = np.asarray(Image.fromarray(codec.decode_plain(b)).convert("L"))
        print(f"{name} q{q}: 1-comp {len(a)} B plain {psnr(img, rgb[...,0]):.2f} net {psnr(img, outl):.2f} (chroma spread {spread}) | "
              f"3-comp {len(b)} B plain {psnr(img, bp):.2f} net {psnr(img, bl):.2f}")
