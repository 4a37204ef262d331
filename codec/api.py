"""The Python API: encode an image to regen-codec JPEG bytes, decode them back to a picture.

    import codec
    data = codec.encode("photo.png", quality=40)      # bytes of a standard JPEG
    image = codec.decode(data)                         # PIL.Image, restored by the network
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from . import __version__
from .utils import progress
from .format.container import RegenMeta, check_frame, read_meta, write_meta
from .errors import CodecError
from .io.imageio import DEFAULT_MAX_PIXELS, CodecWarning, SourceImage, load_image
from .format.jpeg import cond_vector, decode_jpeg, encode_jpeg, open_jpeg, read_info
from .format.pack import as_jpeg, is_jxl
from .format.pack import pack as pack_jxl
from .registry import DEFAULT_COMREC, DEFAULT_MODE, DEFAULT_MODEL, find_model
from .registry import load_model as _registry_load
from .format.shrink import shrink
from .format.tables import DEFAULT_TABLES, get_table_set

DEFAULT_QUALITY = 40
DEFAULT_TILE = 1024

# PyTorch (2-3 s to import) comes in with the functions that run a network, imported where they
# are used: info() and the commands built on it never need it.


def pick_device(device: str) -> str:
    """codec.regen.infer.pick_device, imported when first needed (it imports PyTorch)."""
    from .regen.infer import pick_device as pick

    return pick(device)


def load_model(model_id: str = DEFAULT_MODEL, device: str = "cpu", sha256: str | None = None):
    """The restoration network registered as `model_id` (checked against `sha256` if given)."""
    return _registry_load(model_id, sha256=sha256, device=pick_device(device))


MODES = ("auto", "regen", "comrec")


def file_maker(src: SourceImage, mode: str = "regen", model: str | None = None, *,
               tables: str = DEFAULT_TABLES, subsampling: str | None = None,
               progressive: bool = False, device: str = "cpu",
               for_pack: bool = False, fit: bool = True,
               effort: int | None = None) -> Callable[..., bytes]:
    """A function quality -> regen-codec JPEG bytes of `src` in one mode (regen or comrec).

    The expensive part (ComCNN, in comrec mode) runs once, so a quality search is cheap.
    `for_pack`: the file will be packed as JPEG XL (codec.format.shrink keeps it baseline).
    `fit`: a regen file stores the restoration strength fitted to `src` (fit_strength: one
    network run per file made). `effort`: rounds of the decoder-aware coefficient search
    (codec.encoder.coefsearch) for a regen file, and for a comrec file made with
    `make(quality, search_comrec=True)` (auto mode searches the comrec file it keeps); 0 keeps
    the encoder's rounding, None the default."""
    from .encoder.coefsearch import default_effort

    effort = default_effort() if effort is None else effort
    if mode not in ("regen", "comrec"):
        raise CodecError(f"unknown mode {mode!r} (regen or comrec)")
    model = model or (DEFAULT_MODEL if mode == "regen" else DEFAULT_COMREC)
    info = find_model(model)
    if info.mode != mode:
        raise CodecError(f"model {model!r} is a {info.mode} model, not a {mode} model")
    ts = get_table_set(tables)
    extra = {}
    pixels = src.rgb
    if mode == "comrec":
        from .comcnn.infer import compact

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
        data = write_meta(shrink(data, progressive, mozjpeg=not for_pack), meta)
        return fit_strength(data, src.rgb, device=device) if fit and mode == "regen" else data

    return make


def _searched(data: bytes, src: SourceImage, info, quality: int, effort: int, device: str) -> bytes:
    """codec.encoder.coefsearch.refine() of a regen file, remembered for the last few pictures: auto
    mode, a benchmark's +jxl variant and a target search ask for the same file again."""
    import hashlib

    from .encoder.coefsearch import SearchSettings, refine

    dev = pick_device(device)
    key = (hashlib.sha256(data).digest(), hashlib.sha256(src.rgb.tobytes()).digest(), info.sha256,
           quality, effort, dev)
    hit = _search_memo.get(key)
    if hit is None:
        net = _registry_load(info.id, device=dev)
        hit = refine(data, src.rgb, net, quality, SearchSettings(rounds=effort), device=dev,
                     progress=progress.enabled(), comrec=info.mode == "comrec")
        while _search_memo and sum(len(v) for v in _search_memo.values()) + len(hit) > _SEARCH_MEMO_BYTES:
            _search_memo.pop(next(iter(_search_memo)))
        _search_memo[key] = hit
    return hit


_search_memo: dict[tuple, bytes] = {}
_SEARCH_MEMO_BYTES = 64 * 2**20


def regen_file(src: SourceImage, quality: int, model: str | None = None, *, allocate: bool = False,
               tables: str = DEFAULT_TABLES, device: str = "cpu", fit: bool = True,
               **opts) -> tuple[int, bytes]:
    """(JPEG quality, file) of `src` in regen mode at the requested `quality`: chosen per image
    near it (codec.encoder.allocate) when the file is fitted and `allocate`, else that quality itself.
    The other options are file_maker's."""
    make = file_maker(src, "regen", model, tables=tables, device=device, fit=fit, **opts)
    if not (allocate and fit):
        return quality, make(quality)
    from .encoder.allocate import choose

    return choose(make, lambda d: restored_array(d, device=device), src.rgb, quality, tables)


def encode(image, quality: int = DEFAULT_QUALITY, model: str | None = None, *,
           subsampling: str | None = None, tables: str = DEFAULT_TABLES, progressive: bool = False,
           max_pixels: int = DEFAULT_MAX_PIXELS, pack: str | None = None,
           mode: str = DEFAULT_MODE, device: str = "cpu", fit: bool = True,
           allocate: bool = False, effort: int | None = None) -> bytes:
    """A standard JPEG of `image` (path, bytes, PIL image or HxWx3 uint8 array) that names `model`.

    Conversions of unusual inputs (alpha, 16-bit, CMYK, ...) are reported as CodecWarning.
    `tables` names the quantization table set (codec.format.tables) that turns `quality` into tables;
    `subsampling` overrides its per-quality choice of chroma subsampling.
    `pack="jxl"` returns the lossless JPEG XL form of that JPEG instead (see codec.format.pack).
    `mode="regen"` stores the full-size image, restored by a regeneration network `model`;
    `mode="comrec"` a compact half-size image made by the model's ComCNN (its RecCNN restores
    it; default `DEFAULT_COMREC`); `mode="auto"` picks between them per image (codec.encoder.auto).
    `fit`: a regen file also stores how much of the network's correction its decode keeps,
    fitted to the image (codec.decoder.strength): never worse than the plain decode in PSNR, for one
    network run on `device` at encode. `fit=False` skips that run; such files are restored fully.
    `allocate`: a fitted regen file's JPEG quality is chosen per image near `quality`, for the
    most mean restored quality per byte over a collection (codec.encoder.allocate: about five network
    runs); by default, or with `fit=False`, the file is coded at `quality` exactly.
    `effort`: rounds of the decoder-aware coefficient search for a regen file (codec.encoder.coefsearch:
    each round runs the network forwards and backwards; 0 keeps the plain rounding, much faster;
    None: $REGEN_CODEC_EFFORT if set, else 20).
    """
    if isinstance(quality, bool) or not isinstance(quality, numbers.Integral):
        # 40.5 would be coded as 40 with the subsampling of 40.5; "40" failed deep in the tables
        raise TypeError(f"quality must be an integer from 1 to 100, got {quality!r}")
    if pack not in (None, "jxl"):
        raise CodecError(f"unknown packing {pack!r} (only 'jxl')")
    if mode not in MODES:
        raise CodecError(f"unknown mode {mode!r} ({', '.join(MODES)})")
    if effort is not None and (isinstance(effort, bool) or not isinstance(effort, numbers.Integral)
                               or effort < 0):
        raise TypeError(f"effort must be a whole number of rounds, 0 or more, got {effort!r}")
    src = load_image(image, max_pixels=max_pixels)
    opts = dict(tables=tables, subsampling=subsampling, progressive=progressive, device=device,
                for_pack=pack == "jxl", fit=fit, effort=None if effort is None else int(effort))
    if mode == "auto":
        from .encoder.auto import choose

        data = choose(src, quality, model, allocate=allocate, **opts).data
    elif mode == "regen":
        data = regen_file(src, quality, model, allocate=allocate, **opts)[1]
    else:
        data = file_maker(src, mode, model, **opts)(quality)
    if src.gray and read_info(open_jpeg(data)).subsampling != "gray":
        warnings.warn("grayscale image stored as RGB: "
                      + ("comrec files are colour" if read_meta(data).mode == "comrec" else
                         "the trellis-coded table set writes colour"), CodecWarning, stacklevel=2)
    return pack_jxl(data) if pack == "jxl" else data


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


def decode(data, device: str = "auto", *, model: str | None = None, tile: int = DEFAULT_TILE,
           progress: bool = False, consistency: bool = True, ensemble: int = 1) -> Image.Image:
    """Restore a regen-codec JPEG (bytes or path; packed JPEG XL too) with the network it names.

    A plain JPEG without metadata is restored with the default model (a CodecWarning says so).
    `model` overrides the file's choice. The result carries the file's ICC profile.
    `consistency`: pull a regenerated picture's DCT coefficients back towards the ones the file
    stores (codec.decoder.consistency); comrec files are restored at another size and skip it.
    `ensemble` (1, 2, 4 or 8): average the network over that many flipped/transposed copies
    (codec.regen.ensemble), better quality for that many times the network's work.
    A strength stored by the encoder (codec.decoder.strength) then blends the result with the plain
    decode, unless `model` names another network than the one it was fitted for.
    """
    out, plain, meta, icc, own, gray = _restore(data, device, model, tile, progress, consistency,
                                                ensemble)
    if own and meta is not None and meta.mode == "regen":
        from .decoder.strength import apply

        out = apply(plain, out, meta.strength)
    img = Image.fromarray(out[:, :, 0] if gray else out)  # a grey file restores grey
    if icc:
        img.info["icc_profile"] = icc
    return img


def _restore(data, device: str, model: str | None, tile: int, progress: bool, consistency: bool,
             ensemble: int):
    """decode() before the strength: (network output, plain decode, metadata, ICC profile,
    whether the network is the one the file names, whether the file is grey: one component)."""
    from .regen.ensemble import CHOICES, MCU, SelfEnsemble
    from .regen.infer import regenerate

    if isinstance(ensemble, bool) or not isinstance(ensemble, numbers.Integral) \
            or ensemble not in CHOICES:  # 2.0 passed `in` and failed deep in the flips
        raise CodecError(f"ensemble must be one of {', '.join(map(str, CHOICES))}, not {ensemble}")
    data = as_jpeg(_file_bytes(data))
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
                      f"{DEFAULT_MODEL}", CodecWarning, stacklevel=3)
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
        from .reccnn.infer import restore

        out = restore(net, rgb, cond_vector(jinfo), (meta.height, meta.width), device=dev,
                      tile=tile, progress=progress)
    else:
        out = regenerate(net, rgb, cond_vector(jinfo), device=dev, tile=tile, progress=progress)
        if gray:  # one component in, one out: the luma of the network's (near-grey) picture
            out = _as_gray(out)
        elif consistency:
            from .decoder.consistency import make_consistent

            out = make_consistent(out, data)
    if meta is not None and (meta.width, meta.height) != (out.shape[1], out.shape[0]):
        raise CodecError(f"decoded size {out.shape[1]}x{out.shape[0]} differs from the size in "
                         f"the metadata ({meta.width}x{meta.height}): the file is damaged")
    return out, rgb, meta, icc, own, gray


def _as_gray(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> its luma (as a JPEG decoder computes Y), in all three channels."""
    y = np.asarray(Image.fromarray(rgb).convert("L"))
    return np.repeat(y[:, :, None], 3, axis=2)


def fit_strength(data: bytes, source: np.ndarray, device: str = "cpu",
                 tile: int = DEFAULT_TILE) -> bytes:
    """The regen-mode file `data` with the restoration strength (codec.decoder.strength) that brings its
    decode closest to `source` (HxWx3 uint8): one network run. Other files come back as they are."""
    from dataclasses import replace

    from .decoder.strength import apply, fit

    meta = read_meta(data)
    if meta is None or meta.mode != "regen":
        return data
    with progress.step("fitting the restoration strength"):
        out, plain, _, _, _, _ = _restore(data, device, None, tile, progress.enabled(), True, 1)
    s = fit(plain, out, source)
    data = write_meta(data, replace(meta, strength=s, format_version=3))
    if out.size <= _FITTED_MAX_VALUES:
        while len(_fitted) >= _FITTED_KEEP:
            _fitted.pop(next(iter(_fitted)))
        _fitted[(data, device, tile)] = apply(plain, out, s)
    return data


def _file_bytes(data) -> bytes:
    """A file given by path (str or Path) or as bytes, bytearray or memoryview: its bytes.
    Anything else is a TypeError: bytes(5) or bytes(array) would be read as a broken JPEG."""
    if isinstance(data, (str, Path)):
        from .io.fileio import read_bytes

        return read_bytes(Path(data))
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected a file's path or its bytes, got {type(data).__name__}")
    return bytes(data)


def decode_plain(data) -> np.ndarray:
    """The ordinary JPEG decode (what any viewer shows), HxWx3 uint8, of bytes or a path
    (packed too), as decode and info take them."""
    return decode_jpeg(as_jpeg(_file_bytes(data)))[0]


@dataclass
class FileInfo:
    """What `regen-codec info` reports about a file."""

    bytes: int
    width: int
    height: int
    bits_per_pixel: float
    estimated_quality: int
    subsampling: str
    progressive: bool
    metadata: dict | None
    packed_bytes: int | None = None  # size of the JPEG XL form when the file is packed
    quality: int | None = None  # the exact setting, when the file's named table set made its tables


def info(data) -> FileInfo:
    """Headers of a JPEG (bytes or path; packed too): size, quality, subsampling, metadata."""
    data = _file_bytes(data)
    packed = len(data) if is_jxl(data) else None
    data = as_jpeg(data)
    meta = read_meta(data)
    im = open_jpeg(data)
    if meta is not None:
        check_frame(meta, *im.size, DEFAULT_MAX_PIXELS)
    j = read_info(im)
    from .format.tables import TABLE_SETS

    ts = TABLE_SETS.get(meta.tables) if meta else None
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):  # headers alone say nothing of the rest
        warnings.warn("no end-of-image marker: the file looks truncated (decode will say)",
                      CodecWarning, stacklevel=2)
    return FileInfo(bytes=len(data), width=j.width, height=j.height,
                    bits_per_pixel=len(data) * 8 / (j.width * j.height),
                    estimated_quality=j.quality, subsampling=j.subsampling,
                    progressive=bool(im.info.get("progressive") or im.info.get("progression")),
                    metadata=asdict(meta) if meta else None, packed_bytes=packed,
                    quality=ts.quality_of(j.qtables) if ts else None)
