#!/usr/bin/env bash
# Low rates on Kodak (qualities 1-20): the half-size route against the full-size one, for the
# comrec targets (BD-rate below 0.35 bpp). Results (committed): bench/results/kodak-lowrate/,
# summarized by bench/lowrate_report.py into its report-lowrate.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED:-$root/../shared}"
"$root/bin/regen-codec" bench "$shared/data/kodak" --out "$root/bench/results/kodak-lowrate" \
  --methods "${METHODS:-jpeg,half-bicubic,regen-fast,regen-coarse4@regen-v1,comrec-r7,auto}" \
  --qualities 1,2,3,4,5,6,8,10,12,15,20 "$@"
exec "$root/.venv/bin/python" "$root/bench/lowrate_report.py" "$root/bench/results/kodak-lowrate" \
  --reproduce '`bench/run_lowrate.sh` (runs the bench, then this script).'
