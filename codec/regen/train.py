"""Training of the regeneration network: resumable, seeded, logged, CPU / GPU / torchrun (DDP).

Everything a run makes lives in its work directory: the crop pools, `checkpoint.pt` (saved
periodically; `--resume` continues from it), `log.csv`, `curves.png`, and at the end the
exported weights and model card.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from pytorch_msssim import ms_ssim
from safetensors.torch import load_file
from tqdm import tqdm

from ..decoder.consistency import project_batch, read_coefficients
from ..format.tables import get_table_set
from ..registry import _read_info, find_model, save_model
from ..utils import metrics
from ..utils.stopsignal import Stopped, StopSignals
from . import data as D
from .croppack import read_pack
from .devicebatch import DeviceBatches
from .loader import batch_maker, batches
from .model import RegenNet, add_blend, add_coarse, deepen

VAL_QUALITIES = (10, 30, 50, 70, 90)
WARMUP = 500  # steps of linear learning-rate warm-up


@dataclass
class TrainConfig:
    data: list[str]
    id: str
    steps: int = 20000
    batch: int = 16
    patch: int = 128
    lr: float = 1e-3
    seed: int = 0
    msssim_weight: float = 0.5
    val_every: int = 1000
    ckpt_every: int = 250
    val_images: int = 48
    workdir: str = ""
    export_dir: str = ""
    device: str = "auto"
    arch: dict = field(default_factory=dict)
    summary: str = ""
    init: str = ""  # start from these weights (an installed model ID or a .safetensors file)
    val_fraction: float | None = None  # None: one file in 25 held out (see data.split)
    tables: list[str] = field(default_factory=list)  # table sets for a share of the crops
    tables_share: float = 0.5  # that share
    grow_depth: int = 0  # add this many identity-initialized quarter-res layers to the init
    grow_coarse: int = 0  # add a silent eighth-res branch of this many layers to the init
    width3: int = 128  # its channels
    grow_blend: bool = False  # give the init's quarter/eighth-res layers second, blended kernels
    consistency: bool = False  # train the output after codec.decoder.consistency's projection, as decoded
    pack: str = ""  # a crop pack (codec.regen.croppack) instead of the image folders in `data`
    workers: int = 0  # processes that make the batches (0: the training process itself)
    time_limit: float = 0.0  # minutes; the learning rate anneals by time too, and the run ends
    amp: bool = False  # bfloat16 autocast for the network in training steps (not validation)
    device_jpeg: bool = False  # JPEG-code the crops on the training device (devicebatch.py)
    ckpt_minutes: float = 0.0  # also checkpoint and export this often (wall time; 0: by steps only)


def to_tensor(a: np.ndarray | torch.Tensor, device="cpu") -> torch.Tensor:
    """(B,H,W,3) uint8 (an array, or a tensor already on the device) -> (B,3,H,W) float in [0,1]."""
    t = a if torch.is_tensor(a) else torch.from_numpy(np.require(a, requirements=["C", "W"]))
    return t.to(device).permute(0, 3, 1, 2).float().div_(255)


def restoration_loss(out: torch.Tensor, target: torch.Tensor, w: float) -> torch.Tensor:
    loss = F.l1_loss(out, target)
    if w > 0:
        side = min(out.shape[-2:])
        # MS-SSIM's 5 scales need side > 16 * (win - 1); 11 is the window the benchmarks use
        win = 11 if side > 160 else 7 if side > 96 else 3
        loss = loss + w * (1 - ms_ssim(out.clamp(0, 1), target, data_range=1.0, win_size=win))
    return loss


def _pool(cfg: TrainConfig, files: list[Path], name: str, patch: int, seed: int,
          max_per_image: int) -> np.ndarray:
    path = Path(cfg.workdir) / f"pool-{name}.npy"
    if path.exists():
        return np.load(path)
    pool = D.build_pool(files, patch, seed, max_per_image, desc=f"cutting {name} crops")
    np.save(str(path) + ".tmp.npy", pool)
    os.replace(str(path) + ".tmp.npy", path)
    return pool


def _initial_weights(init: str) -> RegenNet:
    """A copy of an installed model (by ID) or of a weight file, to fine-tune from."""
    info = _read_info(Path(init), builtin=False) if init.endswith(".safetensors") else find_model(init)
    model = RegenNet(**info.config)
    model.load_state_dict(load_file(str(info.path)))
    return model


def restore(net, x: torch.Tensor, c: torch.Tensor, coefs: list | None, amp: bool = False):
    """The network's output as `decode` makes it: projected for consistency with the files
    whose coefficients `coefs` are given (codec.decoder.consistency; or a function that projects, as
    devicebatch.DeviceBatch.coefs), else as it is."""
    with torch.autocast(x.device.type, torch.bfloat16, enabled=amp):
        out = net(x, c)
    out = out.float()
    if coefs is None:
        return out
    return coefs(out) if callable(coefs) else project_batch(out, coefs)


def main_threads(workers: int, cores: int | None = None) -> int:
    """CPU threads for a GPU training process when `workers` processes make the batches: the
    cores they leave. More would oversubscribe the CPU, and PyTorch's spinning OpenMP threads
    then slow the workers and every CPU op (on a 16-core H200 machine, two runs of 7 workers and
    16 threads each made 11 steps/s, and one validation outlasted the run)."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores - workers) if workers > 0 else torch.get_num_threads()


def lr_factor(step: int, steps: int, elapsed: float = 0.0, limit_s: float = 0.0) -> float:
    """Warm-up, then cosine decay to 2% over the run; with a time limit the decay follows
    whichever of steps and time is further along, so a run cut by time still ends annealed."""
    progress = min(step, steps) / steps
    if limit_s > 0:
        progress = max(progress, min(1.0, elapsed / limit_s))
    return min(1.0, (step + 1) / WARMUP) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def validate(model, val_pool: np.ndarray, device, consistency: bool = False,
             should_stop: Callable[[], bool] = lambda: False) -> dict:
    """Mean PSNR / MS-SSIM (dB) gain of regenerated over plain decoding, per validation quality;
    {} if `should_stop` turns true on the way (a stop signal)."""
    model.eval()
    row = {}
    with torch.no_grad():
        for q in VAL_QUALITIES:
            gp, gm = [], []
            for img in val_pool:
                if should_stop():
                    model.train()
                    return {}
                dec, c, data = D.jpeg_roundtrip(img, q, "4:2:0")
                out = restore(model, to_tensor(dec[None], device), torch.from_numpy(c[None]).to(device),
                              [read_coefficients(data)] if consistency else None)
                res = (out.clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).cpu().numpy()
                gp.append(metrics.psnr(img, res) - metrics.psnr(img, dec))
                gm.append(metrics.db(metrics.ms_ssim(img, res)) - metrics.db(metrics.ms_ssim(img, dec)))
            row[f"psnr_gain_q{q}"] = float(np.mean(gp))
            row[f"msssim_db_gain_q{q}"] = float(np.mean(gm))
    model.train()
    return row


def plot(workdir: Path) -> None:
    """Loss and validation gains against steps, from log.csv, into curves.png."""
    import matplotlib  # plots only: heavy, and training runs without them

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(workdir / "log.csv")))
    if not rows:
        return
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    steps = [int(r["step"]) for r in rows]
    ax[0].plot(steps, [float(r["loss"]) for r in rows])
    ax[0].set(xlabel="step", ylabel="training loss (mean since last row)", yscale="log")
    vrows = [r for r in rows if r.get("psnr_gain_q10")]
    for q in VAL_QUALITIES:
        vs = [int(r["step"]) for r in vrows]
        ax[1].plot(vs, [float(r[f"psnr_gain_q{q}"]) for r in vrows], label=f"q{q}")
        ax[2].plot(vs, [float(r[f"msssim_db_gain_q{q}"]) for r in vrows], label=f"q{q}")
    ax[1].set(xlabel="step", ylabel="val PSNR gain over JPEG (dB)")
    ax[2].set(xlabel="step", ylabel="val MS-SSIM gain over JPEG (dB)")
    ax[1].legend(), ax[2].legend()
    fig.tight_layout()
    fig.savefig(workdir / "curves.png", dpi=80)
    plt.close(fig)


def train(cfg: TrainConfig, resume: bool = False) -> Path | None:
    """Run (or resume) a training; returns the exported weight file on rank 0. The process's
    CPU thread count (see main_threads) is restored afterwards. A first SIGINT or SIGTERM stops
    it after the current step: it checkpoints, exports, then raises codec.utils.stopsignal.Stopped
    (`result`: the weight file); a second one stops at once."""
    threads = torch.get_num_threads()
    try:
        return _train(cfg, resume)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: TrainConfig, resume: bool) -> Path | None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if cfg.device == "auto":
        cfg.device = "cuda" if torch.cuda.is_available() else "cpu"
    if world > 1:
        dist.init_process_group("nccl" if cfg.device == "cuda" else "gloo")
        if cfg.device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    device = torch.device(cfg.device)
    workdir = Path(cfg.workdir or f"runs/{cfg.id}")
    cfg.workdir = str(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt_path = workdir / "checkpoint.pt"
    if ckpt_path.exists() and not resume:
        raise SystemExit(f"{ckpt_path} exists: pass --resume to continue it, or choose another --workdir")

    torch.manual_seed(cfg.seed)
    if cfg.pack:  # every rank reads the pack itself
        pool, val_pool, info = read_pack(Path(cfg.pack))
        n_train, n_val = info.train_files, info.val_files
        val_pool = val_pool[: cfg.val_images]
        if cfg.patch > pool.shape[1]:
            raise ValueError(f"--patch {cfg.patch} is larger than the pack's {pool.shape[1]} px crops")
    else:
        files = D.list_images([Path(d) for d in cfg.data])
        train_files, val_files = D.split(files, cfg.val_fraction)
        n_train, n_val = len(train_files), len(val_files)
    if rank == 0:
        src = f" (pack {cfg.pack}: {len(pool)} crops)" if cfg.pack else ""
        tqdm.write(f"{n_train} training files, {n_val} held out for validation{src}")
        (workdir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        if not cfg.pack:
            pool = _pool(cfg, train_files, "train", cfg.patch, cfg.seed, 48)
            try:
                val_pool = _pool(cfg, val_files, "val", D.VAL_PATCH if cfg.patch >= 96 else cfg.patch,
                                 cfg.seed + 1, 1)[: cfg.val_images]
            except ValueError:  # tiny data sets: no held-out file is large enough
                val_pool = pool[:0]
        if not len(val_pool):
            tqdm.write("warning: no held-out image is large enough; validating on training crops")
            val_pool = pool[: cfg.val_images]
    if world > 1:
        dist.barrier()
        if rank != 0 and not cfg.pack:
            pool = np.load(workdir / "pool-train.npy")

    table_sets = tuple(get_table_set(t) for t in cfg.tables)
    model = RegenNet(**cfg.arch)
    if cfg.init:
        model = _initial_weights(cfg.init)
        if cfg.grow_depth:
            model = deepen(model, cfg.grow_depth)
        if cfg.grow_coarse:
            model = add_coarse(model, cfg.grow_coarse, cfg.width3)
        if cfg.grow_blend:
            model = add_blend(model)
        cfg.arch = dict(model.config)
    model = model.to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        # on a CPU the thread count would change the network's sums: kept as it is there
        torch.set_num_threads(main_threads(cfg.workers))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    limit_s = cfg.time_limit * 60
    step, elapsed = 0, 0.0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        torch.set_rng_state(ck["torch_rng"])
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    net.train()

    log_path = workdir / "log.csv"
    fields = ["step", "loss", "lr", "elapsed_s"] + [f"{k}_q{q}" for q in VAL_QUALITIES
                                                  for k in ("psnr_gain", "msssim_db_gain")]
    if rank == 0 and not log_path.exists():
        with open(log_path, "w", newline="") as f:
            csv.DictWriter(f, fields).writeheader()

    def checkpoint():
        if rank == 0:
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": elapsed, "torch_rng": torch.get_rng_state()}, tmp)
            os.replace(tmp, ckpt_path)

    def must_stop() -> tuple[bool, bool]:
        """(time is up, a stop signal came), agreed by every rank: they stop at the same step."""
        flags = torch.tensor([float(limit_s > 0 and elapsed + time.time() - t0 >= limit_s),
                              float(stop.requested)])
        if world > 1:
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags[0]), bool(flags[1])

    if cfg.device_jpeg:  # the pool goes to the device once; no batch-making processes
        make = DeviceBatches(pool, cfg.batch, cfg.seed, rank, device, table_sets, cfg.tables_share,
                             cfg.patch, consistency=cfg.consistency)
        workers = 0
    else:
        make = batch_maker(pool, cfg.batch, cfg.seed, rank, table_sets, cfg.tables_share,
                           cfg.patch, coefficients=cfg.consistency)
        workers = cfg.workers
    bar = tqdm(total=cfg.steps, initial=step, desc=f"training {cfg.id}", unit="step",
               disable=rank != 0, dynamic_ncols=True)
    losses = []
    stopped_early = signalled = False

    def export(summary: str) -> Path:
        """Write the weights (and card) to the export folder, replacing earlier exports."""
        export_dir = Path(cfg.export_dir) if cfg.export_dir else workdir
        return save_model(copy.deepcopy(model).cpu(), cfg.id, export_dir, arch="regen-unet",
                          summary=cfg.summary or summary)

    with StopSignals() as stop:
        t0 = last_ckpt = time.time()
        steps = iter(batches(make, step, cfg.steps, workers))
        while True:
            try:
                b = next(steps)
            except StopIteration:
                break
            except Exception:
                if not stop.requested:
                    raise
                signalled = True  # a Ctrl-C also ends the batch-making workers: save this step
                elapsed += time.time() - t0
                checkpoint()
                break
            lr = cfg.lr * lr_factor(step, cfg.steps, elapsed + time.time() - t0, limit_s)
            for g in opt.param_groups:
                g["lr"] = lr
            x = to_tensor(b.coded, device)
            y = to_tensor(b.clean, device)
            c = torch.as_tensor(b.cond).to(device)
            loss = restoration_loss(restore(net, x, c, b.coefs, cfg.amp), y, cfg.msssim_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
            if step < cfg.steps:
                time_up, signalled = must_stop()
                stopped_early = time_up or signalled
            last = step == cfg.steps or stopped_early
            timed = cfg.ckpt_minutes > 0 and time.time() - last_ckpt >= cfg.ckpt_minutes * 60
            if step % cfg.ckpt_every == 0 or last or step % cfg.val_every == 0 or timed:
                elapsed += time.time() - t0
                t0 = time.time()
                checkpoint()
                last_ckpt = time.time()
                if timed and not last and rank == 0:  # weights too: a killed call keeps them
                    export(f"RegenNet trained {step} steps (interim export)")
                if rank == 0:
                    row = {"step": step, "loss": float(np.mean(losses)), "lr": lr,
                           "elapsed_s": round(elapsed, 1)}
                    losses = []
                    if (step % cfg.val_every == 0 or last) and not signalled:
                        row.update(validate(model, val_pool, device, cfg.consistency,
                                            should_stop=lambda: stop.requested))
                    if len(row) > 4:
                        bar.write(f"step {step}: val PSNR gain " + " ".join(
                            f"q{q} {row[f'psnr_gain_q{q}']:+.2f}" for q in VAL_QUALITIES) + " dB")
                    with open(log_path, "a", newline="") as f:
                        csv.DictWriter(f, fields).writerow(row)
                    plot(workdir)
                elapsed += time.time() - t0  # validation counts: --time-limit is about wall time
                t0 = time.time()
            if signalled:
                break
            if stopped_early:
                bar.write(f"--time-limit {cfg.time_limit:g} min reached: stopping at step {step}")
                break
    steps.close()  # the batch-making workers end here, also when the loop stopped early
    bar.close()
    if signalled:
        tqdm.write(f"{stop.name or 'stop signal'} received: stopped at step {step}, saving")
    out = None
    if rank == 0:
        out = export(f"RegenNet trained {step} steps")
        host = f"{platform.node()} ({platform.processor() or platform.machine()}, " \
               f"{torch.get_num_threads()} threads, {cfg.device}, world size {world})"
        (workdir / "train_record.json").write_text(json.dumps({
            "command": " ".join(sys.argv), "config": asdict(cfg), "steps": step,
            "wall_time_s": round(elapsed, 1), "hardware": host, "torch": torch.__version__,
            "weights": str(out), "train_files": n_train, "val_files": n_val,
            "train_crops": int(len(pool)), "stopped_by_time_limit": stopped_early and not signalled,
            "stopped_by_signal": stop.name if signalled else "",
        }, indent=2))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    if signalled:
        raise Stopped(stop.signum or 15, out, f"stopped by {stop.name or 'a signal'} at step {step}"
                      + (f"; weights exported to {out}" if out else "")
                      + "; `--resume` continues from the checkpoint")
    return out
