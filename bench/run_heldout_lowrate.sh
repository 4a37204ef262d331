#!/usr/bin/env bash
# Low rates on photos that are in neither the training pool nor Kodak: scikit-image's sample
# photos (astronaut, chelsea, coffee, rocket, hubble_deep_field, immunohistochemistry, and a
# 1024px centre crop of retina), a check that comrec models chosen on held-out crops of the pool
# are not tuned to it. Results (committed): bench/results/heldout-lowrate/, with its
# report-lowrate.md (BD-rate at or below 0.35 bpp). METHODS=... overrides the list.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
imgs="$root/bench/cache/skimage-photos"  # git-ignored, rewritten on each run
"$root/.venv/bin/python" "$root/bench/skimage_photos.py" "$imgs"
"$root/bin/regen-codec" bench "$imgs" --out "$root/bench/results/heldout-lowrate" \
  --methods "${METHODS:-jpeg,half-bicubic,regen-fast,comrec-r7}" \
  --qualities 1,2,3,4,5,6,8,10,12,15,20 "$@"
exec "$root/.venv/bin/python" "$root/bench/lowrate_report.py" "$root/bench/results/heldout-lowrate" \
  --reproduce '`bench/run_heldout_lowrate.sh` (runs the bench, then this script).'
