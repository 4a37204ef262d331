"""Quantization tables for the regeneration decoder: a small parametric family and versioned sets.

Standard (IJG, Annex K) tables were tuned for a person looking at a plain decode. A table set
reshapes them per frequency for what the network restores: for quality Q, the IJG tables scaled
for Q are multiplied by exp(tilt * (r - 1/2)), r = (u + v) / 14 the normalized frequency of the
coefficient, with one tilt for luma and one for chroma and an overall chroma gain; subsampling
is chosen per quality. `--quality` keeps its meaning (1-100, higher is better): Q picks the same
IJG scale as a standard JPEG at Q, then the set's shaping applies. The tables travel in every
file, and the set's version goes into the metadata, so old files keep decoding as they were made.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import CodecError

# IJG (JPEG Annex K) tables in natural (row-major) order, as Pillow reads and writes them.
STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)
STD_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32,
    dtype=np.float64)
_R = (np.arange(64) // 8 + np.arange(64) % 8) / 14.0  # normalized frequency of each coefficient


def ijg_scale(quality: int) -> int:
    """libjpeg's quality scaling, in percent of the base table."""
    q = min(100, max(1, int(quality)))
    return 5000 // q if q < 50 else 200 - 2 * q  # integer, as libjpeg computes it


def _scaled(base: np.ndarray, quality: int, mult: np.ndarray | float = 1.0) -> list[int]:
    t = np.floor((base * mult * ijg_scale(quality) + 50) / 100)
    return [int(v) for v in np.clip(t, 1, 255)]


@dataclass(frozen=True)
class TableSet:
    """A named, versioned way to turn a quality setting into JPEG tables and subsampling."""

    name: str
    luma_tilt: float = 0.0  # > 0: coarser high frequencies, finer low ones
    chroma_tilt: float = 0.0
    chroma_gain: float = 1.0  # > 1: coarser chroma overall
    # (highest quality, subsampling) pairs, in increasing order of quality
    subsampling: tuple[tuple[int, str], ...] = ((100, "4:2:0"),)
    summary: str = ""
    trellis: bool = False  # code with mozjpeg's trellis quantization (codec/format/trellis.py)

    def qtables(self, quality: int) -> list[list[int]] | None:
        """[luma, chroma] tables for `quality`; None for the standard set (the encoder's own)."""
        if self.name == "standard":
            return None
        luma = _scaled(STD_LUMA, quality, np.exp(self.luma_tilt * (_R - 0.5)))
        chroma = _scaled(STD_CHROMA, quality,
                         self.chroma_gain * np.exp(self.chroma_tilt * (_R - 0.5)))
        return [luma, chroma]

    def quality_of(self, qtables: list[list[int]]) -> int | None:
        """The quality setting whose tables are exactly `qtables` ([luma, chroma], natural order;
        a grey file has the luma table alone), or None (another set's tables, or the standard
        set, whose tables are the encoder's)."""
        if self.name == "standard" or len(qtables) not in (1, 2):
            return None
        want = [list(t) for t in qtables]
        return next((q for q in range(1, 101) if self.qtables(q)[:len(want)] == want), None)

    def subsampling_for(self, quality: int) -> str:
        for qmax, sub in self.subsampling:
            if quality <= qmax:
                return sub
        return self.subsampling[-1][1]


STANDARD = TableSet("standard", summary="IJG tables scaled by quality, 4:2:0 (plain JPEG)")

# Chosen by bench/tune_tables.py on held-out crops of the training pool (never Kodak); the
# search, its scores and the plain-viewer check are in bench/results/tables/.
# regen-v1 (regen-fast, 45 crops, 7 qualities): BD-rate of the regenerated output -4.8%
# (MS-SSIM dB) and -3.8% (PSNR) against standard tables; a plain decode gains 0.34 dB at equal
# bytes. Never change a shipped set: files name it, so add a new one (regen-v2, ...).
REGEN_V1 = TableSet("regen-v1", luma_tilt=-0.25, chroma_tilt=0.5, chroma_gain=0.7,
                    subsampling=((70, "4:2:0"), (86, "4:2:2"), (100, "4:4:4")),
                    summary="tuned for regen-fast: finer luma highs, coarser chroma; 4:2:0 up "
                            "to quality 70, 4:2:2 to 86, then 4:4:4")
REGEN_T1 = replace(REGEN_V1, name="regen-t1", trellis=True,
                   summary="regen-v1's tables and subsampling, coefficients chosen by mozjpeg's "
                           "trellis quantization instead of rounding")
TABLE_SETS: dict[str, TableSet] = {s.name: s for s in (STANDARD, REGEN_V1, REGEN_T1)}
DEFAULT_TABLES = "regen-v1"


def get_table_set(name: str) -> TableSet:
    try:
        return TABLE_SETS[name]
    except KeyError:
        raise CodecError(f"unknown table set {name!r}; known: {', '.join(TABLE_SETS)}") from None
