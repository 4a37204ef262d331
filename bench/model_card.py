"""Write a shipped model's card (codec/models/<id>.md) from its training record and bench results.

Every figure in a card comes from a file: train_record.json and log.csv (written by
`regen-codec train` into runs/<id>/, which is not committed: this script copies them, with
curves.png, into bench/results/training/<id>/ so they are kept), the weights' own metadata, and
the summary.json of each bench results folder named with --results. Run after training and
benchmarking:

    .venv/bin/python -m bench.model_card regen-fast --results bench/results/kodak
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

from codec.reccnn.train import score_at_rates
from codec.registry import find_model

root = Path(__file__).resolve().parents[1]


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


def _comrec_training(rec: dict, log: list[dict], cmd: str, kept: Path) -> list[str]:
    """The training section of a comrec card: the alternation, round by round."""
    cfg = rec["config"]
    L = ["## Training (alternating)", "", "```sh", cmd, "```", "",
         f"- data: {', '.join(Path(d).name for d in cfg['data'])} from `../shared/data/train` "
         f"({rec['train_files']} training files, {rec['val_files']} held out for validation; "
         +
         (f"{rec['train_crops']:,} " if rec.get("train_crops") else "") + f"random {cfg['patch']}px crops)",
         (f"- both networks initialized from the comrec pair {cfg['init']}" if cfg.get("init") else
          f"- RecCNN initialized from: {cfg['init_rec'] or 'random (seed)'}; ComCNN starts as the "
          "bicubic 2x downscale (its correction branch is zero-initialized)"),
         f"- each round: {cfg['rec_steps']} RecCNN steps on real JPEG codings (qualities "
         f"{cfg['qmin']}-{cfg['qmax']}, 4:2:0) of the current ComCNN's output, then "
         f"{cfg['com_steps']} ComCNN steps through the frozen RecCNN with the `{cfg['standin']}` "
         f"stand-in for the codec; batch {cfg['batch']}, Adam lr {cfg['lr']}, loss L1 + "
         f"{cfg['msssim_weight']} (1 - MS-SSIM)"
         + (f" + {cfg['rate_weight']} x estimated bits per pixel for ComCNN"
            if cfg.get("rate_weight") else "") + f", seed {cfg['seed']}",
         f"- {rec['rounds']} rounds (at most {cfg['rounds']}, patience {cfg['patience']}); the "
         f"best round ({rec['best_round']}) is exported",
         f"- wall time {rec['wall_time_s'] / 60:.0f} min on {rec['hardware']}, torch {rec['torch']}",
         f"- record and log: `{kept.relative_to(root)}/`", "",
         "Validation (held-out crops, the real pipeline: ComCNN, JPEG, RecCNN), per round"
         + (" (round 0: the initial pair)" if log and log[0]["round"] == "0" else "") + ":", ""]
    # the rate-aware score, recomputed from the logged points at the run's rates (older logs
    # held another score, and older runs read it at 0.2 / 0.3 / 0.45 bpp from qualities 10-50)
    rates = rec.get("score_bpp", [0.2, 0.3, 0.45])
    qs = [q for q in (1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 60) if log and log[0].get(f"bpp_q{q}")]
    L += ["| round | score: MS-SSIM dB at " + " / ".join(map(str, rates)) + " bpp | "
          + " | ".join(f"q{q} MS-SSIM dB / bpp" for q in qs) + " |", "|---" * (2 + len(qs)) + "|"]
    for r in log:
        L.append(f"| {r['round']} | {score_at_rates(r, qs, rates):.3f} | " + " | ".join(
            f"{float(r[f'msssim_db_q{q}']):.2f} / {float(r[f'bpp_q{q}']):.3f}" for q in qs) + " |")
    return L + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("id")
    ap.add_argument("--results", type=Path, action="append", default=[],
                    help="bench results folder (repeatable)")
    ap.add_argument("--compare", default=None, help="another model to compare with in each folder")
    ap.add_argument("--note", action="append", default=[], help="a paragraph to add (repeatable)")
    ap.add_argument("--workdir", type=Path, default=None)
    a = ap.parse_args()
    info = find_model(a.id)
    work = a.workdir or root / "runs" / a.id
    kept = root / "bench/results/training" / a.id
    if (work / "train_record.json").exists():
        kept.mkdir(parents=True, exist_ok=True)
        for name in ("train_record.json", "log.csv", "curves.png"):
            if (work / name).exists():
                shutil.copyfile(work / name, kept / name)
    rec = json.loads((kept / "train_record.json").read_text())
    log = list(csv.DictReader(open(kept / "log.csv"))) if (kept / "log.csv").exists() else []
    cfg = rec["config"]
    cmd = rec["command"].split(" ", 1)[1] if " " in rec["command"] else rec["command"]
    cmd = "regen-codec " + cmd.split("train ", 1)[-1] if "train " in cmd else cmd
    if not cmd.startswith("regen-codec train"):
        cmd = "regen-codec train " + cmd.split("regen-codec ", 1)[-1]
    cmd = cmd.replace(str(root.parent / "shared"), "../shared")
    L = [f"# {a.id}", "", info.summary, "",
         "| | |", "|---|---|",
         f"| file | `{info.path.name}` |", f"| sha256 | `{info.sha256}` |",
         f"| mode | {info.mode} |", f"| architecture | `{info.arch}` {json.dumps(info.config)} |",
         f"| parameters | {info.params:,} |",
         f"| multiply-accumulates per pixel | {info.macs_per_pixel:,} (PyTorch FlopCounterMode) |"]
    if info.mode == "comrec":
        com = find_model(f"{a.id}-com")
        L += [f"| encoder network (ComCNN) | `{com.path.name}`, {com.params:,} parameters, "
              f"{com.macs_per_pixel:,} MACs per input pixel, sha256 `{com.sha256}` |"]
    L.append("")
    if info.mode == "comrec":
        L += _comrec_training(rec, log, cmd, kept)
    else:
        L += ["## Training", "",
             "```sh", cmd, "```", "",
             f"- data: {', '.join(Path(d).name for d in cfg['data'])} from `../shared/data/train` "
             f"({rec['train_files']} training files, {rec['val_files']} held out for validation by "
             f"file-name hash; " + (f"{rec['train_crops']:,} " if rec.get("train_crops") else "")
             + f"random {cfg['patch']}px crops; JPEG-sourced images downscaled first)",
             f"- initialized from: {cfg['init'] or 'random (seed)'}"
             + (f", grown by {cfg['grow_depth']} quarter-resolution layers (`--grow-depth`)"
                if cfg.get("grow_depth") else "")
             + (f", grown by a silent eighth-resolution branch of {cfg['grow_coarse']} layers x "
                f"{cfg.get('width3', 128)} channels (`--grow-coarse`)" if cfg.get("grow_coarse") else "")
             + (f"; table sets mixed in: {', '.join(cfg['tables'])}" if cfg.get("tables") else ""),
             f"- {rec['steps']:,} steps of batch {cfg['batch']}, Adam, peak lr {cfg['lr']}, 500-step "
             f"warm-up then cosine; loss L1 + {cfg['msssim_weight']} (1 - MS-SSIM)"
             + (" of the output after decode's DCT consistency step (codec/decoder/consistency.py)"
                if cfg.get("consistency") else "") + f"; seed {cfg['seed']}"
             + ("; bfloat16 autocast in the training steps (`--amp`; validation and weights float32)"
                if cfg.get("amp") else ""),
             "- JPEG qualities uniform in 5-95, subsampling 4:2:0 (80%), 4:2:2 and 4:4:4 (10% each), "
             "coded by the same Pillow encoder as `encode`",
             (f"- wall time {rec['wall_time_s'] / 60:.0f} min" if rec.get("wall_time_s") else
              "- wall time not recorded") + f" on {rec['hardware']}, torch {rec['torch']}",
             f"- record, log and curves: `{kept.relative_to(root)}/`"
             + ("" if log else " (the log of this run was lost; see the note below)"), ""]
    if rec.get("reconstructed"):
        L += [f"Note on this record: {rec['reconstructed']}", ""]
    val = [r for r in log if r.get("psnr_gain_q10")]
    if val:
        last = val[-1]
        qs = sorted({int(k.split("_q")[1]) for k in last if k.startswith("psnr_gain_q")})
        L += [f"## Validation (held-out crops of the training pool, step {last['step']})", "",
              "| JPEG quality | " + " | ".join(map(str, qs)) + " |", "|---" * (len(qs) + 1) + "|",
              "| PSNR gain (dB) | " + " | ".join(f"{float(last[f'psnr_gain_q{q}']):+.2f}" for q in qs) + " |",
              "| MS-SSIM gain (dB) | " + " | ".join(
                  f"{float(last[f'msssim_db_gain_q{q}']):+.2f}" for q in qs) + " |", ""]
    for res in a.results:
        s = json.loads((res / "summary.json").read_text())
        rel = res.resolve().relative_to(root)
        L += [f"## Measured: `{rel}`", ""]
        bd = s["bd_rate"].get(a.id)
        if bd:
            L.append(f"- BD-rate against plain Pillow JPEG: MS-SSIM (dB) {_pct(bd['msssim_db'])}, "
                     f"PSNR {_pct(bd['psnr'])}")
        for extra in (f"{a.id}+jxl", a.compare):
            if extra and extra in s["bd_rate"]:
                b = s["bd_rate"][extra]
                L.append(f"- {extra}, for comparison: MS-SSIM (dB) {_pct(b['msssim_db'])}, "
                         f"PSNR {_pct(b['psnr'])}")
        reg, gain = s["regressions"].get(a.id, {}), s["gains"].get(a.id, {})
        if reg:
            qs = sorted(reg, key=int)
            L += ["", "| quality | " + " | ".join(qs) + " |", "|---" * (len(qs) + 1) + "|",
                  "| images worse than plain decode (PSNR or MS-SSIM) | "
                  + " | ".join(str(reg[q]["either"]) for q in qs) + " |",
                  "| PSNR gain (dB) | " + " | ".join(f"{gain[q]['psnr_db']:+.2f}" for q in qs) + " |",
                  "| MS-SSIM gain (dB) | " + " | ".join(f"{gain[q]['msssim_db']:+.2f}" for q in qs) + " |"]
        sp = s["speed"].get(a.id)
        if sp:
            L += ["", f"- decode speed {sp['decode_mpx_s']:.2f} MP/s on this benchmark's machine "
                      f"(plain JPEG decode {s['speed']['jpeg']['decode_mpx_s']:.0f} MP/s in the same results; "
                      "rows resumed from the bench cache keep the timings of the run that measured "
                      "them, so this is a same-run ratio only when both were measured afresh)"]
        L.append("")
    L += a.note
    args = [f'"(note {a.note.index(v) + 1} above)"' if prev == "--note" else v
            for prev, v in zip([""] + sys.argv[1:], sys.argv[1:])]  # the notes are printed above
    L += ["", "Card written by `.venv/bin/python -m bench.model_card "
          + " ".join(args).replace(str(root) + "/", "") + "`.", ""]
    (info.path.parent / f"{a.id}.md").write_text("\n".join(L))
    print(f"wrote {info.path.parent / f'{a.id}.md'}")


if __name__ == "__main__":
    main()
