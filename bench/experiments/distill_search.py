"""Distil the coefficient search into a one-pass predictor (bench/experiments/movenet.py).

    python -m bench.experiments.distill_search data  --n 1500      # searched crops of the pool -> bench/cache/distill/
    python -m bench.experiments.distill_search train --out bench/cache/movenet.safetensors

`data` runs the default search (codec.encoder.coefsearch, the rounds `--effort 20` runs) on random crops
of the training files of the pool (the files `train regen` trains on: never its held-out slice,
never Kodak, never the held-out photos) at qualities spread over the range encodes use, and
saves each crop's source, its rounded coefficients and the search's moves (one .npz per crop;
a rerun skips the crops already made, so it can be stopped and resumed). `train` fits the
predictor to those moves.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from codec.decoder.consistency import read_coefficients
from codec.encoder.coefsearch import SearchSettings, refine
from codec.format.jpeg import encode_jpeg
from codec.format.tables import DEFAULT_TABLES, get_table_set
from codec.regen import data as D
from codec.registry import DEFAULT_MODEL, load_model

root = Path(__file__).resolve().parents[2]

DATA = ["bsds432", "imagenet1k-sample", "realsr", "t91", "urban100-part"]
QUALITIES = [8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 90]


def rounded_file(rgb: np.ndarray, quality: int, ts) -> bytes:
    """The file the search starts from, made as `encode` makes it before searching."""
    return encode_jpeg(Image.fromarray(rgb), quality, ts.subsampling_for(quality), optimize=True,
                       qtables=ts.qtables(quality), trellis=ts.trellis)


def make_data(a) -> None:
    torch.set_num_threads(a.threads)
    files, _ = D.split(D.list_images([a.shared / "data/train" / d for d in DATA]))
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(len(files))
    net = load_model(a.model)
    ts = get_table_set(a.tables)
    a.cache.mkdir(parents=True, exist_ok=True)
    made, t0 = 0, time.time()
    for i in range(a.n):
        out = a.cache / f"{i:05d}.npz"
        r = np.random.default_rng([a.seed, i])
        if out.exists():
            continue
        p = files[order[i % len(files)]]
        img = D.load_clean(p, r)
        h, w = img.shape[:2]
        side = min(a.size, h // 16 * 16, w // 16 * 16)
        if side < 128:
            continue
        y, x = int(r.integers(0, h - side + 1)), int(r.integers(0, w - side + 1))
        crop = np.ascontiguousarray(img[y:y + side, x:x + side])
        q = int(r.choice(QUALITIES))
        data0 = rounded_file(crop, q, ts)
        data1 = refine(data0, crop, net, q, SearchSettings(rounds=a.rounds))
        c0, c1 = read_coefficients(data0), read_coefficients(data1)
        moves = [(b1.astype(np.int16) - b0).astype(np.int8) for b0, b1 in zip(c0.blocks, c1.blocks)]
        np.savez_compressed(out, rgb=crop, quality=q, factors=np.array(c0.factors),
                            **{f"c{k}": b for k, b in enumerate(c0.blocks)},
                            **{f"m{k}": m for k, m in enumerate(moves)},
                            **{f"q{k}": t for k, t in enumerate(c0.qtables)},
                            bytes0=len(data0), bytes1=len(data1), source=str(p.name))
        made += 1
        dt = time.time() - t0
        print(f"{i:5d} {p.name} {side}px q{q} moved {sum(int((m != 0).sum()) for m in moves)} "
              f"bytes {len(data0)}->{len(data1)}  ({dt / made:.1f} s/crop)", flush=True)


def make_rounds(a) -> None:
    """The search's first-round predictions (movenet.first_round) of each saved crop, beside it
    as NNNNN.round.npz (float16), skipping those already made."""
    from bench.experiments.movenet import first_round

    torch.set_num_threads(a.threads)
    net = load_model(a.model).eval()
    ts = get_table_set(a.tables)
    t0, made = time.time(), 0
    for f in sorted(a.cache.glob("[0-9]*[0-9].npz"))[:a.n]:
        out = f.with_suffix(".round.npz")
        if out.exists():
            continue
        z = np.load(f)
        q, rgb = int(z["quality"]), z["rgb"]
        data0 = rounded_file(rgb, q, ts)
        pred = first_round(net, rgb, data0, q)
        np.savez_compressed(out, **{f"r{k}": p.numpy().astype(np.float16) for k, p in enumerate(pred)})
        made += 1
        if made % 20 == 0:
            print(f"{made} crops, {(time.time() - t0) / made:.2f} s each", flush=True)


def load_items(cache: Path, limit: int | None = None, rounds: bool = False):
    """(features, targets, sample index) per component plane of every saved crop."""
    from bench.experiments.movenet import features, round_features, source_coefficients

    items = []
    for f in sorted(cache.glob("[0-9]*[0-9].npz"))[:limit]:
        if rounds and not f.with_suffix(".round.npz").exists():
            continue
        z = np.load(f)
        r = np.load(f.with_suffix(".round.npz")) if rounds else None
        factors = [tuple(int(v) for v in x) for x in z["factors"]]
        for k in range(3):
            c0 = torch.from_numpy(z[f"c{k}"].astype(np.float32))
            q = torch.from_numpy(z[f"q{k}"].astype(np.float32))
            src = source_coefficients(z["rgb"], c0.shape[:2], factors[k], k)
            x = features(c0, src, q, k > 0)
            if r is not None:
                x = torch.cat([x, round_features(torch.from_numpy(r[f"r{k}"].astype(np.float32)))])
            m = torch.from_numpy(z[f"m{k}"].astype(np.int64)).clamp(-1, 1) + 1  # by, bx, 8, 8
            y = m.reshape(*m.shape[:2], 64).permute(2, 0, 1).contiguous()  # 64, by, bx
            items.append((x, y, int(f.stem)))
    return items


def train(a) -> None:
    from safetensors.torch import save_file

    from bench.experiments.movenet import MoveNet

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    items = load_items(a.cache, rounds=a.with_rounds)
    val = [t for t in items if t[2] % 10 == 0]
    tr = [t for t in items if t[2] % 10 != 0]
    print(f"{len(tr)} training planes, {len(val)} validation planes", flush=True)
    net = MoveNet(a.width, a.blocks, items[0][0].shape[0])
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    weight = torch.tensor([a.move_weight, 1.0, a.move_weight])
    rng = np.random.default_rng(a.seed)
    t0, step = time.time(), 0
    total = a.minutes * 60

    def validate():
        net.eval()
        stats = {t: [0, 0, 0] for t in (0.15, 0.2, 0.3, 0.4)}  # right, predicted, true moves
        loss = 0.0
        with torch.no_grad():
            for x, y, _ in val:
                logit = net(x[None])
                loss += float(F.cross_entropy(logit, y[None], weight=weight))
                p = logit.softmax(1)[0]
                for t in stats:
                    pred = torch.where((p[2] >= p[0]) & (p[2] >= t), 2,
                                       torch.where((p[0] > p[2]) & (p[0] >= t), 0, 1))
                    stats[t][0] += int(((pred == y) & (y != 1)).sum())
                    stats[t][1] += int((pred != 1).sum())
                    stats[t][2] += int((y != 1).sum())
        net.train()
        return loss / max(1, len(val)), {t: (r / max(1, p), r / max(1, n)) for t, (r, p, n) in stats.items()}

    def batch(idx):
        hh = max(tr[i][0].shape[1] for i in idx)
        ww = max(tr[i][0].shape[2] for i in idx)
        x = torch.zeros(len(idx), tr[0][0].shape[0], hh, ww)
        y = torch.full((len(idx), 64, hh, ww), -100, dtype=torch.long)
        for n, i in enumerate(idx):
            xi, yi, _ = tr[i]
            x[n, :, :xi.shape[1], :xi.shape[2]] = xi
            y[n, :, :yi.shape[1], :yi.shape[2]] = yi
        return x, y

    while time.time() - t0 < total:
        frac = (time.time() - t0) / total
        for g in opt.param_groups:
            g["lr"] = a.lr * 0.5 * (1 + np.cos(np.pi * frac))
        opt.zero_grad()
        x, y = batch(rng.integers(0, len(tr), a.batch))
        lv = F.cross_entropy(net(x), y, weight=weight, ignore_index=-100)
        lv.backward()
        opt.step()
        loss = float(lv.detach())
        step += 1
        if step % a.report == 0:
            vl, st = validate()
            print(f"step {step} {time.time() - t0:.0f}s train {loss:.4f} val {vl:.4f} "
                  + " ".join(f"t{t}: P{p:.2f} R{r:.2f}" for t, (p, r) in st.items()), flush=True)
    vl, st = validate()
    print(f"final val {vl:.4f} " + " ".join(f"t{t}: P{p:.2f} R{r:.2f}" for t, (p, r) in st.items()))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(a.out),
              metadata={"width": str(a.width), "blocks": str(a.blocks), "inputs": str(net.inputs),
                        "crops": str(len({t[2] for t in items})), "steps": str(step)})
    print("wrote", a.out)


def evaluate_net(a) -> None:
    """BD-rates of MoveNet's files (and of the search's, with --rounds) against the rounded
    files on held-out crops, as bench/try_coefopt.py scores the search."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    from bench.experiments.movenet import MoveNet, apply, oneshot
    from bench.tuning import evaluate, load_crops, score
    from codec.format.shrink import shrink

    torch.set_num_threads(a.threads)
    model = load_model(a.model).eval()
    ts = get_table_set(a.tables)
    if a.photos:
        from bench.try_coefopt import photo_crops

        crops = photo_crops(a.photos, a.crops)
    else:
        crops = load_crops(a.shared, a.crops)
    qs = [int(x) for x in a.qualities.split(",")]
    meta, net = {}, None
    if a.threshold:
        with safe_open(str(a.net), "pt") as f:
            meta = f.metadata()
        net = MoveNet(int(meta["width"]), int(meta["blocks"]), int(meta.get("inputs", 193)))
        net.load_state_dict(load_file(str(a.net)))
        net.eval()
    post = lambda data, q: shrink(data)  # noqa: E731
    t0 = time.perf_counter()
    anchor = evaluate(model, crops, ts, post=post, consistency=True, qualities=qs)
    anchor_s = time.perf_counter() - t0
    rows = []
    variants = [("movenet", t) for t in a.threshold] + [("oneshot", k) for k in a.oneshot] + [
        (f"search-{p_}-{sh}", r) for r in a.rounds for p_ in a.precision or ["float32"]
        for sh in a.share or [SearchSettings.share]]
    for kind, v in variants:
        def encode(rgb, q, sub, tables, kind=kind, v=v):
            data = encode_jpeg(Image.fromarray(rgb), q, sub, qtables=tables)
            if kind == "movenet":
                return apply(data, rgb, net, v, model=model, quality=q)
            if kind == "oneshot":
                return oneshot(model, data, rgb, q, per_block=int(v))
            _, prec, share = kind.split("-")
            return refine(data, rgb, model, q,
                          SearchSettings(rounds=int(v), precision=prec, share=float(share)))
        t0 = time.perf_counter()
        test = evaluate(model, crops, ts, post=post, consistency=True, qualities=qs, encode=encode)
        r = {"kind": kind, "setting": v, "seconds": time.perf_counter() - t0,
             "anchor_seconds": anchor_s, **score(anchor, test), "bpp": test["bpp"]}
        rows.append(r)
        print(f"{kind} {v}: MS-SSIM {r['bd_msssim_db']:+.2f}% PSNR {r['bd_psnr']:+.2f}% "
              f"time {r['seconds'] / anchor_s:.2f}x the rounded files' evaluation", flush=True)
    if a.out:
        a.out.write_text(json.dumps({"command": "python -m bench.experiments.distill_search " + " ".join(sys.argv[1:]), "net": str(a.net),
                                     "net_meta": meta, "crops": len(crops), "qualities": qs,
                                     "rows": rows}, indent=1) + "\n")


class _Prepared:
    """One saved crop, ready for the end-to-end loss: features, rounded coefficients, steps,
    single-move bit changes, the network's condition, the search's loss at the rounded file."""

    def __init__(self, path: Path, ts, model):
        from bench.experiments.movenet import features, source_coefficients
        from codec.encoder.coefsearch import slope
        from codec.encoder.jpegrate import CodeLengths, move_bits
        from codec.format.jpeg import cond_vector, open_jpeg, read_info

        z = np.load(path)
        self.rgb = z["rgb"]
        self.quality = q = int(z["quality"])
        self.factors = [tuple(int(v) for v in x) for x in z["factors"]]
        data0 = rounded_file(self.rgb, q, ts)
        lengths = CodeLengths.of_file(data0)
        self.c0 = [torch.from_numpy(z[f"c{k}"].astype(np.float32)) for k in range(3)]
        self.q = [torch.from_numpy(z[f"q{k}"].astype(np.float32)) for k in range(3)]
        self.x = [features(c, source_coefficients(self.rgb, c.shape[:2], f, k), qt, k > 0)
                  for k, (c, qt, f) in enumerate(zip(self.c0, self.q, self.factors))]
        self.dbits = [move_bits(c, torch.from_numpy(d).float(), torch.from_numpy(a_).float())
                      for c, d, a_ in zip(self.c0, lengths.dc, lengths.ac)]
        self.cond = torch.from_numpy(cond_vector(read_info(open_jpeg(data0)))[None])
        self.ref = torch.from_numpy(np.array(self.rgb)).permute(2, 0, 1).float() / 255
        h, w = self.rgb.shape[:2]
        self.weight = 1.5 * slope(q) / (h * w)
        with torch.no_grad():
            self.base = float(self.quality_loss(model, self.c0))

    def quality_loss(self, model, cs):
        from codec.decoder.consistency import project_blocks
        from codec.encoder.coefsearch import decode_blocks, quality_db

        h, w = self.rgb.shape[:2]
        dec = decode_blocks(cs, self.q, self.factors, h, w)
        out = model(dec[None], self.cond)[0].clamp(0, 1)
        out = project_blocks(out[None], [c[None] for c in cs], [q[None] for q in self.q],
                             self.factors)[0]
        return -quality_db(out, self.ref)


def finetune(a) -> None:
    """Train MoveNet on the search's own objective: the restored picture's quality and the bits,
    through the frozen restoration network (straight-through hard moves)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from bench.experiments.movenet import MoveNet

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    model = load_model(a.model).eval()
    for p_ in model.parameters():
        p_.requires_grad_(False)
    ts = get_table_set(a.tables)
    with safe_open(str(a.init), "pt") as f:
        meta = f.metadata()
    net = MoveNet(int(meta["width"]), int(meta["blocks"]))
    net.load_state_dict(load_file(str(a.init)))
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    paths = sorted(a.cache.glob("*.npz"))
    tr = [p_ for p_ in paths if int(p_.stem) % 10 != 0]
    val = [p_ for p_ in paths if int(p_.stem) % 10 == 0][:a.val]
    prepared: dict[Path, _Prepared] = {}
    rng = np.random.default_rng(a.seed)

    def get(p_):
        if p_ not in prepared:
            prepared[p_] = _Prepared(p_, ts, model)
        return prepared[p_]

    def run(s: _Prepared, hard_only: bool = False):
        cs, bits = [], 0.0
        for x, c0, (dup, ddn) in zip(s.x, s.c0, s.dbits):
            prob = net(x[None]).softmax(1)[0]  # 3, 64, by, bx
            by, bx = c0.shape[:2]
            prob = prob.reshape(3, 8, 8, by, bx).permute(0, 3, 4, 1, 2)  # 3, by, bx, 8, 8
            hard = (prob.argmax(0) - 1).float()
            soft = prob[2] - prob[0]
            m = hard if hard_only else soft + (hard - soft).detach()
            cs.append(c0 + m)
            if hard_only:
                bits = bits + (dup * (hard > 0) + ddn * (hard < 0)).sum()
            else:
                bits = bits + (prob[2] * dup + prob[0] * ddn).sum()
        return s.quality_loss(model, cs) + s.weight * bits

    def validate():
        gains = []
        with torch.no_grad():
            for p_ in val:
                s = get(p_)
                gains.append(s.base - float(run(s, hard_only=True)))
        return float(np.mean(gains))

    print(f"start: mean loss fall on {len(val)} validation crops {validate():+.4f}", flush=True)
    t0, step, acc = time.time(), 0, []
    total = a.minutes * 60
    while time.time() - t0 < total:
        frac = (time.time() - t0) / total
        for g in opt.param_groups:
            g["lr"] = a.lr * 0.5 * (1 + np.cos(np.pi * frac))
        s = get(tr[int(rng.integers(0, len(tr)))])
        opt.zero_grad()
        loss = run(s)
        loss.backward()
        opt.step()
        acc.append(s.base - float(loss.detach()))
        step += 1
        if step % a.report == 0:
            print(f"step {step} {time.time() - t0:.0f}s train fall {np.mean(acc[-a.report:]):+.4f} "
                  f"val fall {validate():+.4f}", flush=True)
    print(f"final val fall {validate():+.4f}")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(a.out),
              metadata={**meta, "finetune_steps": str(step)})
    print("wrote", a.out)


def main() -> None:
    common = argparse.ArgumentParser(add_help=False)  # what every step may be told
    common.add_argument("--cache", type=Path, default=root / "bench/cache/distill",
                        help="the searched crops (and their first rounds)")
    common.add_argument("--model", default=DEFAULT_MODEL)
    common.add_argument("--tables", default=DEFAULT_TABLES)
    common.add_argument("--shared", type=Path, default=root.parent / "shared")
    common.add_argument("--seed", type=int, default=0)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def step(name: str, run, help: str, threads: int = 1) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, parents=[common])
        p.add_argument("--threads", type=int, default=threads)
        p.set_defaults(run=run)
        return p

    d = step("data", make_data, "search random crops of the pool's training files")
    d.add_argument("--n", type=int, default=1500)
    d.add_argument("--size", type=int, default=256)
    d.add_argument("--rounds", type=int, default=20)
    rd = step("rounds", make_rounds, "the search's first-round predictions of the saved crops",
              threads=2)
    rd.add_argument("--n", type=int, default=600)
    t = step("train", train, "fit MoveNet to the saved searches")
    t.add_argument("--out", type=Path, default=root / "bench/cache/movenet.safetensors")
    t.add_argument("--width", type=int, default=64)
    t.add_argument("--blocks", type=int, default=3)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--move-weight", type=float, default=3.0)
    t.add_argument("--minutes", type=float, default=10)
    t.add_argument("--report", type=int, default=50)
    t.add_argument("--with-rounds", action="store_true",
                   help="also feed the search's first-round predictions (made by `rounds`)")
    ft = step("finetune", finetune, "train MoveNet on the search's own loss")
    ft.add_argument("--init", type=Path, default=root / "bench/cache/movenet.safetensors")
    ft.add_argument("--out", type=Path, default=root / "bench/cache/movenet-ft.safetensors")
    ft.add_argument("--lr", type=float, default=3e-4)
    ft.add_argument("--minutes", type=float, default=10)
    ft.add_argument("--report", type=int, default=50)
    ft.add_argument("--val", type=int, default=24)
    e = step("eval", evaluate_net, "BD-rates of MoveNet's files on held-out crops")
    e.add_argument("--net", type=Path, default=root / "bench/cache/movenet.safetensors")
    e.add_argument("--threshold", type=float, action="append", default=[])
    e.add_argument("--rounds", type=int, action="append", default=[])
    e.add_argument("--oneshot", type=int, action="append", default=[],
                   help="the search's first round taken at once, this many moves per block")
    e.add_argument("--precision", action="append", choices=["float32", "bfloat16"], default=[],
                   help="the search's network arithmetic (repeatable; with --rounds)")
    e.add_argument("--share", type=float, action="append", default=[],
                   help="share of the coefficients the search's first round may move "
                        "(repeatable; with --rounds)")
    e.add_argument("--crops", type=int, default=16)
    e.add_argument("--photos", type=Path, default=None)
    e.add_argument("--qualities", default="8,15,25,40,60,80,92")
    e.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    a.run(a)

if __name__ == "__main__":
    main()
