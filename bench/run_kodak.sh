#!/usr/bin/env bash
# Kodak rate-quality benchmark at qualities 5-95, with the published anchors: the baselines
# (plain and optimized JPEG, WebP, AVIF, the no-network half-size route) and every shipped
# pipeline, and the steps of the default one (the `-raw` row: decoded without codec/consistency.py's
# last step). Results (committed): bench/results/kodak/. Extra arguments go to `regen-codec bench`;
# METHODS=... overrides the list (`regen-codec bench --help` names them all).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED:-$root/../shared}"
methods="${METHODS:-jpeg,jpeg-opt,webp,avif,half-bicubic,regen-fast,regen-fast@regen-v1,regen-fast-tuned@regen-v1-raw,regen-fast-tuned@regen-v1,regen-fast-proj@regen-v1,regen-fast-proj@regen-v1+jxl,regen-coarse@regen-v1,regen-coarse@regen-v1+jxl,comrec-r7,regen-coarse2@regen-v1,regen-coarse2@regen-v1+jxl,auto,auto+jxl,regen-coarse2@regen-v1-x8,regen-coarse2@regen-v1+jxl-x8}"
exec "$root/bin/regen-codec" bench "$shared/data/kodak" --out "$root/bench/results/kodak" \
  --anchors "$shared/anchors/compressai-kodak" --methods "$methods" "$@"
