"""One picture and its EncodeOptions -> the file written: the mode's route (auto, regen or
comrec, at a quality) or a search for the smallest file meeting a target, then JPEG XL packing
when asked. `codec.encode` and the command line's `encode` end here."""

from __future__ import annotations

import warnings

from ..errors import CodecError
from ..format.container import read_meta
from ..format.jpeg import open_jpeg, read_info
from ..format.pack import pack as pack_jxl
from ..io.imageio import CodecWarning, SourceImage
from .auto import choose
from .maker import file_maker, regen_file
from .options import EncodeOptions
from .target import Probe, SearchResult, Target, encode_to_target, nearest


def encode_source(src: SourceImage, options: EncodeOptions) -> bytes:
    """The file of `src` at `options.quality` in `options.mode` (checked options: see
    EncodeOptions.checked); the JPEG XL form with `options.pack`."""
    o = options
    if o.mode == "auto":
        data = choose(src, o).data
    elif o.mode == "regen":
        data = regen_file(src, o, o.model)[1]
    else:
        data = file_maker(src, o.mode, o.model, o)(o.quality)
    if src.gray and read_info(open_jpeg(data)).subsampling != "gray":
        # stacklevel 3: the caller of codec.api.encode / encode_with
        warnings.warn("grayscale image stored as RGB: "
                      + ("comrec files are colour" if read_meta(data).mode == "comrec" else
                         "the trellis-coded table set writes colour"), CodecWarning, stacklevel=3)
    return pack_jxl(data) if o.pack == "jxl" else data


def reached(p: Probe) -> str:
    """What a target search's probe reached, in the target's measure."""
    return (f"MS-SSIM {p.msssim:.4f}" if p.msssim is not None else
            f"PSNR {p.psnr:.2f} dB" if p.psnr is not None else f"{p.bytes} bytes")


def encode_targeted(src: SourceImage, target: Target, options: EncodeOptions) -> tuple[bytes, SearchResult]:
    """(the file written, the search) for the smallest file of `src` meeting `target` in
    `options.mode` (codec.encoder.target), packed with `options.pack`. A target no setting
    reaches is a CodecError naming the closest."""
    res = encode_to_target(src, target, options)
    if res.quality is None:
        p = nearest(res, target)
        raise CodecError(f"cannot reach {target.describe()} at any quality (the closest: "
                         f"quality {p.quality} in {res.mode} mode gives {reached(p)})")
    return (pack_jxl(res.data) if options.pack else res.data), res
