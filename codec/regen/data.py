"""Training data for JPEG restoration: a pool of clean crops, and batches JPEG-coded on the fly.

Images that come from JPEG files carry faint artifacts of their own; they are downscaled
(antialiased, by a random factor of at least 1.5) before crops are cut, so the network does
not learn to reproduce them. A fixed slice of the files is kept aside for validation.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from ..decoder.consistency import read_coefficients
from ..format.jpeg import SUBSAMPLINGS, cond_vector, encode_jpeg, open_jpeg, read_info

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm"}
JPEG_SUFFIXES = {".jpg", ".jpeg"}
VAL_EVERY = 25  # default split: one file in 25 (by name hash) is held out for validation
VAL_PATCH = 192  # validation crop side: MS-SSIM's 5 scales need more than 160


def list_images(dirs: list[Path]) -> list[Path]:
    files = []
    for d in dirs:
        d = Path(d)
        files += [p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files)


def split(files: list[Path], val_fraction: float | None = None) -> tuple[list[Path], list[Path]]:
    """Deterministic train/validation split by a hash of the file name.

    By default one file in 25 (hash modulo 25 == 0) is held out; with `val_fraction`, that
    fraction of the files (those whose hashes are lowest, at least one) is held out instead.
    """
    def h(p: Path) -> int:
        return int(hashlib.sha1(p.name.encode()).hexdigest(), 16)

    if val_fraction is None:
        held = {p for p in files if h(p) % VAL_EVERY == 0}
    else:
        held = set(sorted(files, key=h)[:max(1, round(val_fraction * len(files)))])
    return [p for p in files if p not in held], [p for p in files if p in held]


def load_clean(path: Path, rng: np.random.Generator) -> np.ndarray:
    """An RGB uint8 array; JPEG-sourced images are downscaled by a random factor in [1.5, 2].
    A file Pillow cannot read (truncated, damaged, not an image) raises ValueError naming it."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: cannot read this image ({e})") from None
    if path.suffix.lower() in JPEG_SUFFIXES:
        f = rng.uniform(1.5, 2.0)
        im = im.resize((max(1, round(im.width / f)), max(1, round(im.height / f))),
                       Image.Resampling.LANCZOS)
    return np.asarray(im)


def build_pool(files: list[Path], patch: int, seed: int, max_per_image: int = 48,
               desc: str = "cutting crops", skipped: list[Path] | None = None) -> np.ndarray:
    """Random crops (N, patch, patch, 3) uint8; about two per patch-sized area of each image.
    Unreadable files are left out with a warning that names them (and added to `skipped`)."""
    rng = np.random.default_rng(seed)
    crops = []
    for path in tqdm(files, desc=desc, unit="img", leave=False):
        try:
            img = load_clean(path, rng)
        except ValueError as e:  # one damaged file in a pool of thousands: leave it out, say so
            warnings.warn(f"skipped: {e}", stacklevel=2)
            if skipped is not None:
                skipped.append(path)
            continue
        h, w = img.shape[:2]
        if h < patch or w < patch:
            continue
        n = int(np.clip(round(2 * h * w / patch ** 2), 1, max_per_image))
        for _ in range(n):
            y, x = rng.integers(0, h - patch + 1), rng.integers(0, w - patch + 1)
            crops.append(img[y:y + patch, x:x + patch])
    if not crops:
        raise ValueError(f"no image of at least {patch}x{patch} pixels in the training data")
    return np.stack(crops)


def jpeg_roundtrip(img: np.ndarray, quality: int, subsampling: str,
                   qtables=None, trellis: bool = False) -> tuple[np.ndarray, np.ndarray, bytes]:
    """(decoded uint8 image, conditioning vector, the file) of one JPEG coding, exactly as
    `decode` sees it; `trellis`: coded by mozjpeg's trellis quantization (codec/format/trellis.py)."""
    data = encode_jpeg(Image.fromarray(img), quality, subsampling, optimize=False, qtables=qtables,
                       trellis=trellis)
    im = open_jpeg(data)
    info = read_info(im)
    return np.array(im.convert("RGB")), cond_vector(info), data


@dataclass
class Batch:
    clean: np.ndarray  # (B,H,W,3) uint8
    coded: np.ndarray  # (B,H,W,3) uint8
    cond: np.ndarray  # (B,COND_DIM) float32
    files: list[bytes]  # the JPEG files
    coefs: list | None = None  # their codec.decoder.consistency.Coefficients, when asked for


def sample_batch(pool: np.ndarray, batch: int, rng: np.random.Generator,
                 qmin: int = 5, qmax: int = 95,
                 sub_probs: tuple[float, float, float] = (0.1, 0.1, 0.8),
                 table_sets: tuple = (), tuned_prob: float = 0.5, patch: int | None = None,
                 coefficients: bool = False) -> Batch:
    """Random crops with flips/rotations, each JPEG-coded at a random quality and subsampling.

    With `table_sets` (codec.format.tables.TableSet), a `tuned_prob` share of the crops is coded with
    one of those sets instead (its tables, and its subsampling for the quality). With `patch`
    below the pool's crop side, a random `patch`-sized window of each crop is used. With
    `coefficients`, each file's DCT coefficients are read too (for the consistency step).
    """
    side = pool.shape[1]
    patch = patch or side
    if patch > side:
        raise ValueError(f"the pool's crops are {side} px, smaller than the {patch} px asked for")
    clean, coded, cond, files = [], [], [], []
    for i in rng.integers(0, len(pool), batch):
        img = pool[i]
        if patch < side:
            y, x = rng.integers(0, side - patch + 1, 2)
            img = img[y:y + patch, x:x + patch]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        img = np.ascontiguousarray(np.rot90(img, rng.integers(0, 4)))
        q = int(rng.integers(qmin, qmax + 1))
        sub = SUBSAMPLINGS[rng.choice(3, p=sub_probs)]
        tables, trellis = None, False
        if table_sets and rng.random() < tuned_prob:
            ts = table_sets[rng.integers(len(table_sets))]
            sub, tables, trellis = ts.subsampling_for(q), ts.qtables(q), ts.trellis
        dec, c, data = jpeg_roundtrip(img, q, sub, tables, trellis)
        clean.append(img)
        coded.append(dec)
        cond.append(c)
        files.append(data)
    coefs = None
    if coefficients:
        coefs = [read_coefficients(f) for f in files]
    return Batch(np.stack(clean), np.stack(coded), np.stack(cond), files, coefs)
