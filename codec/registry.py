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
import stat
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from safetensors import safe_open

from .errors import CodecError
from .format.modelid import MODEL_ID_PATTERN, check_model_id, printable, shown
from .io.imageio import CodecWarning

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
# encode's mode. auto is never worse than regen per image (codec.encoder.auto); on Kodak (decoder 0.2.2)
# it saves 1.0% / 0.6% (MS-SSIM dB / PSNR BD-rate) over all rates and 16.1% / 8.7% below 0.35 bpp
# (against regen-fast-proj)
# (bench/results/kodak/report-pairs.md, bench/results/kodak-lowrate/report-lowrate.md)
DEFAULT_MODE = "auto"
#: The network each model mode runs: a file whose mode and architecture disagree is refused.
MODE_ARCH = {"regen": "regen-unet", "comrec": "reccnn", "comcnn": "comcnn"}
_WIDTH, _DEPTH = (1, 1024), (0, 256)
#: Each architecture's configuration keys: (type, smallest, largest). A key not listed, a value
#: of another type or out of its range is refused before anything is built.
CONFIG_FIELDS: dict[str, dict[str, tuple[type, int, int]]] = {
    "regen-unet": {"width1": (int, *_WIDTH), "width2": (int, *_WIDTH), "depth": (int, *_DEPTH),
                   "depth1": (int, *_DEPTH), "cond_hidden": (int, 1, 4096),
                   "depth3": (int, *_DEPTH), "width3": (int, *_WIDTH), "blend": (bool, 0, 1)},
    "comcnn": {"width": (int, *_WIDTH), "depth": (int, *_DEPTH)},
}
CONFIG_FIELDS["reccnn"] = CONFIG_FIELDS["regen-unet"]
#: Parameters a model may have (400 MB of float32): the shipped ones have about 0.9 million.
MAX_PARAMS = 100_000_000
#: How a weight file in a model folder is named: `<model ID>-<first 8 hex digits of its sha256>`.
FILE_NAME = re.compile(rf"({MODEL_ID_PATTERN.pattern})-[0-9a-f]{{8}}\.safetensors")

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


def check_config(arch: object, config: object, count_params: bool = True) -> dict:
    """`config` if it is a valid configuration of architecture `arch`: a mapping of known keys
    to values of the right type and range whose network has at most MAX_PARAMS parameters
    (counted on PyTorch's meta device, which allocates nothing); else a CodecError.
    `count_params=False` skips the count, which needs PyTorch: reading a file's header (the
    `models` listing) checks keys, types and ranges only; every build (create_model) counts."""
    if not isinstance(arch, str) or arch not in CONFIG_FIELDS:
        raise CodecError(f"unknown architecture {shown(arch)} (known: {', '.join(CONFIG_FIELDS)})")
    if not isinstance(config, dict):
        raise CodecError(f"the configuration of a {arch} model must be a mapping, "
                         f"not {type(config).__name__}")
    fields = CONFIG_FIELDS[arch]
    for key, value in config.items():
        if key not in fields:
            raise CodecError(f"unknown {arch} configuration key {shown(key)} "
                             f"(known: {', '.join(fields)})")
        kind, lo, hi = fields[key]
        if type(value) is not kind or not lo <= value <= hi:  # bool is not an int here
            raise CodecError(f"{arch} configuration {key}={shown(value)}: expected "
                             f"{'true or false' if kind is bool else f'a whole number from {lo} to {hi}'}")
    if not count_params:
        return config
    params = _param_count(arch, json.dumps(config, sort_keys=True))
    if params > MAX_PARAMS:
        raise CodecError(f"a {arch} model of this configuration has {params:,} parameters, "
                         f"more than the {MAX_PARAMS:,} regen-codec loads")
    return config


@lru_cache(maxsize=64)
def _param_count(arch: str, config: str) -> int:
    """Parameters of the network, built on PyTorch's meta device (no memory, about 15 ms:
    remembered, since every load builds the network through create_model)."""
    import torch

    with torch.device("meta"):
        return sum(p.numel() for p in architectures()[arch](**json.loads(config)).parameters())


def create_model(arch: str, **config: int | bool) -> torch.nn.Module:
    """Build an untrained network of a registered architecture (its configuration checked
    first: check_config)."""
    check_config(arch, config)
    return architectures()[arch](**config)


def user_dir() -> Path:
    """Where `models import` installs models: $REGEN_CODEC_MODELS, else the user data directory."""
    env = os.environ.get(ENV_USER_DIR)
    if env:
        return Path(env).expanduser()

    return platformdirs.user_data_path("regen-codec") / "models"


def is_regular_file(path: Path) -> bool:
    """Whether `path` (a link followed) is a regular file: a FIFO, device or socket named
    `*.safetensors` would block or never end when read."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a regular file (anything else is a CodecError, found without
    blocking: the file is opened non-blocking and checked before it is read)."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CodecError(f"{path}: not a regular file")
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_HASHES: dict[tuple, str] = {}


def _unchanged(path: Path) -> tuple:
    """A key that stays the same while the file does (its real path, size, modification time
    and inode): what the per-process memos of hashes and headers look files up by."""
    st = os.stat(path)
    return str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino


def cached_sha256(path: Path) -> str:
    """file_sha256, computed once per process for a file that has not changed since
    (_unchanged): every load looks up the registry, and hashing all its files each time cost
    22 ms per decoded picture."""
    key = _unchanged(path)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def count_macs_per_pixel(model: torch.nn.Module, size: int = 64) -> int:
    """Multiply-accumulates per output pixel, counted by PyTorch's FlopCounterMode (2 flops = 1 MAC)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from .comcnn.model import ComCNN
    from .format.jpeg import COND_DIM

    x = torch.zeros(1, 3, size, size)
    args = (x,) if isinstance(model, ComCNN) else (x, torch.zeros(1, COND_DIM))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*args)
    return int(round(counter.get_total_flops() / 2 / (size * size)))


def _count(meta: dict, key: str) -> int:
    """A displayed count from the header (params, macs_per_pixel): a whole number, 0 if absent."""
    value = int(meta.get(key, "0"))
    if not 0 <= value <= 10**15:
        raise ValueError(f"{key} {value} out of range")
    return value


def _read_info(path: Path, builtin: bool) -> ModelInfo:
    """A weight file's header, every field checked: the ID (MODEL_ID_PATTERN), the mode and
    its architecture (MODE_ARCH), the configuration (check_config); the summary made printable.
    Read once per process for a file that has not changed since (_unchanged): every
    find_model scans the folders, and reading all headers each time cost 4 ms per lookup, up
    to 35 ms of a 0.45 s encode at --effort 0."""
    if not is_regular_file(path):
        raise CodecError(f"{path}: not a regular file, so not a model")
    key = (*_unchanged(path), builtin)
    if key not in _INFOS:
        _INFOS[key] = _parse_info(path, builtin)
    return _INFOS[key]


_INFOS: dict[tuple, ModelInfo] = {}


def _parse_info(path: Path, builtin: bool) -> ModelInfo:
    """_read_info without the memo."""
    try:
        sha256 = cached_sha256(path)
        with safe_open(str(path), framework="numpy") as f:  # the header only; no torch needed
            meta = f.metadata() or {}
        model_id, mode, arch = meta["id"], meta.get("mode", "regen"), meta["arch"]
        config = json.loads(meta.get("config", "{}"))
        summary, params, macs = meta.get("summary", ""), _count(meta, "params"), _count(meta, "macs_per_pixel")
    except CodecError:
        raise
    except (KeyError, ValueError, OSError, Exception) as exc:  # safetensors raises its own types
        raise CodecError(f"{path} is not a valid regen-codec model file "
                         f"({printable(str(exc))})") from None
    check_model_id(model_id, f"{path}")
    if MODE_ARCH.get(mode) != arch:
        raise CodecError(f"{path}: mode {shown(mode)} and architecture {shown(arch)} do not fit "
                         f"(modes and their architectures: "
                         f"{', '.join(f'{m} {a}' for m, a in MODE_ARCH.items())})")
    try:
        check_config(arch, config, count_params=False)  # create_model counts, before building
    except CodecError as exc:
        raise CodecError(f"{path}: {exc}") from None
    return ModelInfo(id=model_id, mode=mode, arch=arch, config=config, summary=printable(summary),
                     params=params, macs_per_pixel=macs, sha256=sha256, path=path,
                     builtin=builtin)


def list_models() -> list[ModelInfo]:
    """Every installed model: the package's own first, then the user's. Files that are not
    models (a bad name, not a regular file, a header that fails _read_info) are skipped with a
    warning, and remembered by the ID their name gives, so that find_model can say why."""
    found: list[ModelInfo] = []
    _REFUSED.clear()
    for directory, builtin in ((BUILTIN_DIR, True), (user_dir(), False)):
        if directory.is_dir():
            for path in sorted(directory.glob("*.safetensors")):
                if path.name.startswith("."):
                    continue  # an import's or a save's temporary file
                if not FILE_NAME.fullmatch(path.name):
                    _skip(path, "its name is not <model ID>-<8 hex digits>.safetensors")
                    continue
                name_id = FILE_NAME.fullmatch(path.name).group(1)
                try:  # _read_info refuses what is not a regular file before reading it
                    found.append(_read_info(path, builtin))
                except CodecError as exc:  # a broken user file must not hide the others
                    _REFUSED[name_id] = str(exc)
                    _skip(path, str(exc).removeprefix(f"{path}: "))
    return found


#: Model ID (from the file name) -> why the last scan refused its file.
_REFUSED: dict[str, str] = {}


_SKIPPED: set[tuple[str, str]] = set()


def _skip(path: Path, why: str) -> None:
    """Warn that a file in a model folder is not used, once per file and reason in a process
    (the registry is scanned at every load)."""
    key = (str(path), why)
    if key not in _SKIPPED:
        _SKIPPED.add(key)
        warnings.warn(f"model folder: skipping {shown(path.name)}: {why}", CodecWarning,
                      stacklevel=3)


def find_model(model_id: str) -> ModelInfo:
    """The installed model with this ID (package models win over user models of the same ID)."""
    for info in list_models():
        if info.id == model_id:
            return info
    if model_id in _REFUSED:
        raise CodecError(f"model {shown(model_id)} is refused: {_REFUSED[model_id]}")
    known = ", ".join(sorted({m.id for m in list_models()})) or "none"
    where = (f" (a superseded regen-codec model the wheel leaves out: its file is in the source "
             f"repository's codec/models/, {model_id}-*.safetensors; docs/models.md)"
             if model_id in ROLES or model_id.removesuffix("-com") in ROLES else "")
    raise CodecError(f"model {model_id!r} is not installed (installed: {known}); "
                     f"install it with `regen-codec models import FILE.safetensors`{where}")


def load_model(model_id: str = DEFAULT_MODEL, sha256: str | None = None,
               device: str = "cpu") -> torch.nn.Module:
    """The network for `model_id` in eval mode, checked against `sha256` when given."""
    info = find_model(model_id)
    # files of format 2 carry the first 16 hex digits of the hash, format 1 all 64; an empty or
    # malformed hash is a mismatch, never a skipped check
    if sha256 is not None and not (re.fullmatch(r"[0-9a-f]{16,64}", sha256)
                                   and info.sha256.startswith(sha256)):
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
    check_model_id(model_id, "save")
    check_config(arch, getattr(model, "config", {}))
    if MODE_ARCH.get(mode) != arch:
        raise CodecError(f"mode {shown(mode)} does not fit architecture {shown(arch)}")

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
    if not path.exists():
        raise CodecError(f"{path}: no such file")
    info = _read_info(path, builtin=False)  # refuses what is not a regular file
    check_config(info.arch, info.config)  # with the parameter count, before anything is built
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
    if dest.parent != dest_dir or not FILE_NAME.fullmatch(dest.name):  # _read_info checked the ID
        raise CodecError(f"{path}: model ID {shown(info.id)} cannot name a file")
    tmp = dest_dir / f".{dest.name}.part"
    shutil.copyfile(path, tmp)
    os.replace(tmp, dest)
    for old in _versions(dest_dir, info.id):
        if old != dest:
            old.unlink()
    return _read_info(dest, builtin=False)
