#!/usr/bin/env bash
# Kodak rate-quality benchmark at qualities 5-95, with the published anchors: the baselines
# (plain and optimized JPEG, WebP, AVIF, the no-network half-size route), comrec, and the default
# pipeline in regen and auto mode, packed or not, and with `--no-fit` (the `-nofit` row: the
# restoration strength's share); `--per-image-quality` (the `-alloc` row) and jpeg-alloc (plain
# JPEG with the same per-image quality rule: a reference). Rows of earlier models and steps (0.2.x: regen-fast...,
# regen-coarse, `-raw`, `-x8`) are in bench/results/kodak at commit 7bc3430; name them in
# METHODS=... to measure them again with this version. Results (committed): bench/results/kodak/. Extra arguments go to `regen-codec bench`;
# METHODS=... overrides the list (`regen-codec bench --help` names them all).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED:-$root/../shared}"
methods="${METHODS:-jpeg,jpeg-opt,jpeg-alloc,webp,avif,half-bicubic,comrec-r7,regen-coarse4@regen-v1,regen-coarse4@regen-v1-alloc,regen-coarse4@regen-v1-nofit,regen-coarse4@regen-v1+jxl,auto,auto+jxl}"
exec "$root/bin/regen-codec" bench "$shared/data/kodak" --out "$root/bench/results/kodak" \
  --anchors "$shared/anchors/compressai-kodak" --methods "$methods" "$@"
