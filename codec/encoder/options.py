"""EncodeOptions: every setting of one encode, as one typed object; Target: what a
quality-targeted encode must reach.

The command line builds one (codec.cli), the one-file work passes it on (codec.batch.fileops),
`codec.encode(...)` builds one from its keyword arguments (codec.api), and the encoder reads it
(codec.encoder.pipeline, .auto, .target, .maker): no layer threads a dozen loose parameters.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace

from ..errors import CodecError
from ..format.tables import DEFAULT_TABLES
from ..io.imageio import DEFAULT_MAX_PIXELS
from ..registry import DEFAULT_MODE
from . import effort as levels

DEFAULT_QUALITY = 40
MODES = ("auto", "regen", "comrec")


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode a picture (docs/encoding.md; the fields are `codec.encode`'s arguments).

    quality: JPEG quality 1-100 (a target search chooses its own).
    mode: "regen", "comrec" or "auto" (per image, codec.encoder.auto).
    model: the network the file names; None: the mode's default (with auto it replaces the
        default of its own mode).
    tables: the quantization table set (codec.format.tables); subsampling overrides its
        per-quality choice of chroma subsampling.
    progressive: always write a progressive JPEG (else the smaller of baseline and progressive).
    max_pixels: refuse larger inputs.
    pack: "jxl" for the lossless JPEG XL form, None for the JPEG.
    device: where the network runs while encoding ("cpu", "cuda", "auto").
    fit: store the restoration strength fitted to the picture (regen files; one network run).
    allocate: choose a fitted regen file's quality per image near `quality` (codec.encoder.allocate).
    effort: the effort level of the decoder-aware coefficient search (codec.encoder.effort):
        0-3 or a level's name ("fastest", "fast", "balanced", "best"); 0 keeps the plain
        rounding; None the default ($REGEN_CODEC_EFFORT, else "balanced" on a CPU and "best"
        where the network runs on a GPU).
    """

    quality: int = DEFAULT_QUALITY
    mode: str = DEFAULT_MODE
    model: str | None = None
    tables: str = DEFAULT_TABLES
    subsampling: str | None = None
    progressive: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    pack: str | None = None
    device: str = "cpu"
    fit: bool = True
    allocate: bool = False
    effort: int | str | None = None

    @property
    def for_pack(self) -> bool:
        """The file will be packed as JPEG XL: sizes compare packed, codec.format.shrink keeps it
        baseline."""
        return self.pack == "jxl"

    def checked(self) -> EncodeOptions:
        """These options, checked as `codec.encode` checks its arguments (TypeError for a wrong
        type, CodecError for an unknown name or level), with `effort` as a level number."""
        q = self.quality
        if isinstance(q, bool) or not isinstance(q, numbers.Integral):
            # 40.5 would be coded as 40 with the subsampling of 40.5; "40" failed deep in the tables
            raise TypeError(f"quality must be an integer from 1 to 100, got {q!r}")
        if self.pack not in (None, "jxl"):
            raise CodecError(f"unknown packing {self.pack!r} (only 'jxl')")
        if self.mode not in MODES:
            raise CodecError(f"unknown mode {self.mode!r} ({', '.join(MODES)})")
        e = self.effort
        if e is None:
            return self
        if isinstance(e, bool) or not isinstance(e, (numbers.Integral, str)):
            raise TypeError(f"effort must be a level number or name ({levels.choices()}), got {e!r}")
        return replace(self, effort=levels.level(e).number)


@dataclass
class Target:
    """What a file must achieve: one of msssim / psnr (minimums) or max_bytes."""

    msssim: float | None = None
    psnr: float | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if sum(v is not None for v in (self.msssim, self.psnr, self.max_bytes)) != 1:
            raise CodecError("give exactly one target: MS-SSIM, PSNR or a byte budget")

    def describe(self) -> str:
        if self.msssim is not None:
            return f"MS-SSIM >= {self.msssim:.4f}"
        if self.psnr is not None:
            return f"PSNR >= {self.psnr:.2f} dB"
        return f"at most {self.max_bytes} bytes"
