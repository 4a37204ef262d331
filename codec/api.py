"""The Python API: encode an image to regen-codec JPEG bytes, decode them back to a picture.

    import codec
    data = codec.encode("photo.png", quality=40)      # bytes of a standard JPEG
    image = codec.decode(data)                         # PIL.Image, restored by the network

The work is done below: the encoder (codec.encoder), the decoder (codec.decoder), the file
format (codec.format). This module checks arguments and says what each call promises.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Union

import numpy as np
from PIL import Image

from .encoder.options import DEFAULT_QUALITY, MODES, EncodeOptions
from .format.container import check_frame, read_meta
from .format.jpeg import decode_jpeg, open_jpeg, read_info
from .format.pack import as_jpeg, is_jxl
from .format.tables import DEFAULT_TABLES, TABLE_SETS
from .io.fileio import file_bytes
from .io.imageio import DEFAULT_MAX_PIXELS, CodecWarning, load_image
from .registry import DEFAULT_MODE, DEFAULT_MODEL
from .registry import load_model as _registry_load

if TYPE_CHECKING:
    import torch

__all__ = ["encode", "encode_with", "decode", "decode_plain", "info", "load_model", "FileInfo",
           "EncodeOptions", "DEFAULT_QUALITY", "DEFAULT_TILE", "MODES"]

DEFAULT_TILE = 1024

#: What encode takes as a picture: a path, the file's bytes, a PIL image or an HxWx3 uint8 array.
ImageInput = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]
#: What decode, decode_plain and info take as a file: its path or its bytes.
FileInput = Union[str, os.PathLike, bytes, bytearray, memoryview]

# PyTorch (2-3 s to import) comes in with the encoder and the decoder, imported inside encode
# and decode: info() and the commands built on it (`regen-codec info`, `models`, `pack`) never
# need it.


def pick_device(device: str) -> str:
    """codec.regen.infer.pick_device ("auto" -> "cuda" when present, else "cpu"), imported when
    first needed (it imports PyTorch)."""
    from .regen.infer import pick_device as pick  # PyTorch: see above

    return pick(device)


def load_model(model_id: str = DEFAULT_MODEL, device: str = "cpu",
               sha256: str | None = None) -> torch.nn.Module:
    """The restoration network registered as `model_id` (checked against `sha256` if given)."""
    return _registry_load(model_id, sha256=sha256, device=pick_device(device))


def encode(image: ImageInput, quality: int = DEFAULT_QUALITY, model: str | None = None, *,
           subsampling: str | None = None, tables: str = DEFAULT_TABLES, progressive: bool = False,
           max_pixels: int = DEFAULT_MAX_PIXELS, pack: str | None = None,
           mode: str = DEFAULT_MODE, device: str = "cpu", fit: bool = True,
           allocate: bool = False, effort: int | str | None = None) -> bytes:
    """A standard JPEG of `image` (path, bytes, PIL image or HxWx3 uint8 array) that names `model`.

    Conversions of unusual inputs (alpha, 16-bit, CMYK, ...) are reported as CodecWarning.
    `tables` names the quantization table set (codec.format.tables) that turns `quality` into
    tables; `subsampling` overrides its per-quality choice of chroma subsampling.
    `pack="jxl"` returns the lossless JPEG XL form of that JPEG instead (see codec.format.pack).
    `mode="regen"` stores the full-size image, restored by a regeneration network `model`;
    `mode="comrec"` a compact half-size image made by the model's ComCNN (its RecCNN restores
    it; default `DEFAULT_COMREC`); `mode="auto"` picks between them per image (codec.encoder.auto).
    `fit`: a regen file also stores how much of the network's correction its decode keeps,
    fitted to the image (codec.decoder.strength): never worse than the plain decode in PSNR, for
    one network run on `device` at encode. `fit=False` skips that run; such files are restored
    fully.
    `allocate`: a fitted regen file's JPEG quality is chosen per image near `quality`, for the
    most mean restored quality per byte over a collection (codec.encoder.allocate: about five
    network runs); by default, or with `fit=False`, the file is coded at `quality` exactly.
    `effort`: the level of the decoder-aware coefficient search (codec.encoder.effort): 0
    "fastest" (no search, the plain rounding) to 3 "best" (20 rounds, each a forward and backward
    network pass); None: $REGEN_CODEC_EFFORT if set, else "balanced" on a CPU, "best" on a GPU.
    The arguments are those of EncodeOptions; `encode_with(image, options)` takes one.
    """
    options = EncodeOptions(quality=quality, mode=mode, model=model, tables=tables,
                            subsampling=subsampling, progressive=progressive,
                            max_pixels=max_pixels, pack=pack, device=device, fit=fit,
                            allocate=allocate, effort=effort).checked()
    from .encoder.pipeline import encode_source  # PyTorch: see above

    return encode_source(load_image(image, max_pixels=max_pixels), options)


def encode_with(image: ImageInput, options: EncodeOptions) -> bytes:
    """encode() with its settings in one EncodeOptions (what the command line passes)."""
    options = options.checked()
    from .encoder.pipeline import encode_source  # PyTorch: see above

    return encode_source(load_image(image, max_pixels=options.max_pixels), options)


def decode(data: FileInput, device: str = "auto", *, model: str | None = None,
           tile: int = DEFAULT_TILE, progress: bool = False, consistency: bool = True,
           ensemble: int = 1) -> Image.Image:
    """Restore a regen-codec JPEG (bytes or path; packed JPEG XL too) with the network it names.

    A plain JPEG without metadata is restored with the default model (a CodecWarning says so).
    `model` overrides the file's choice. The result carries the file's ICC profile.
    `consistency`: pull a regenerated picture's DCT coefficients back towards the ones the file
    stores (codec.decoder.consistency); comrec files are restored at another size and skip it.
    `ensemble` (1, 2, 4 or 8): average the network over that many flipped/transposed copies
    (codec.regen.ensemble), better quality for that many times the network's work.
    A strength stored by the encoder (codec.decoder.strength) then blends the result with the
    plain decode, unless `model` names another network than the one it was fitted for.
    """
    from .decoder.restore import decode as restore_file  # PyTorch: see above

    return restore_file(data, device, model=model, tile=tile, progress=progress,
                        consistency=consistency, ensemble=ensemble)


def decode_plain(data: FileInput) -> np.ndarray:
    """The ordinary JPEG decode (what any viewer shows), HxWx3 uint8, of bytes or a path
    (packed too), as decode and info take them."""
    return decode_jpeg(as_jpeg(file_bytes(data)))[0]


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


def info(data: FileInput) -> FileInfo:
    """Headers of a JPEG (bytes or path; packed too): size, quality, subsampling, metadata."""
    data = file_bytes(data)
    packed = len(data) if is_jxl(data) else None
    data = as_jpeg(data)
    meta = read_meta(data)
    im = open_jpeg(data)
    if meta is not None:
        check_frame(meta, *im.size, DEFAULT_MAX_PIXELS)
    j = read_info(im)
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
