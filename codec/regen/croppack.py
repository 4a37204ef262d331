"""Crop packs: a training pool in one file, for machines that have the repository but not the
images (a GPU machine gets the repository and a few carried folders, 64 MiB in all).

Crops are stored as lossless WebP (about 11.5 bits per pixel on photos, against 24 raw), cut
exactly as `train regen` cuts them, with the same train / validation split of the files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from . import data as D

FORMAT = "regen-codec crop pack 1"
_OVERHEAD = 4096  # bytes of a pack beyond its crops and offsets: npz headers, metadata (< 2 kB)


@dataclass
class PackInfo:
    """What a pack holds and where it came from."""

    format: str
    patch: int
    val_patch: int
    train_crops: int
    val_crops: int
    train_files: int
    val_files: int
    pool_crops: int  # crops cut from the training files, before the size budget chose some
    sources: list[str]
    seed: int
    jpeg_probe: str  # sha256 of a crop JPEG-coded by the packing machine's Pillow (see read_pack)


def _webp(img: np.ndarray) -> bytes:
    b = io.BytesIO()
    Image.fromarray(img).save(b, format="WEBP", lossless=True, quality=100, method=4)
    return b.getvalue()


def _probe(crops: np.ndarray) -> str:
    """A fingerprint of this Pillow's JPEG encoder: training data made by a different libjpeg
    would not be the data `encode` makes."""
    data = D.jpeg_roundtrip(crops[0], 37, "4:2:0")[2]
    return hashlib.sha256(data).hexdigest()


def _concat(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return np.frombuffer(b"".join(blobs), np.uint8), offsets


def write_pack(dirs: list[Path], out: Path, patch: int = 160, max_mb: float = 40.0, seed: int = 0,
               val_fraction: float | None = None, val_images: int = 48,
               shards: int = 1) -> PackInfo | list[tuple[Path, PackInfo]]:
    """Cut crops from the images under `dirs` and store a random share of them that fits in
    `max_mb` MiB, with `val_images` validation crops from the held-out files.

    With `shards` > 1, `shards` packs of `max_mb` each hold successive, disjoint shares of the
    same random order (each with the same validation crops), written to `out` with -0, -1, ...
    before its suffix (see shard_paths): one per device call, when one call cannot carry the
    pool. Returns the PackInfo, or with shards, the (path, PackInfo) of each.
    """
    files = D.list_images(dirs)
    train_files, val_files = D.split(files, val_fraction)
    if not train_files:
        raise ValueError("no training images found")
    unread: list[Path] = []  # unreadable files, left out: not counted as files the crops came from
    pool = D.build_pool(train_files, patch, seed, desc="cutting train crops", skipped=unread)
    val_patch = D.VAL_PATCH if patch >= 96 else patch
    try:
        val = D.build_pool(val_files, val_patch, seed + 1, 1, desc="cutting val crops",
                           skipped=unread)[:val_images]
    except ValueError:
        val = pool[:0]
    n_train, n_val = (len(set(part) - set(unread)) for part in (train_files, val_files))
    val_blobs = [_webp(v) for v in val]
    # the file holds the blobs, 8 bytes of offset each, and the npz's headers and metadata
    budget = max_mb * 2 ** 20 - sum(len(b) + 8 for b in val_blobs) - _OVERHEAD
    order = iter(np.random.default_rng(seed).permutation(len(pool)))
    paths = shard_paths(out, shards) if shards > 1 else [out]
    written, pending = [], None  # pending: the crop that did not fit the shard before
    for path in paths:
        blobs, used, first = [], 0, None
        with tqdm(total=int(budget), desc=f"packing {path.name}", unit="B", unit_scale=True,
                  leave=False) as bar:
            while True:
                if pending is None:
                    i = next(order, None)
                    if i is None:
                        break
                    pending = (i, _webp(pool[i]))
                i, b = pending
                if used + len(b) + 8 > budget:
                    break
                pending = None
                first = i if first is None else first
                blobs.append(b)
                used += len(b) + 8
                bar.update(len(b) + 8)
        if not blobs:
            if written:
                break  # the pool ran out: fewer shards than asked
            raise ValueError(f"--max-mb {max_mb} holds no crop")
        info = PackInfo(FORMAT, patch, val_patch, len(blobs), len(val_blobs), n_train,
                        n_val, len(pool), [str(d) for d in dirs], seed,
                        _probe(pool[[first]]))
        _save(path, blobs, val_blobs, info)
        written.append((path, info))
    return written if shards > 1 else written[0][1]


def shard_paths(out: Path, shards: int) -> list[Path]:
    """Where write_pack puts its shards: packs/pool.npz -> packs/pool-0.npz, packs/pool-1.npz, ..."""
    return [out.with_name(f"{out.stem}-{k}{out.suffix}") for k in range(shards)]


def _save(out: Path, blobs: list[bytes], val_blobs: list[bytes], info: PackInfo) -> None:
    td, to = _concat(blobs)
    vd, vo = _concat(val_blobs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, train=td, train_offsets=to, val=vd, val_offsets=vo,
                 meta=np.frombuffer(json.dumps(asdict(info)).encode(), np.uint8))
    os.replace(tmp, out)


def _decode(data: np.ndarray, offsets: np.ndarray, side: int) -> np.ndarray:
    out = np.empty((len(offsets) - 1, side, side, 3), np.uint8)
    for k in range(len(offsets) - 1):
        with Image.open(io.BytesIO(data[offsets[k]:offsets[k + 1]].tobytes())) as im:
            out[k] = np.asarray(im.convert("RGB"))
    return out


def read_pack(path: Path) -> tuple[np.ndarray, np.ndarray, PackInfo]:
    """(train crops, validation crops, info) of a pack written by write_pack."""
    if not zipfile.is_zipfile(path):  # numpy's own message would suggest loading it unsafely
        raise ValueError(f"{path} is not a readable crop pack (not an .npz archive; `regen-codec train "
                         "pack` makes one)")
    try:
        with np.load(path, allow_pickle=False) as z:
            info = PackInfo(**json.loads(z["meta"].tobytes()))
            if info.format != FORMAT:
                raise ValueError(f"unknown format {info.format!r}")
            train = _decode(z["train"], z["train_offsets"], info.patch)
            val = _decode(z["val"], z["val_offsets"], info.val_patch)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a readable crop pack ({e})") from None
    if _probe(train) != info.jpeg_probe:
        warnings.warn(f"this Pillow ({Image.__version__}) codes JPEG differently from the one that "
                      "wrote the pack: training files will differ slightly from `encode`'s",
                      stacklevel=2)
    return train, val, info
