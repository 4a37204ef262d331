"""A regen-codec file's decode: the network the file names, run in tiles, then the DCT
consistency step (codec.decoder.consistency) and the stored restoration strength
(codec.decoder.strength). `codec.decode` is this module's `decode`."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from PIL import Image

from ..errors import CodecError
from ..format.container import RegenMeta, check_frame, read_meta
from ..format.jpeg import cond_vector, decode_jpeg, open_jpeg
from ..format.pack import as_jpeg
from ..io.fileio import file_bytes
from ..io.imageio import DEFAULT_MAX_PIXELS, CodecWarning
from ..reccnn.infer import restore as restore_comrec
from ..regen.ensemble import CHOICES, MCU, SelfEnsemble
from ..regen.infer import pick_device, regenerate
from ..registry import DEFAULT_MODEL, find_model
from ..registry import load_model as _registry_load
from ..utils import progress as steps
from .consistency import make_consistent
from .strength import apply

DEFAULT_TILE = 1024


def decode(data, device: str = "auto", *, model: str | None = None, tile: int = DEFAULT_TILE,
           progress: bool = False, consistency: bool = True, ensemble: int = 1) -> Image.Image:
    """codec.api.decode (which documents it)."""
    out, plain, meta, icc, own, gray = restore(data, device, model, tile, progress, consistency,
                                               ensemble)
    if own and meta is not None and meta.mode == "regen":
        out = apply(plain, out, meta.strength)
    img = Image.fromarray(out[:, :, 0] if gray else out)  # a grey file restores grey
    if icc:
        img.info["icc_profile"] = icc
    return img


def restore(data, device: str, model: str | None, tile: int, progress: bool, consistency: bool,
            ensemble: int) -> tuple[np.ndarray, np.ndarray, RegenMeta | None, bytes | None, bool, bool]:
    """decode() before the strength: (network output, plain decode, metadata, ICC profile,
    whether the network is the one the file names, whether the file is grey: one component)."""
    if isinstance(ensemble, bool) or not isinstance(ensemble, numbers.Integral) \
            or ensemble not in CHOICES:  # 2.0 passed `in` and failed deep in the flips
        raise CodecError(f"ensemble must be one of {', '.join(map(str, CHOICES))}, not {ensemble}")
    data = as_jpeg(file_bytes(data))
    meta = read_meta(data)
    header = open_jpeg(data)  # headers only: the frame's size, before anything is allocated
    if meta is not None:
        check_frame(meta, *header.size, DEFAULT_MAX_PIXELS)
    sha = None
    own = model is None or (meta is not None and model == meta.model_id)
    if model is None and meta is not None:
        model, sha = meta.model_id, meta.model_sha256
    elif model is None:
        model = DEFAULT_MODEL
        warnings.warn(f"no regen-codec metadata in this JPEG: restoring with the default model "
                      f"{DEFAULT_MODEL}", CodecWarning, stacklevel=4)
    comrec = meta is not None and meta.mode == "comrec"
    kind = find_model(model).mode  # another kind of network runs, but restores nothing useful
    if kind != ("comrec" if comrec else "regen"):
        raise CodecError(f"model {model!r} is a {kind} model; this {'comrec' if comrec else 'regen'}"
                         f"-mode file needs a {'comrec' if comrec else 'regen'} model")
    dev = pick_device(device)
    net = _registry_load(model, sha256=sha, device=dev)
    if ensemble > 1:  # a comrec upscale has its 16-pixel MCUs doubled
        net = SelfEnsemble(net, ensemble, grid=2 * MCU if comrec else MCU)
    rgb, jinfo = decode_jpeg(data)
    icc = header.info.get("icc_profile")
    gray = jinfo.subsampling == "gray" and not comrec
    if comrec:
        out = restore_comrec(net, rgb, cond_vector(jinfo), (meta.height, meta.width), device=dev,
                             tile=tile, progress=progress)
    else:
        out = regenerate(net, rgb, cond_vector(jinfo), device=dev, tile=tile, progress=progress)
        if gray:  # one component in, one out: the luma of the network's (near-grey) picture
            out = _as_gray(out)
        elif consistency:
            with steps.step("consistency step", show=progress):  # seconds at 12 MP
                out = make_consistent(out, data)
    if meta is not None and (meta.width, meta.height) != (out.shape[1], out.shape[0]):
        raise CodecError(f"decoded size {out.shape[1]}x{out.shape[0]} differs from the size in "
                         f"the metadata ({meta.width}x{meta.height}): the file is damaged")
    return out, rgb, meta, icc, own, gray


def _as_gray(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> its luma (as a JPEG decoder computes Y), in all three channels."""
    y = np.asarray(Image.fromarray(rgb).convert("L"))
    return np.repeat(y[:, :, None], 3, axis=2)
