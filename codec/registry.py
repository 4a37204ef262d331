"""The model zoo: named architectures, and weight files shipped in the package or installed by users.

Weights are safetensors files named `<id>-<sha256 prefix>.safetensors` whose header metadata
says which architecture and configuration to build. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from typing import TYPE_CHECKING

from safetensors import safe_open

from .errors import CodecError

if TYPE_CHECKING:
    import torch

# PyTorch (2-3 s to import) is imported inside the functions that build, load or save a network,
# so that listing models, and every command that imports this module for its constants, stays fast.


def architectures() -> dict[str, type[torch.nn.Module]]:
    """Architecture name -> constructor; the zoo's building blocks."""
    from .comcnn.model import ComCNN
    from .reccnn.model import RecCNN
    from .regen.model import RegenNet

    return {"regen-unet": RegenNet, "comcnn": ComCNN, "reccnn": RecCNN}

# regen-fast-proj with an eighth-resolution branch (29,148 MACs/pixel, under the 30,000 the
# default may cost), trained 6000 + 14,000 + 12,151 steps (regen-coarse3), then 16,015 more:
# on held-out crops, decoded with the consistency step, -32.50% / -27.44% vs regen-coarse3's
# -32.34% / -27.28% (MS-SSIM dB / PSNR BD-rate vs plain JPEG) with the default tables
# (bench/results/training/regen-coarse4/NOTE.md)
DEFAULT_MODEL = "regen-coarse4"
# comrec-r2 trained five more one-network stages (ComCNN, RecCNN, RecCNN at lr 1e-4, ComCNN at
# 1e-4, RecCNN at 5e-5): validation (held-out crops) MS-SSIM dB at 0.12/0.2/0.3/0.45 bpp 11.315
# vs 11.204 (bench/results/training/comrec-r7/NOTE.md)
DEFAULT_COMREC = "comrec-r7"
# encode's mode. auto is never worse than regen per image (codec.auto); on Kodak (decoder 0.2.2)
# it saves 1.0% / 0.6% (MS-SSIM dB / PSNR BD-rate) over all rates and 16.1% / 8.7% below 0.35 bpp (against regen-fast-proj)
# (bench/results/kodak/report-pairs.md, bench/results/kodak-lowrate/report-lowrate.md)
DEFAULT_MODE = "auto"
_OLD = "; decodes older files"
#: What each shipped model is for, in a few words (`regen-codec models`): the weight files'
#: own summaries cannot change without changing their hashes, and some still say "default".
ROLES = {
    DEFAULT_MODEL: "default (photos)",
    DEFAULT_COMREC: "default comrec (auto's small files)",
    "regen-coarse3": "superseded by regen-coarse4" + _OLD,
    "regen-coarse2": "superseded by regen-coarse3" + _OLD,
    "regen-coarse": "superseded by regen-coarse2" + _OLD,
    "regen-fast-proj": "superseded by regen-coarse" + _OLD,
    "regen-fast-tuned": "superseded by regen-fast-proj" + _OLD,
    "regen-fast": "superseded by regen-fast-tuned" + _OLD,
    "regen-manga": "drawn art (manga): encode -m regen-manga",
    "comrec-r2": "superseded by comrec-r7" + _OLD,
    "comrec-lowq-rec": "superseded by comrec-r2" + _OLD,
    "comrec-fast-rd": "superseded by comrec-lowq-rec" + _OLD,
    "comrec-fast": "superseded by comrec-fast-rd" + _OLD,
}


def model_role(info: ModelInfo) -> str:
    """A model's role in a few words: from ROLES for the shipped ones, "encoder half of X" for a
    ComCNN, and a user model's own summary."""
    if info.builtin and info.id in ROLES:
        return ROLES[info.id]
    if info.mode == "comcnn" and info.id.endswith("-com"):
        return f"encoder half of {info.id.removesuffix('-com')}"
    return f"user model: {info.summary}" if not info.builtin else info.summary


BUILTIN_DIR = Path(__file__).parent / "models"
ENV_USER_DIR = "REGEN_CODEC_MODELS"


@dataclass
class ModelInfo:
    """A model as the registry sees it, read from the weight file's header."""

    id: str
    mode: str
    arch: str
    config: dict
    summary: str
    params: int
    macs_per_pixel: int
    sha256: str
    path: Path
    builtin: bool


def create_model(arch: str, **config) -> torch.nn.Module:
    """Build an untrained network of a registered architecture."""
    known = architectures()
    if arch not in known:
        raise CodecError(f"unknown architecture {arch!r} (known: {', '.join(known)})")
    return known[arch](**config)


def user_dir() -> Path:
    """Where `models import` installs models: $REGEN_CODEC_MODELS, else the user data directory."""
    env = os.environ.get(ENV_USER_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("regen-codec") / "models"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_HASHES: dict[tuple, str] = {}


def cached_sha256(path: Path) -> str:
    """file_sha256, computed once per process for a file that has not changed since (same size,
    modification time and inode): every load looks up the registry, and hashing all its files
    each time cost 22 ms per decoded picture."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def count_macs_per_pixel(model: torch.nn.Module, size: int = 64) -> int:
    """Multiply-accumulates per output pixel, counted by PyTorch's FlopCounterMode (2 flops = 1 MAC)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from .comcnn.model import ComCNN
    from .jpeg import COND_DIM

    x = torch.zeros(1, 3, size, size)
    args = (x,) if isinstance(model, ComCNN) else (x, torch.zeros(1, COND_DIM))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*args)
    return int(round(counter.get_total_flops() / 2 / (size * size)))


def _read_info(path: Path, builtin: bool) -> ModelInfo:
    try:
        with safe_open(str(path), framework="numpy") as f:  # the header only; no torch needed
            meta = f.metadata() or {}
        return ModelInfo(
            id=meta["id"], mode=meta.get("mode", "regen"), arch=meta["arch"],
            config=json.loads(meta.get("config", "{}")), summary=meta.get("summary", ""),
            params=int(meta.get("params", 0)), macs_per_pixel=int(meta.get("macs_per_pixel", 0)),
            sha256=cached_sha256(path), path=path, builtin=builtin)
    except (KeyError, ValueError, OSError, Exception) as exc:  # safetensors raises its own types
        raise CodecError(f"{path} is not a valid regen-codec model file ({exc})") from None


def list_models() -> list[ModelInfo]:
    """Every installed model: the package's own first, then the user's."""
    found: list[ModelInfo] = []
    for directory, builtin in ((BUILTIN_DIR, True), (user_dir(), False)):
        if directory.is_dir():
            for path in sorted(directory.glob("*.safetensors")):
                try:
                    found.append(_read_info(path, builtin))
                except CodecError:
                    continue  # a broken user file must not hide the others
    return found


def find_model(model_id: str) -> ModelInfo:
    """The installed model with this ID (package models win over user models of the same ID)."""
    for info in list_models():
        if info.id == model_id:
            return info
    known = ", ".join(sorted({m.id for m in list_models()})) or "none"
    raise CodecError(f"model {model_id!r} is not installed (installed: {known}); "
                     f"install it with `regen-codec models import FILE.safetensors`")


def load_model(model_id: str = DEFAULT_MODEL, sha256: str | None = None,
               device: str = "cpu") -> torch.nn.Module:
    """The network for `model_id` in eval mode, checked against `sha256` when given."""
    info = find_model(model_id)
    # files of format 2 carry the first 16 hex digits of the hash, format 1 all 64
    if sha256 and not (len(sha256) >= 16 and info.sha256.startswith(sha256.lower())):
        raise CodecError(
            f"model {model_id!r} hash mismatch: the file needs sha256 {sha256[:16]}..., the "
            f"installed one is {info.sha256[:16]}...; install the matching weights with "
            f"`regen-codec models import FILE.safetensors`")
    return _load(info.path, info.sha256, info.arch, json.dumps(info.config), device)


@lru_cache(maxsize=8)
def _load(path: Path, sha256: str, arch: str, config: str, device: str) -> torch.nn.Module:
    import torch
    from safetensors.torch import load_file

    model = create_model(arch, **json.loads(config))
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except (RuntimeError, OSError) as exc:
        raise CodecError(f"weights in {path} do not fit architecture {arch!r} ({exc})") from None
    # channels-last convolutions run about 20% faster on CPUs (and suit GPUs too)
    return model.eval().requires_grad_(False).to(device, memory_format=torch.channels_last)


def save_model(model: torch.nn.Module, model_id: str, directory: Path, *, arch: str,
               mode: str = "regen", summary: str = "") -> Path:
    """Write `<id>-<sha8>.safetensors` with its metadata; returns the path."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metadata = {
        "id": model_id, "mode": mode, "arch": arch,
        "config": json.dumps(getattr(model, "config", {}), sort_keys=True),
        "summary": summary, "params": str(sum(p.numel() for p in model.parameters())),
        "macs_per_pixel": str(count_macs_per_pixel(model)),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = directory / f".{model_id}.tmp.safetensors"
    save_file(state, str(tmp), metadata=metadata)
    digest = file_sha256(tmp)
    final = directory / f"{model_id}-{digest[:8]}.safetensors"
    for old in _versions(directory, model_id):
        if old != final:
            old.unlink()
    os.replace(tmp, final)
    return final


def _versions(directory: Path, model_id: str) -> list[Path]:
    """Weight files of exactly this ID (`<id>-<8 hex>.safetensors`; not `<id>-com-...`)."""
    pat = re.compile(re.escape(model_id) + r"-[0-9a-f]{8}\.safetensors")
    return [p for p in directory.glob("*.safetensors") if pat.fullmatch(p.name)]


def import_model(path: Path, force: bool = False) -> ModelInfo:
    """Check a user-trained weight file (it must load into its architecture) and install it."""
    path = Path(path)
    if path.is_dir():
        raise CodecError(f"{path}: is a directory, not a .safetensors model file")
    if not path.is_file():
        raise CodecError(f"{path}: no such file")
    info = _read_info(path, builtin=False)
    _load(path, info.sha256, info.arch, json.dumps(info.config), "cpu")  # proves it loads
    for other in list_models():
        if other.id == info.id and other.builtin:
            raise CodecError(f"model ID {info.id!r} is taken by a built-in model; rename yours")
        if other.id == info.id and other.sha256 != info.sha256 and not force:
            raise CodecError(f"a different model {info.id!r} is already installed "
                             f"({other.path}); use --force to replace it")
    dest_dir = user_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{info.id}-{info.sha256[:8]}.safetensors"
    tmp = dest_dir / f".{dest.name}.part"
    shutil.copyfile(path, tmp)
    os.replace(tmp, dest)
    for old in _versions(dest_dir, info.id):
        if old != dest:
            old.unlink()
    return _read_info(dest, builtin=False)
