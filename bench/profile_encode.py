"""Where the default encode's time goes: one Kodak-size picture, auto mode, the default effort,
at qualities 10 and 40, on the CPU.

Method: wall-clock timers wrapped around the encoder's own functions (nothing else changes), kept
as a tree: each stage's *exclusive* time (its own, less the stages inside it), under the path of
stages that called it, so the shares add up to the whole encode. Stages:

    load models                    registry loads (weights from disk; cached after the first)
    JPEG coding                    the encoder's JPEG, mozjpeg's rewrite (shrink), metadata
    ComCNN                         auto's half-size picture (once per image)
    search (regen) / search (comrec)   codec.encoder.coefsearch.refine, split into
        network forward            the restoration network, forward
        backward (all)             one backward pass through everything below
        differentiable decode      dequantize, IDCT, upsample, colour
        consistency/project        the projection onto the file's coefficient intervals
        quality loss               MS-SSIM dB + PSNR against the source
        bit counting               the Huffman bit count and each move's bit change
        (refine's own time)        move choice, top-k, JPEG read/write via libjpeg
    strength fit                   maker.fit_strength: a regen decode (network + consistency) + fit
    auto: comrec byte budget / bisection / comparisons   auto's extra comrec files and decodes

The backward pass is one call, so its split between the network, MS-SSIM and the projection is
measured apart (`backward_split`): forward and forward+backward of each part on the first
search window, 3 repetitions, on the same machine just after.

    .venv/bin/python -m bench.profile_encode --image ../shared/data/kodak/kodim05.png
        -> bench/results/encode-profile.json (and encode-profile.md beside it)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

root = Path(__file__).resolve().parents[1]


class Tree:
    """Exclusive wall time per path of nested stages."""

    def __init__(self) -> None:
        self.stack: list[list] = []  # [label, start, children's time]
        self.excl: dict[tuple[str, ...], float] = defaultdict(float)
        self.calls: dict[tuple[str, ...], int] = defaultdict(int)

    def wrap(self, fn, label):
        """`fn` timed as `label` (a string, or a function of the call's arguments)."""
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            name = label(*args, **kwargs) if callable(label) else label
            self.stack.append([name, time.perf_counter(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                name_, t0, child = self.stack.pop()
                dt = time.perf_counter() - t0
                path = tuple(s[0] for s in self.stack) + (name_,)
                self.excl[path] += dt - child
                self.calls[path] += 1
                if self.stack:
                    self.stack[-1][2] += dt
        return timed

    def reset(self) -> None:
        self.excl.clear()
        self.calls.clear()


def instrument(tree: Tree) -> dict:
    """Wrap the encoder's stages; returns a holder that receives the first search object."""
    import torch

    # each function is wrapped where it is called from: the modules import it by name
    import codec.api as api
    import codec.decoder.restore as restore
    import codec.encoder.auto as auto
    import codec.encoder.coefsearch as cs
    import codec.encoder.maker as maker
    import codec.encoder.target as target
    import codec.utils.metrics as metrics

    held: dict = {}
    w = tree.wrap
    api.encode = w(api.encode, "encode: reading the picture, the rest")
    maker._registry_load = w(maker._registry_load, "load models")
    restore._registry_load = w(restore._registry_load, "load models")
    maker.encode_jpeg = w(maker.encode_jpeg, "JPEG coding")
    maker.shrink = w(maker.shrink, "JPEG coding")
    maker.write_meta = w(maker.write_meta, "JPEG coding")
    maker.fit_strength = w(maker.fit_strength, "strength fit")
    restore.regenerate = w(restore.regenerate, "network (decode)")
    auto.restored_array = w(auto.restored_array, "auto: comparison decodes")
    target.restored_array = w(target.restored_array, "auto: comparison decodes")
    maker.fit = w(maker.fit, "strength fit: the least-squares fit")
    restore.make_consistent = w(restore.make_consistent, "consistency (decode)")
    restore.restore_comrec = w(restore.restore_comrec, "network (RecCNN decode)")
    maker.compact = w(maker.compact, "ComCNN")
    metrics.ms_ssim = w(metrics.ms_ssim, "metrics")
    metrics.psnr = w(metrics.psnr, "metrics")
    auto.best_within = w(auto.best_within, "auto: comrec byte budget")
    auto.smallest_passing = w(auto.smallest_passing, "auto: comrec bisection")
    maker.refine = w(maker.refine, lambda *a, **k: "search (comrec)" if k.get("comrec") else "search (regen)")
    cs.decode_blocks = w(cs.decode_blocks, "differentiable decode")
    cs.project_blocks = w(cs.project_blocks, "consistency/project")
    cs.quality_db = w(cs.quality_db, "quality loss (MS-SSIM, PSNR)")
    cs.block_bits = w(cs.block_bits, "bit counting")
    cs.move_bits = w(cs.move_bits, "bit counting")
    torch.Tensor.backward = w(torch.Tensor.backward, "backward (all)")
    init = cs._Search.__init__

    def search_init(self, model, *args, **kwargs):
        init(self, model, *args, **kwargs)
        self.model = w(model, "network forward")
        held.setdefault("search", self)
        held.setdefault("net", model)

    cs._Search.__init__ = search_init
    return held


def backward_split(search, net, reps: int = 3) -> dict:
    """Forward and forward+backward seconds of each part of one search evaluation, on the first
    window of `search` (the first tile with its context)."""
    import torch

    import codec.encoder.coefsearch as cs
    from codec.decoder.consistency import project_blocks

    for p in net.parameters():  # as refine() runs it: no gradients for the weights
        p.requires_grad_(False)
    tile = search.tiles()[0]
    win = search._window(*tile)
    blocks = win.take(search.c0)
    (wy0, wy1, wx0, wx1) = win.outer
    h, w = wy1 - wy0, wx1 - wx0
    decode = cs.decode_blocks.__wrapped__
    qdb = cs.quality_db.__wrapped__

    def timed(fn, backward: bool) -> float:
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            out = fn()
            if backward:
                torch.Tensor.backward.__wrapped__(out.sum())
            best = min(best, time.perf_counter() - t0)
        return best

    def dec():
        cs_ = [t.clone().requires_grad_(True) for t in blocks]
        return decode(cs_, search.q, search.f, h, w)

    x = dec().detach()
    ref = torch.rand_like(x)
    xr = x.clone().requires_grad_(True)
    out = net(x[None], search.cond)[0].detach()
    outr = out.clone().requires_grad_(True)
    bl = [t[None] for t in blocks]
    parts = {
        "differentiable decode": dec,
        "network": lambda: net(xr[None], search.cond),
        "consistency/project": lambda: project_blocks(outr[None], bl, [q[None] for q in search.q],
                                                      search.f),
        "quality loss (MS-SSIM, PSNR)": lambda: qdb(outr, ref, search.s.msssim_weight),
    }
    res = {}
    for name, fn in parts.items():
        f, fb = timed(fn, False), timed(fn, True)
        res[name] = {"forward_s": round(f, 4), "forward_backward_s": round(fb, 4),
                     "backward_s": round(fb - f, 4)}
    res["window_pixels"] = [h, w]
    return res


GROUPS = {  # leaf stages -> the rows of the summary
    "network forward": "search: network forward",
    "backward (all)": "search: backward (network, MS-SSIM, projection, decode)",
    "quality loss (MS-SSIM, PSNR)": "search: MS-SSIM + PSNR loss (forward)",
    "bit counting": "search: bit counting",
    "consistency/project": "search: consistency/project (forward)",
    "differentiable decode": "search: differentiable decode (forward)",
    "search (regen)": "search: move choice, libjpeg read/write",
    "search (comrec)": "search: move choice, libjpeg read/write",
}


def render_md(res: dict) -> str:
    """The short summary beside the JSON: shares per stage, by quality, and where the search's
    stages sit (regen search, comrec searches of auto's step 3)."""
    lines = [f"# Where the default encode's time goes ({res['image']}, {res['size'][0]}x"
             f"{res['size'][1]}, {res['mode']} mode, effort {res['effort']}, CPU, "
             f"{res['torch_threads']} threads)", "",
             f"Made by `{res['reproduce']}`; {res['method']}.", "",
             f"Machine: {res['shared_machine']} (load average {res.get('load_average_start')} at "
             f"the start, {res.get('load_average_end')} at the end): the absolute seconds are "
             "inflated by the other jobs; the shares are the figures to read.", ""]
    for q, run in res["runs"].items():
        lines += [f"## Quality {q}: {run['seconds']} s, {run['mpx_per_s']} MP/s, kept "
                  f"{run['mode_kept']}", "", "| stage | seconds | share |", "|---|---:|---:|"]
        for k, v in run["by_stage"].items():
            lines.append(f"| {GROUPS.get(k, k)} | {v['seconds']} | {100 * v['share']:.1f}% |")
        search = {"regen": 0.0, "comrec": 0.0}
        for r in run["by_path"]:
            for kind in search:
                if f"search ({kind})" in r["path"]:
                    search[kind] += r["seconds"]
        lines += ["", f"Inside the searches: regen {search['regen']:.1f} s "
                  f"({100 * search['regen'] / run['seconds']:.1f}%), comrec (auto's step 3) "
                  f"{search['comrec']:.1f} s ({100 * search['comrec'] / run['seconds']:.1f}%).", ""]
    split = res.get("backward_split_first_window")
    if split:
        lines += ["## The backward pass split (first search window, "
                  f"{split['window_pixels'][0]}x{split['window_pixels'][1]} pixels, best of 3)", "",
                  "| part | forward s | forward+backward s |", "|---|---:|---:|"]
        for k, v in split.items():
            if isinstance(v, dict):
                lines.append(f"| {k} | {v['forward_s']} | {v['forward_backward_s']} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--md-only":  # re-render the summary of a JSON
        path = Path(sys.argv[2])
        path.with_suffix(".md").write_text(render_md(json.loads(path.read_text())))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path, default=root.parent / "shared/data/kodak/kodim05.png")
    ap.add_argument("--qualities", default="10,40")
    ap.add_argument("--out", type=Path, default=root / "bench/results/encode-profile.json")
    a = ap.parse_args()
    os.environ.pop("REGEN_CODEC_EFFORT", None)

    import numpy as np
    import torch
    from PIL import Image

    import codec
    import codec.api as api
    import codec.encoder.maker as maker
    from codec.batch.threads import configure
    from codec.encoder.effort import default_level
    from codec.registry import DEFAULT_MODE

    threads = configure()
    load0 = [round(x, 2) for x in os.getloadavg()]
    tree = Tree()
    held = instrument(tree)
    rgb = np.asarray(Image.open(a.image).convert("RGB"))
    mpx = rgb.shape[0] * rgb.shape[1] / 1e6
    runs = {}
    for q in [int(v) for v in a.qualities.split(",")]:
        maker._search_memo.clear()
        maker._fitted.clear()
        tree.reset()
        t0 = time.perf_counter()
        data = api.encode(rgb, q)
        total = time.perf_counter() - t0
        info = codec.info(data)
        stages = sorted(({"path": " > ".join(p), "seconds": round(s, 3),
                          "share": round(s / total, 4), "calls": tree.calls[p]}
                         for p, s in tree.excl.items()), key=lambda r: -r["seconds"])
        by_stage: dict[str, float] = defaultdict(float)
        for p, s in tree.excl.items():
            by_stage[p[-1]] += s
        runs[str(q)] = {
            "seconds": round(total, 2), "mpx_per_s": round(mpx / total, 4),
            "mode_kept": info.metadata["mode"], "bytes": len(data),
            "by_stage": {k: {"seconds": round(v, 3), "share": round(v / total, 4)}
                         for k, v in sorted(by_stage.items(), key=lambda kv: -kv[1])},
            "by_path": stages,
        }
        print(f"q{q}: {total:.1f} s, {info.metadata['mode']}", flush=True)
        for k, v in list(runs[str(q)]["by_stage"].items())[:12]:
            print(f"  {k:32s} {v['seconds']:8.2f} s {100 * v['share']:5.1f}%")
    split = backward_split(held["search"], held["net"]) if "search" in held else None
    res = {
        "image": a.image.name, "size": [rgb.shape[1], rgb.shape[0]], "mode": DEFAULT_MODE,
        "effort": default_level("cpu"), "device": "cpu", "torch_threads": threads,
        "runs": runs, "backward_split_first_window": split,
        "method": "wall-clock timers around the encoder's functions (exclusive time per path of "
                  "stages); the backward split measured apart on the first search window",
        "machine": platform.machine(), "torch": torch.__version__,
        "shared_machine": "yes: other jobs ran on this 2-core machine meanwhile",
        "reproduce": f".venv/bin/python -m bench.profile_encode --image {a.image} "
                     f"--qualities {a.qualities}",
    }
    res["load_average_start"], res["load_average_end"] = load0, [round(x, 2) for x in os.getloadavg()]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    a.out.with_suffix(".md").write_text(render_md(res))
    print(json.dumps(split, indent=1))


if __name__ == "__main__":
    main()
