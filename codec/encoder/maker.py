"""The file makers: a picture and EncodeOptions -> a function quality -> regen-codec file, in
regen or comrec mode, with the coefficient search (codec.encoder.coefsearch) and the fitted
restoration strength (codec.decoder.strength); and the decodes the quality searches (auto,
targets, allocation) compare with the source."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Callable

import numpy as np
from PIL import Image

from .. import __version__
from ..comcnn.infer import compact
from ..decoder.restore import DEFAULT_TILE, decode, restore
from ..decoder.strength import apply, fit
from ..errors import CodecError
from ..format.container import RegenMeta, read_meta, write_meta
from ..format.jpeg import encode_jpeg
from ..format.shrink import shrink
from ..format.tables import get_table_set
from ..io.imageio import SourceImage
from ..regen.infer import pick_device
from ..registry import DEFAULT_COMREC, DEFAULT_MODEL, ModelInfo, find_model
from ..registry import load_model as _registry_load
from ..utils import progress
from .allocate import choose
from .coefsearch import SearchSettings, refine
from .effort import resolve
from .options import EncodeOptions


def candidate_models(model: str | None) -> tuple[str, str]:
    """(regen model, comrec model): `model` replaces the default of its own mode."""
    regen, comrec = DEFAULT_MODEL, DEFAULT_COMREC
    if model:
        if find_model(model).mode == "comrec":
            comrec = model
        else:
            regen = model
    return regen, comrec


def file_maker(src: SourceImage, mode: str = "regen", model: str | None = None,
               options: EncodeOptions = EncodeOptions()) -> Callable[..., bytes]:
    """A function quality -> regen-codec JPEG bytes of `src` in one mode (regen or comrec), made
    with `options`' tables, subsampling, progressive, device, pack, fit and effort (its quality,
    mode and model are not read: auto and target searches make files of both modes).

    The expensive part (ComCNN, in comrec mode) runs once, so a quality search is cheap.
    Of the options: `for_pack` (`pack="jxl"`) means the file will be packed as JPEG XL (codec.format.shrink
    keeps it baseline); `fit`: a regen file stores the restoration strength fitted to `src`
    (fit_strength: one network run per file made); `effort`: the level of the decoder-aware
    coefficient search (codec.encoder.effort, coefsearch) for a regen file, and for a comrec file made
    with `make(quality, search_comrec=True)` (auto mode searches the comrec file it keeps); 0
    keeps the encoder's rounding, None the default."""
    o = options
    device, progressive, subsampling = o.device, o.progressive, o.subsampling
    effort = resolve(o.effort, pick_device(device))
    if mode not in ("regen", "comrec"):
        raise CodecError(f"unknown mode {mode!r} (regen or comrec)")
    model = model or (DEFAULT_MODEL if mode == "regen" else DEFAULT_COMREC)
    info = find_model(model)
    if info.mode != mode:
        raise CodecError(f"model {model!r} is a {info.mode} model, not a {mode} model")
    ts = get_table_set(o.tables)
    extra = {}
    pixels = src.rgb
    if mode == "comrec":
        com_info = find_model(f"{model}-com")
        com = _registry_load(com_info.id, device=pick_device(device))
        pixels = compact(com, src.rgb, device=pick_device(device))
        extra = {"comcnn_id": com_info.id, "comcnn_sha256": com_info.sha256}
    # a grayscale input stays one component in regen mode: 3-10% fewer bytes, and the network
    # restores such a file as well (it sees the channel three times, chroma tables = luma's);
    # comrec files (ComCNN's picture) stay colour, as do trellis-coded ones (codec.format.trellis)
    gray = src.gray and mode == "regen" and not ts.trellis
    img = Image.fromarray(pixels[:, :, 0] if gray else pixels)
    icc = src.icc_profile if gray or not src.gray else None  # a grey profile fits grey files only
    meta = RegenMeta(mode=mode, model_id=info.id, model_sha256=info.sha256,
                     width=src.size[0], height=src.size[1], encoder_version=__version__,
                     tables=ts.name, extra=extra)

    def make(quality: int, search_comrec: bool = False) -> bytes:
        tables = ts.qtables(quality)
        data = encode_jpeg(img, quality, subsampling or ts.subsampling_for(quality), optimize=True,
                           progressive=progressive, icc_profile=icc, exif=src.exif,
                           qtables=tables[:1] if gray and tables is not None else tables,
                           trellis=ts.trellis)
        if effort > 0 and (mode == "regen" or search_comrec):
            data = _searched(data, src, info, quality, effort, device)
        data = write_meta(shrink(data, progressive, mozjpeg=not o.for_pack), meta)
        return fit_strength(data, src.rgb, device=device) if o.fit and mode == "regen" else data

    return make


def _searched(data: bytes, src: SourceImage, info: ModelInfo, quality: int, effort: int,
              device: str) -> bytes:
    """codec.encoder.coefsearch.refine() of a regen file, remembered for the last few pictures:
    auto mode, a benchmark's +jxl variant and a target search ask for the same file again."""
    dev = pick_device(device)
    settings = SearchSettings.for_level(effort, dev)
    key = (hashlib.sha256(data).digest(), hashlib.sha256(src.rgb.tobytes()).digest(), info.sha256,
           quality, settings, dev)
    hit = _search_memo.get(key)
    if hit is None:
        net = _registry_load(info.id, device=dev)
        hit = refine(data, src.rgb, net, quality, settings, device=dev,
                     progress=progress.enabled(), comrec=info.mode == "comrec")
        while _search_memo and sum(len(v) for v in _search_memo.values()) + len(hit) > _SEARCH_MEMO_BYTES:
            _search_memo.pop(next(iter(_search_memo)))
        _search_memo[key] = hit
    return hit


_search_memo: dict[tuple, bytes] = {}
_SEARCH_MEMO_BYTES = 64 * 2**20


def regen_file(src: SourceImage, options: EncodeOptions, model: str | None = None) -> tuple[int, bytes]:
    """(JPEG quality, file) of `src` in regen mode at `options.quality`: chosen per image near it
    (codec.encoder.allocate) when the file is fitted and `options.allocate`, else that quality
    itself. `model` (default: options.model) names the regen network."""
    o = options
    make = file_maker(src, "regen", model or o.model, o)
    if not (o.allocate and o.fit):
        return o.quality, make(o.quality)
    return choose(make, lambda d: restored_array(d, device=o.device), src.rgb, o.quality, o.tables)


def restored_array(data: bytes, device: str = "cpu", tile: int = DEFAULT_TILE) -> np.ndarray:
    """decode() as an HxWx3 uint8 array (what quality searches compare with the source).
    A file fit_strength has just made is not decoded again: its fit already saw the result."""
    hit = _fitted.get((bytes(data), device, tile))
    if hit is not None:
        return hit
    return np.asarray(decode(data, device=device, tile=tile).convert("RGB"))


#: The last few files fit_strength made -> their decode, so that auto's and the target search's
#: comparison (restored_array) costs no second network run.
_fitted: dict[tuple[bytes, str, int], np.ndarray] = {}
_FITTED_KEEP, _FITTED_MAX_VALUES = 2, 3 * 40_000_000  # files; values (40 MP) per file


def fit_strength(data: bytes, source: np.ndarray, device: str = "cpu",
                 tile: int = DEFAULT_TILE) -> bytes:
    """The regen-mode file `data` with the restoration strength (codec.decoder.strength) that
    brings its decode closest to `source` (HxWx3 uint8): one network run. Other files come back
    as they are."""
    meta = read_meta(data)
    if meta is None or meta.mode != "regen":
        return data
    with progress.step("fitting the restoration strength"):
        out, plain, _, _, _, _ = restore(data, device, None, tile, progress.enabled(), True, 1)
    s = fit(plain, out, source)
    data = write_meta(data, replace(meta, strength=s, format_version=3))
    if out.size <= _FITTED_MAX_VALUES:
        while len(_fitted) >= _FITTED_KEEP:
            _fitted.pop(next(iter(_fitted)))
        _fitted[(data, device, tile)] = apply(plain, out, s)
    return data
