"""`regen-codec train ...`: the training commands (a thin layer over codec.regen.train)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import CodecError
from ..format.modelid import check_model_id
from ..format.tables import get_table_set

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "train"


def _model_id(ctx, param, value: str) -> str:
    """--id checked before training starts, not when the result is saved hours later."""
    try:
        return check_model_id(value, "--id")
    except CodecError as exc:
        raise click.BadParameter(str(exc).removeprefix("--id: ")) from None


@click.group("train")
def train_group():
    """Train networks (see the model cards in codec/models for the commands used)."""


@train_group.command("regen")
@click.option("--data", "data", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of training images (repeatable; searched recursively). "
              "A fixed slice is held out for validation (see --val-fraction).")
@click.option("--pack", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Train on a crop pack (`regen-codec train pack`) instead of --data folders.")
@click.option("--id", "model_id", required=True, callback=_model_id,
              help="Model ID to register the result under.")
@click.option("--steps", default=20000, show_default=True, help="Optimizer steps in total.")
@click.option("--batch", default=16, show_default=True, help="Crops per step (per process).")
@click.option("--patch", default=128, show_default=True, help="Crop side in pixels.")
@click.option("--lr", default=1e-3, show_default=True, help="Peak learning rate (cosine decay).")
@click.option("--seed", default=0, show_default=True, help="Random seed (data, init, qualities).")
@click.option("--msssim-weight", default=0.5, show_default=True,
              help="Loss = L1 + W * (1 - MS-SSIM), on [0,1] pixel values.")
@click.option("--width1", default=32, show_default=True, help="Channels at half resolution.")
@click.option("--width2", default=64, show_default=True, help="Channels at quarter resolution.")
@click.option("--depth", default=6, show_default=True, help="Layers at quarter resolution.")
@click.option("--depth3", default=0, show_default=True, type=click.IntRange(0, 64),
              help="Layers of an eighth-resolution branch (0: none).")
@click.option("--width3", default=128, show_default=True, help="Channels at eighth resolution.")
@click.option("--val-every", default=1000, show_default=True, help="Validate every N steps.")
@click.option("--ckpt-every", default=250, show_default=True, help="Checkpoint every N steps.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Run folder for pools, checkpoint, log.csv, curves.png [default: runs/ID].")
@click.option("--export", "export_dir", type=click.Path(file_okay=False), default=None,
              help="Where the final weights go [default: the run folder]; install them with "
                   "`regen-codec models import`.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="auto = CUDA when available. Under torchrun each process "
              "takes its LOCAL_RANK GPU (or CPU with the gloo backend).")
@click.option("--summary", default="", help="One-line summary stored in the weights.")
@click.option("--init", default="", help="Fine-tune from an installed model ID or a .safetensors "
              "file (its architecture options win over --width1/--width2/--depth).")
@click.option("--grow-depth", default=0, show_default=True, type=click.IntRange(0, 64),
              help="With --init: append N quarter-resolution layers that start closed (the "
                   "deeper model begins as the init exactly) and fine-tune them with the rest.")
@click.option("--grow-coarse", default=0, show_default=True, type=click.IntRange(0, 64),
              help="With --init: add an eighth-resolution branch of N layers (--width3 "
                   "channels) that starts silent, and fine-tune it with the rest.")
@click.option("--grow-blend", is_flag=True,
              help="With --init: give each quarter- and eighth-resolution layer a second kernel, "
                   "mixed in per picture by its quality (starts at zero: the init exactly). More "
                   "parameters, the same multiply-accumulates per pixel at decode.")
@click.option("--val-fraction", type=click.FloatRange(0, 0.9, min_open=True), default=None,
              help="Hold out this fraction of the files (lowest name hashes) for validation "
                   "[default: one file in 25].")
@click.option("--tables", "tables", multiple=True, metavar="SET",
              help="Also code half of the crops with this quantization table set (repeatable; "
                   "see codec/format/tables.py), so the network learns the tuned tables too.")
@click.option("--tables-share", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="With --tables: the share of the crops coded with those sets (the rest get "
                   "standard tables).")
@click.option("--consistency", is_flag=True,
              help="Score the output after the DCT consistency step that `decode` applies "
                   "(codec/decoder/consistency.py), so the network learns to work with it.")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(0, 64),
              help="Processes that JPEG-code the batches (0: the training process). On a GPU, "
                   "use the CPU cores but two; the training process then keeps the cores they "
                   "leave for its own threads. Batches do not depend on it.")
@click.option("--time-limit", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Minutes of wall time: the learning rate anneals by steps or time, whichever "
                   "is further along, and the run exports its weights when time is up (0: none).")
@click.option("--amp", is_flag=True, help="bfloat16 autocast for the network while it trains "
              "(GPUs, and CPUs with AVX-512 BF16 or AMX: 1.6x faster steps here); validation and "
              "exported weights stay float32.")
@click.option("--device-jpeg/--cpu-jpeg", default=False, show_default=True,
              help="JPEG-code the crops on the training device (a torch copy of our encoder and "
                   "libjpeg's decoder, exact): the pool is uploaded once, no --workers needed. "
                   "Not for trellis table sets. --cpu-jpeg: Pillow codes them (--workers).")
@click.option("--ckpt-minutes", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Also checkpoint and export the weights every this many minutes (0: only by "
                   "--ckpt-every), so a run killed from outside keeps recent weights.")
@click.option("--resume", is_flag=True, help="Continue the checkpoint in the run folder.")
def train_regen(data, pack, model_id, steps, batch, patch, lr, seed, msssim_weight, width1, width2,
                depth, depth3, width3, val_every, ckpt_every, workdir, export_dir, device, summary,
                init, grow_depth, grow_coarse, grow_blend, val_fraction, tables, tables_share, consistency,
                workers, time_limit, amp, device_jpeg, ckpt_minutes, resume):
    """Train a regeneration network on random crops JPEG-coded at random qualities (5-95).

    Progress bar, checkpoints every --ckpt-every steps, `--resume` continues a killed run.
    Ctrl-C or SIGTERM stops it after the current step with a checkpoint and exported weights
    (exit status 130 or 143); a second Ctrl-C stops it at once. Works on CPU, on one GPU, or
    under `torchrun --nproc_per_node N` (DistributedDataParallel).
    Each step's batch depends on the seed, the process rank and the step alone.
    """
    from ..regen.train import TrainConfig, train  # PyTorch: not for `train --help`

    for t in tables:
        get_table_set(t)  # an unknown set fails before any work
    if (grow_depth or grow_coarse or grow_blend) and not init:
        raise click.UsageError("--grow-depth, --grow-coarse and --grow-blend grow the --init model: name one "
                               "with --init")
    if bool(data) == bool(pack):
        raise click.UsageError("name the training images with --data folders or with one --pack")
    if pack and val_fraction is not None:
        raise click.UsageError("--val-fraction splits --data folders; a pack's split is fixed")

    cfg = TrainConfig(data=list(data), pack=pack or "", workers=workers, time_limit=time_limit,
                      amp=amp, id=model_id, steps=steps, batch=batch, patch=patch, lr=lr,
                      seed=seed, msssim_weight=msssim_weight, val_every=val_every,
                      ckpt_every=ckpt_every, workdir=workdir or f"runs/{model_id}",
                      export_dir=export_dir or "", device=device, summary=summary,
                      arch=dict(width1=width1, width2=width2, depth=depth,
                                **(dict(depth3=depth3, width3=width3) if depth3 else {})),
                      init=init, val_fraction=val_fraction, tables=list(tables),
                      grow_depth=grow_depth, grow_coarse=grow_coarse, grow_blend=grow_blend, width3=width3,
                      tables_share=tables_share, consistency=consistency,
                      device_jpeg=device_jpeg, ckpt_minutes=ckpt_minutes)
    try:
        out = train(cfg, resume=resume)
    except ValueError as e:  # a bad pack, a patch the pack cannot give
        raise click.ClickException(str(e)) from None
    if out:
        click.echo(f"wrote {out}")


@train_group.command("pack")
@click.option("--data", "data", multiple=True, type=click.Path(exists=True, file_okay=False),
              required=True, help="Folder of training images (repeatable; searched recursively).")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="The pack to write (an .npz file; an existing one is not overwritten).")
@click.option("--patch", default=160, show_default=True, type=click.IntRange(16, 1024),
              help="Crop side; `train regen --patch` may then take any window up to it.")
@click.option("--max-mb", default=40.0, show_default=True, type=click.FloatRange(0.1),
              help="Size budget in MiB: a random share of the crops that fits is stored.")
@click.option("--seed", default=0, show_default=True, help="Random seed (crops and their choice).")
@click.option("--val-fraction", type=click.FloatRange(0, 0.9, min_open=True), default=None,
              help="As for `train regen` [default: one file in 25].")
@click.option("--shards", default=1, show_default=True, type=click.IntRange(1, 1000),
              help="Write this many packs of --max-mb each (OUT with -0, -1, ... before its "
                   "suffix), disjoint shares of the crops with the same validation crops: one "
                   "per device call when one call cannot carry the whole pool.")
def train_pack(data, out, patch, max_mb, seed, val_fraction, shards):
    """Pack training crops into one file, for a machine that has the repository but not the
    images (e.g. a GPU machine that gets only carried folders): `train regen --pack FILE`.

    Crops are cut as `train regen` cuts them, with its train / validation split of the files,
    and stored as lossless WebP (about half the raw size).
    """
    from ..regen.croppack import shard_paths, write_pack  # its data module imports PyTorch

    out = Path(out)
    for p in shard_paths(out, shards) if shards > 1 else [out]:
        if p.exists():
            raise click.ClickException(f"{p} exists; choose another --out or remove it first")
    try:
        result = write_pack([Path(d) for d in data], out, patch, max_mb, seed, val_fraction,
                            shards=shards)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    for path, info in result if shards > 1 else [(out, result)]:
        click.echo(f"wrote {path}: {info.train_crops} of {info.pool_crops} training crops "
                   f"({info.patch} px) from {info.train_files} files, {info.val_crops} validation "
                   f"crops ({info.val_patch} px) from {info.val_files} held-out files, "
                   f"{path.stat().st_size / 2 ** 20:.1f} MiB")
    if shards > 1 and len(result) < shards:
        click.echo(f"the crops filled {len(result)} of {shards} shards")


@train_group.command("comrec")
@click.option("--data", "data", multiple=True, type=click.Path(exists=True, file_okay=False),
              required=True, help="Folder of training images (repeatable).")
@click.option("--id", "model_id", required=True, callback=_model_id,
              help="ID of the RecCNN; the ComCNN is registered as ID-com.")
@click.option("--standin", type=click.Choice(["jpeg", "identity"]), default="jpeg",
              show_default=True, help="What replaces the JPEG codec while ComCNN trains.")
@click.option("--rounds", default=6, show_default=True, help="Most alternation rounds.")
@click.option("--rec-steps", default=500, show_default=True, help="RecCNN steps per round.")
@click.option("--com-steps", default=300, show_default=True, help="ComCNN steps per round.")
@click.option("--patience", default=1, show_default=True,
              help="Rounds without validation gain before stopping.")
@click.option("--batch", default=16, show_default=True, help="Crops per step.")
@click.option("--patch", default=128, show_default=True, help="Crop side (even).")
@click.option("--lr", default=5e-4, show_default=True, help="Adam learning rate.")
@click.option("--qmin", default=5, show_default=True, type=click.IntRange(1, 100),
              help="Lowest training quality.")
@click.option("--qmax", default=60, show_default=True, type=click.IntRange(1, 100),
              help="Highest training quality (qualities are uniform in qmin..qmax).")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option("--init-rec", default="", help="Start RecCNN from this installed model ID.")
@click.option("--init", "init_pair", default="",
              help="Start both networks from an installed comrec pair (ID and ID-com).")
@click.option("--rate-weight", default=0.0, show_default=True,
              help="Add this times ComCNN's estimated bits per pixel (a differentiable proxy, "
                   "about 0.4x the real count) to its loss, so it cannot buy quality with bytes.")
@click.option("--msssim-weight", default=0.5, show_default=True,
              help="Loss = L1 + W * (1 - MS-SSIM), on [0,1] pixel values (both networks).")
@click.option("--com-width", default=32, show_default=True, help="ComCNN channels.")
@click.option("--rec-width1", default=32, show_default=True, help="RecCNN half-res channels.")
@click.option("--rec-width2", default=64, show_default=True, help="RecCNN quarter-res channels.")
@click.option("--rec-depth", default=6, show_default=True, help="RecCNN quarter-res layers.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Run folder [default: runs/ID].")
@click.option("--export", "export_dir", type=click.Path(file_okay=False), default=None,
              help="Where the two weight files go [default: the run folder].")
@click.option("--resume", is_flag=True, help="Continue the checkpoint in the run folder.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Where the networks train (auto: a GPU when there is one); "
                                      "the real JPEG codec always runs on the CPU.")
def train_comrec(data, model_id, standin, rounds, rec_steps, com_steps, patience, batch, patch,
                 lr, qmin, qmax, seed, init_rec, init_pair, rate_weight, msssim_weight, com_width,
                 rec_width1, rec_width2, rec_depth, workdir, export_dir, resume, device):
    """Train ComCNN + RecCNN in alternation (the JPEG codec between them is not differentiable).

    Each round trains RecCNN on real JPEG outputs of the frozen ComCNN, then ComCNN through
    the frozen RecCNN with the codec replaced by --standin. Stops when validation (real
    codec at qualities 3/10/30/50, scored as MS-SSIM dB at 0.12/0.2/0.3/0.45 bpp) stops
    improving; with --init, round 0 is the initial pair's score. log.csv holds the history.
    Ctrl-C or SIGTERM drops the round under way and exports the best pair so far (exit status
    130 or 143); `--resume` continues.
    """
    from ..reccnn.train import ComrecConfig  # PyTorch: not for `train --help`
    from ..reccnn.train import train_comrec as run

    if qmin > qmax:
        raise click.UsageError(f"--qmin {qmin} is above --qmax {qmax}")

    cfg = ComrecConfig(data=list(data), id=model_id, standin=standin, rounds=rounds,
                       rec_steps=rec_steps, com_steps=com_steps, patience=patience, batch=batch,
                       patch=patch, lr=lr, qmin=qmin, qmax=qmax, seed=seed, init_rec=init_rec,
                       init=init_pair, rate_weight=rate_weight, msssim_weight=msssim_weight,
                       workdir=workdir or f"runs/{model_id}", export_dir=export_dir or "",
                       com_arch=dict(width=com_width),
                       rec_arch=dict(width1=rec_width1, width2=rec_width2, depth=rec_depth),
                       device=device)
    for p in run(cfg, resume=resume):
        click.echo(f"wrote {p}")
