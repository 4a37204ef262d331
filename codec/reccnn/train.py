"""Alternating training of ComCNN and RecCNN (the codec in between is not differentiable).

Each round: (1) RecCNN trains on real codec outputs of the current, frozen ComCNN: compact
image -> 8-bit -> real JPEG at a random quality -> decode -> upscale -> RecCNN; (2) ComCNN
trains through the frozen RecCNN with the codec replaced by a stand-in (`identity` or the
differentiable `jpeg` approximation), optionally with a rate term (`rate_weight` times the
stand-in's bit estimate, codec.comcnn.standin.rate_proxy) so it cannot buy quality with bytes.
With --init, round 0 is the initial pair's validation, the bar later rounds must beat.
Rounds repeat until the validation score stops improving: the real pipeline's MS-SSIM dB at
fixed rates (SCORE_BPP), read off the curve through the validation qualities, so a round that
gains quality only by spending more bytes does not count as better.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..comcnn.model import ComCNN
from ..comcnn.standin import STANDINS, rate_proxy
from ..format.jpeg import cond_vector, encode_jpeg, open_jpeg, read_info
from ..regen import data as D
from ..regen.infer import pick_device
from ..regen.train import restoration_loss, to_tensor
from ..registry import load_model, save_model
from ..utils import metrics
from ..utils.stopsignal import Stopped, StopSignals
from .model import RecCNN, upscale

# Validation qualities and the rates (full-size bpp on the 192px held-out crops) at which the
# score is read. comrec is the low-rate mode (auto picks it below ~0.65 bpp) and issue 8's
# target lies below 0.13 bpp on Kodak (about 0.1-0.25 bpp on these more detailed crops), so the
# curve starts at quality 3 and the score includes 0.12 bpp.
VAL_QUALITIES = (3, 10, 30, 50)
SCORE_BPP = (0.12, 0.2, 0.3, 0.45)


@dataclass
class ComrecConfig:
    data: list[str]
    id: str
    standin: str = "jpeg"
    rounds: int = 6
    rec_steps: int = 500
    com_steps: int = 300
    batch: int = 16
    patch: int = 128
    lr: float = 5e-4
    seed: int = 0
    msssim_weight: float = 0.5
    qmin: int = 5
    qmax: int = 60
    patience: int = 1
    val_images: int = 24
    workdir: str = ""
    export_dir: str = ""
    rec_arch: dict = field(default_factory=dict)
    com_arch: dict = field(default_factory=dict)
    init_rec: str = ""  # start RecCNN from this regen/comrec model ID (or "")
    init: str = ""  # start both networks from this installed comrec pair (ID and ID-com)
    rate_weight: float = 0.0  # ComCNN loss += rate_weight * estimated bits per full-size pixel
    device: str = "auto"  # auto: a CUDA GPU when there is one (the real codec stays on the CPU)


def real_codec(compact: torch.Tensor, qualities) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Compact images through the real JPEG codec (on the CPU, with Pillow): (decoded [0,1],
    cond vectors, byte counts), the tensors on the compact images' device."""
    arrs = (compact.detach().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    decs, conds, sizes = [], [], []
    for a, q in zip(arrs, qualities):
        data = encode_jpeg(Image.fromarray(a), int(q), "4:2:0")
        im = open_jpeg(data)
        conds.append(cond_vector(read_info(im)))
        decs.append(np.array(im.convert("RGB")))
        sizes.append(len(data))
    dev = compact.device
    return to_tensor(np.stack(decs), dev), torch.from_numpy(np.stack(conds)).to(dev), sizes


def _tables(q: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The real luma / chroma tables Pillow writes at quality q (natural order)."""
    im = open_jpeg(encode_jpeg(Image.new("RGB", (8, 8)), q, "4:2:0"))
    info = read_info(im)
    return (torch.tensor(info.qtables[0], dtype=torch.float32),
            torch.tensor(info.qtables[1], dtype=torch.float32))


def pipeline(com, rec, x: torch.Tensor, qualities) -> tuple[torch.Tensor, list[int]]:
    """The real encode/decode of a batch: restored images and file sizes."""
    dec, cond, sizes = real_codec(com(x), qualities)
    return rec(upscale(dec, x.shape[-2:]), cond), sizes


def validate(com, rec, val: np.ndarray) -> dict:
    com.eval(), rec.eval()
    device = next(rec.parameters()).device
    row = {}
    with torch.no_grad():
        for q in VAL_QUALITIES:
            ms, ps, bpp = [], [], []
            for img in val:
                out, sizes = pipeline(com, rec, to_tensor(img[None], device), [q])
                res = (out.clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).cpu().numpy()
                ms.append(metrics.db(metrics.ms_ssim(img, res)))
                ps.append(metrics.psnr(img, res))
                bpp.append(sizes[0] * 8 / (img.shape[0] * img.shape[1]))
            row[f"msssim_db_q{q}"], row[f"psnr_q{q}"], row[f"bpp_q{q}"] = (
                float(np.mean(ms)), float(np.mean(ps)), float(np.mean(bpp)))
    row["score"] = score_at_rates(row)
    row["msssim_db_mean"] = float(np.mean([row[f"msssim_db_q{q}"] for q in VAL_QUALITIES]))
    com.train(), rec.train()
    return row


def score_at_rates(row: dict, qualities=VAL_QUALITIES, rates=SCORE_BPP) -> float:
    """Mean MS-SSIM dB at `rates` on the validation curve (linear in log bpp, extended
    linearly past its ends), from a validation row's msssim_db_q* and bpp_q* columns."""
    pts = sorted((float(row[f"bpp_q{q}"]), float(row[f"msssim_db_q{q}"])) for q in qualities)
    lb = np.log([b for b, _ in pts])
    ms = np.array([m for _, m in pts])
    out = []
    for target in np.log(rates):
        i = int(np.clip(np.searchsorted(lb, target) - 1, 0, len(lb) - 2))
        out.append(ms[i] + (ms[i + 1] - ms[i]) * (target - lb[i]) / (lb[i + 1] - lb[i]))
    return float(np.mean(out))


def _installed(cls, model_id: str) -> torch.nn.Module:
    """A trainable `cls` holding the weights of an installed model (any compatible role)."""
    src = load_model(model_id)
    net = cls(**src.config)
    net.load_state_dict(src.state_dict())
    return net


def train_comrec(cfg: ComrecConfig, resume: bool = False) -> tuple[Path, Path]:
    """Alternate until validation stops improving; export the best pair; returns their paths.
    A first SIGINT or SIGTERM drops the round under way, exports the best pair so far and raises
    codec.utils.stopsignal.Stopped (`result`: their paths, or None before any); a second stops at once."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    cfg.device = pick_device(cfg.device)  # auto -> cuda or cpu; a missing GPU fails here
    device = torch.device(cfg.device)
    work = Path(cfg.workdir or f"runs/{cfg.id}")
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "checkpoint.pt"
    if ckpt.exists() and not resume:
        raise SystemExit(f"{ckpt} exists: pass --resume to continue it, or choose another --workdir")
    files = D.list_images([Path(d) for d in cfg.data])
    tr, va = D.split(files)
    pool_path, val_path = work / "pool-train.npy", work / "pool-val.npy"
    if not pool_path.exists():
        np.save(pool_path, D.build_pool(tr, cfg.patch, cfg.seed))
    if not val_path.exists():
        try:
            val = D.build_pool(va, 192, cfg.seed + 1, 1)
        except ValueError:
            val = np.load(pool_path)[: cfg.val_images]
        np.save(val_path, val)
    pool, val = np.load(pool_path), np.load(val_path)[: cfg.val_images]

    com = ComCNN(**cfg.com_arch)
    rec = RecCNN(**cfg.rec_arch)
    if cfg.init_rec:
        rec = _installed(RecCNN, cfg.init_rec)
    if cfg.init:
        rec, com = _installed(RecCNN, cfg.init), _installed(ComCNN, f"{cfg.init}-com")
    com, rec = com.to(device), rec.to(device)
    rec.train()
    opt_rec = torch.optim.Adam(rec.parameters(), lr=cfg.lr)
    opt_com = torch.optim.Adam(com.parameters(), lr=cfg.lr)
    state = {"round": 0, "best": -1e9, "best_round": -1, "bad": 0, "elapsed": 0.0}
    if resume and ckpt.exists():
        ck = torch.load(ckpt, weights_only=True, map_location=device)
        com.load_state_dict(ck["com"]), rec.load_state_dict(ck["rec"])
        opt_com.load_state_dict(ck["opt_com"]), opt_rec.load_state_dict(ck["opt_rec"])
        state = json.loads(ck["state"])
        rng.bit_generator.state = json.loads(ck["rng"])
    standin = STANDINS[cfg.standin]
    tables = {q: tuple(t.to(device) for t in _tables(q)) for q in range(cfg.qmin, cfg.qmax + 1)}
    conds = {q: cond_vector(read_info(open_jpeg(encode_jpeg(Image.new("RGB", (8, 8)), q, "4:2:0"))))
             for q in tables}  # what RecCNN sees for a real file at each quality
    log = work / "log.csv"
    fields = ["round", "phase_loss_rec", "phase_loss_com", "elapsed_s", "score", "msssim_db_mean"] + [
        f"{k}_q{q}" for q in VAL_QUALITIES for k in ("msssim_db", "psnr", "bpp")]
    if not log.exists():
        with open(log, "w", newline="") as f:
            csv.DictWriter(f, fields).writeheader()
    (work / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    def batch():
        idx = rng.integers(0, len(pool), cfg.batch)
        imgs = [np.ascontiguousarray(np.rot90(pool[i], rng.integers(0, 4))) for i in idx]
        return to_tensor(np.stack(imgs), device), rng.integers(cfg.qmin, cfg.qmax + 1, cfg.batch)

    def save_checkpoint():
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"com": com.state_dict(), "rec": rec.state_dict(), "opt_com": opt_com.state_dict(),
                    "opt_rec": opt_rec.state_dict(), "state": json.dumps(state),
                    "rng": json.dumps(rng.bit_generator.state)}, tmp)
        os.replace(tmp, ckpt)

    def log_row(row):
        with open(log, "a", newline="") as f:
            csv.DictWriter(f, fields).writerow(row)

    if cfg.init and state["round"] == 0 and state["best_round"] < 0:
        row = validate(com, rec, val)  # the bar: what the initial pair already does
        row.update({"round": 0, "phase_loss_rec": "", "phase_loss_com": "", "elapsed_s": 0.0})
        log_row(row)
        tqdm.write(f"round 0 ({cfg.init}): validation MS-SSIM at {SCORE_BPP} bpp {row['score']:.3f} dB")
        state.update(best=row["score"], best_round=0)
        torch.save({"com": com.state_dict(), "rec": rec.state_dict()}, work / "best.pt")
        save_checkpoint()
    with StopSignals() as stop:
        while state["round"] < cfg.rounds and state["bad"] <= cfg.patience:
            t0 = time.time()
            r = state["round"] + 1
            losses_r, losses_c = [], []
            com.eval()
            for _ in tqdm(range(cfg.rec_steps), desc=f"round {r}: RecCNN", leave=False):
                if stop.requested:
                    break
                x, qs = batch()
                with torch.no_grad():
                    dec, cond, _ = real_codec(com(x), qs)
                loss = restoration_loss(rec(upscale(dec, x.shape[-2:]), cond), x, cfg.msssim_weight)
                opt_rec.zero_grad(), loss.backward(), opt_rec.step()
                losses_r.append(loss.item())
            com.train()
            rec.eval().requires_grad_(False)
            for _ in tqdm(range(cfg.com_steps), desc=f"round {r}: ComCNN ({cfg.standin})", leave=False):
                if stop.requested:
                    break
                x, qs = batch()
                comp = com(x)
                coded = torch.cat([standin(comp[i:i + 1], *tables[int(q)]) for i, q in enumerate(qs)])
                cond = torch.from_numpy(np.stack([conds[int(q)] for q in qs])).to(device)
                out = rec(upscale(coded, x.shape[-2:]), cond)
                loss = restoration_loss(out, x, cfg.msssim_weight)
                if cfg.rate_weight:
                    bits = torch.cat([rate_proxy(comp[i:i + 1], *tables[int(q)])
                                      for i, q in enumerate(qs)])  # per compact pixel
                    loss = loss + cfg.rate_weight * bits.mean() * comp[0, 0].numel() / x[0, 0].numel()
                opt_com.zero_grad(), loss.backward(), opt_com.step()
                losses_c.append(loss.item())
            rec.train().requires_grad_(True)
            if stop.requested:  # the unfinished round is dropped: --resume runs it again, the same
                break
            row = validate(com, rec, val)
            state["elapsed"] += time.time() - t0
            row.update({"round": r, "elapsed_s": round(state["elapsed"], 1),
                        "phase_loss_rec": float(np.mean(losses_r)) if losses_r else "",
                        "phase_loss_com": float(np.mean(losses_c)) if losses_c else ""})
            log_row(row)
            tqdm.write(f"round {r}: validation MS-SSIM at {SCORE_BPP} bpp {row['score']:.3f} dB "
                       f"(best {max(state['best'], row['score']):.3f})")
            state["round"] = r
            if row["score"] > state["best"]:
                state.update(best=row["score"], best_round=r, bad=0)
                torch.save({"com": com.state_dict(), "rec": rec.state_dict()}, work / "best.pt")
            else:
                state["bad"] += 1
            save_checkpoint()
    if stop.requested and not (work / "best.pt").exists():
        raise Stopped(stop.signum, None, f"stopped by {stop.name} before a round ended: nothing "
                      "to export; `--resume` continues from the checkpoint")
    if state["best_round"] == 0:
        tqdm.write(f"no round beat the initial pair {cfg.init}: exporting it unchanged")
    best = torch.load(work / "best.pt", weights_only=True, map_location="cpu")
    com, rec = com.cpu(), rec.cpu()
    com.load_state_dict(best["com"]), rec.load_state_dict(best["rec"])
    out_dir = Path(cfg.export_dir) if cfg.export_dir else work
    com_path = save_model(com, f"{cfg.id}-com", out_dir, arch="comcnn", mode="comcnn",
                          summary=f"ComCNN of {cfg.id} ({cfg.standin} stand-in)")
    rec_path = save_model(rec, cfg.id, out_dir, arch="reccnn", mode="comrec",
                          summary=f"RecCNN of {cfg.id}; encoder network {cfg.id}-com")
    (work / "train_record.json").write_text(json.dumps({
        "command": " ".join(sys.argv), "torch": torch.__version__,
        "hardware": f"{platform.node()} ({platform.processor() or platform.machine()}, "
                    f"{torch.get_num_threads()} threads, {cfg.device})",
        "train_files": len(tr), "val_files": len(va), "train_crops": int(len(pool)),
        "config": asdict(cfg), "rounds": state["round"], "best_round": state["best_round"],
        "best_score_msssim_db_at_rates": state["best"], "score_bpp": list(SCORE_BPP),
        "wall_time_s": round(state["elapsed"], 1),
        "weights": [str(com_path), str(rec_path)],
        "stopped_by_signal": stop.name if stop.requested else ""}, indent=2))
    if stop.requested:
        raise Stopped(stop.signum, (com_path, rec_path),
                      f"stopped by {stop.name} in round {state['round'] + 1}: exported the best "
                      f"pair so far (round {state['best_round']}); `--resume` continues")
    return com_path, rec_path
