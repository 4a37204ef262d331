"""`--mode auto`: choose, per image, between the full-size route (regen) and the half-size
route (comrec): for the restored quality the regen file gives, whichever costs fewer bytes.

Rule, for a requested quality Q:
1. make the regen file at Q; if it costs at least AUTO_MAX_BPP bits per pixel, keep it
   (at such rates shrinking never won on held-out training images: see
   bench/results/comrec/crossover.json, made by bench/comrec_crossover.py);
2. else restore it, and find the smallest comrec file that restores better than it in both
   MS-SSIM and PSNR and is no larger; keep that if there is one, the regen file otherwise
   (ties, mixed verdicts, or no comrec file fits);
3. with the coefficient search on (`effort` > 0), search the kept comrec file's coefficients
   through RecCNN (codec.encoder.coefsearch: a searched file restores better per byte), and step its
   quality down while the searched file still passes and fits: keep the smallest.
Sizes are those of the file written: with `--pack jxl` the packed size (comrec's small files
pack less well, so comparing JPEG sizes let auto's packed files outgrow regen's packed files).
So auto never spends more bytes than regen at Q and, per image, is never worse than regen in
either measure: Q names a restored quality whichever route auto takes, and comrec's gain is
spent on bytes. Below the threshold this costs one regen decode and a handful of comrec
decodes (a bisection over comrec's quality), and where comrec wins, a coefficient search per
quality tried (about three, going by bench/auto_speed.py's times).
History: until 2026-11-25 MS-SSIM alone decided (that bought MS-SSIM with PSNR: on Kodak +0.7
points of MS-SSIM BD-rate, -3.8 in PSNR); until 2026-12-06 auto kept the best comrec file
within the regen file's JPEG bytes (rule "both-0.4"): higher quality at Q instead of fewer bytes;
until 2026-12-06 (rule "match-0.4") comrec files were not searched.
With a target (`--target-*`, `--max-bytes`), codec.encoder.target searches both modes and keeps the
smaller passing file (the better one for a byte budget).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..format.pack import packed_size
from ..io.imageio import SourceImage
from ..regen.infer import pick_device
from ..utils import metrics, progress
from .effort import resolve
from .maker import candidate_models, file_maker, regen_file, restored_array
from .options import EncodeOptions
from .target import Target, search

# Regen files at or above this rate skip the comparison. Measured on held-out crops
# (bench/comrec_crossover.py, regen-fast-tuned vs comrec-r7, file format 2): the mean curves
# cross at 0.57 bpp in MS-SSIM dB and 0.39 bpp in PSNR, and with the threshold lifted comrec
# won in both measures for no crop whose regen file was above 0.36 bpp (format 1: one crop at
# 0.417), so above 0.4 the comparison would be wasted work.
AUTO_MAX_BPP = 0.4
#: Part of the benchmark's cache key for auto: change it whenever the rule or threshold changes
#: (RULE_VERSION: files made without the coefficient search; SEARCHED_RULE_VERSION: with it).
RULE_VERSION = "match-0.4"
SEARCHED_RULE_VERSION = "matchcs-0.4"  # step 3: comrec files searched too


@dataclass
class Choice:
    """The file auto mode keeps, and why."""

    mode: str
    quality: int
    data: bytes
    msssim: dict[str, float]  # per mode compared (empty when the threshold decided)
    psnr: dict[str, float]


def best_within(make, max_bytes: int, size=len) -> tuple[int, bytes] | None:
    """The highest quality whose file fits in `max_bytes` (as measured by `size`): codec.encoder.target's
    byte-budget search (bisection, then the settings just above the answer, since size is not
    strictly monotonic)."""
    res = search(None, Target(max_bytes=max_bytes), make, restore=None, size=size)
    return None if res.quality is None else (res.quality, res.data)


def smallest_passing(make, passes, hi: int) -> tuple[int, bytes] | None:
    """The lowest quality in 1..`hi` whose file `passes`, by bisection from `hi` (None if `hi`'s
    file fails). Restored quality rises with the setting nearly but not strictly, so a lower
    passing setting can exist below a failing one: this is the bisection's answer, no proof."""
    files = {hi: make(hi)}
    if not passes(files[hi]):
        return None
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        files[mid] = make(mid)
        lo, hi = (lo, mid) if passes(files[mid]) else (mid + 1, hi)
    return hi, files[hi]


def choose(src: SourceImage, options: EncodeOptions, *, max_bpp: float | None = None,
           search_comrec: bool = True) -> Choice:
    """Apply the rule in this module's docstring to one image at `options.quality` (`options.model`
    replaces the default of its own mode; `max_bpp` replaces AUTO_MAX_BPP, e.g. inf to always
    compare, as bench/comrec_crossover.py does).
    `options.allocate`: the regen file's quality is chosen per image (codec.encoder.allocate,
    maker.regen_file). `options.pack`: the file will be packed as JPEG XL, so sizes are
    compared packed. `search_comrec=False` skips step 3 (rule match-0.4; bench/auto_speed.py
    times both)."""
    opts = options
    device, effort, for_pack = opts.device, opts.effort, opts.for_pack
    regen_id, comrec_id = candidate_models(opts.model)
    rq, regen = regen_file(src, opts, regen_id)
    if len(regen) * 8 / (src.size[0] * src.size[1]) >= (AUTO_MAX_BPP if max_bpp is None else max_bpp):
        return Choice("regen", rq, regen, {}, {})
    if min(src.size) < metrics.MSSSIM_MIN_SIDE:  # too small to compare by MS-SSIM: keep regen
        return Choice("regen", rq, regen, {}, {})
    size = packed_size if for_pack else len
    # one file per comrec quality: the budget search and the bisection below probe some alike
    with progress.step("auto: making the comrec file"):
        make = functools.lru_cache(maxsize=None)(file_maker(src, "comrec", comrec_id, opts))
        found = best_within(make, size(regen), size)
    if found is None:
        return Choice("regen", rq, regen, {}, {})
    scores: dict[bytes, tuple[float, float]] = {}

    bar = progress.counter("auto: comparing with comrec files", "decode")

    def score(data: bytes) -> tuple[float, float]:
        if data not in scores:
            bar.update(1)
            out = restored_array(data, device=device)
            scores[data] = metrics.ms_ssim(src.rgb, out), metrics.psnr(src.rgb, out)
        return scores[data]

    rm, rp = score(regen)

    def passes(data: bytes) -> bool:
        m, p = score(data)
        return m > rm and p > rp

    with bar:
        match = smallest_passing(make, passes, found[0])
    if match is None:
        cm, cp = score(found[1])
        return Choice("regen", rq, regen, {"regen": rm, "comrec": cm}, {"regen": rp, "comrec": cp})
    cq, comrec = match
    if search_comrec and resolve(effort, pick_device(device)) > 0:
        for q in range(cq, 0, -1):  # the same ComCNN picture as `make`'s, searched
            with progress.step(f"auto: searching the comrec file at quality {q}"):
                data = make(q, search_comrec=True)
            if size(data) > size(regen) or not passes(data):
                break
            if size(data) < size(comrec):
                cq, comrec = q, data
    cm, cp = score(comrec)
    return Choice("comrec", cq, comrec, {"regen": rm, "comrec": cm}, {"regen": rp, "comrec": cp})
