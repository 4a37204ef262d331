#!/usr/bin/env bash
# The full quality range (5-95) on photos that are in neither the training pool nor Kodak
# (scikit-image's samples, bench/skimage_photos.py): a check that the default model, chosen on
# held-out crops of the pool and reported on Kodak, holds on other photos, with and without the
# restoration strength fitted at encode (codec/strength.py; `-nofit`), without the coefficient
# search (`-e0`), in auto mode, and packed as JPEG XL (`+jxl`, since 2026-12-06). `regen-coarse4@regen-v1-alloc` (--per-image-quality, about five
# searches per file) is left out of the default list for its cost; its rows without the search
# are in bench/results/heldout-photos at commit adfebd1. Results (committed):
# bench/results/heldout-photos/. METHODS=... overrides the list. `-float32` rows: as in
# bench/run_kodak.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
imgs="$root/bench/cache/skimage-photos"  # git-ignored, rewritten on each run
"$root/.venv/bin/python" "$root/bench/skimage_photos.py" "$imgs"
exec "$root/bin/regen-codec" bench "$imgs" --out "$root/bench/results/heldout-photos" \
  --methods "${METHODS:-jpeg,jpeg-alloc,avif,webp,jxl,regen-coarse4@regen-v1,regen-coarse4@regen-v1-e0,regen-coarse4@regen-v1-e3,regen-coarse4@regen-v1-nofit,auto,auto-e0,auto-e1,auto-e3,regen-coarse4@regen-v1+jxl,regen-coarse4@regen-v1+jxl-e3,auto+jxl,auto+jxl-e1,auto+jxl-e3,auto-float32,auto-e1-float32,auto-e3-float32}" "$@"
