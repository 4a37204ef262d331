#!/usr/bin/env bash
# Kodak rate-quality benchmark at qualities 5-95, with the published anchors: the baselines
# (plain and optimized JPEG, WebP, AVIF, the no-network half-size route), comrec, and the default
# pipeline in regen and auto mode, packed or not, at the default effort level (codec/encoder/effort.py);
# `-eN` rows: the same encoded with --effort N (`-e0`: no coefficient search, that step's share); `-nofit`: with --no-fit (the
# restoration strength's share); jpeg-alloc (plain JPEG with the per-image quality rule: a
# reference). `regen-coarse4@regen-v1-alloc` (--per-image-quality, about five coefficient searches
# per file) is left out of the default list for its cost; its 0.4.0 rows (no search) are in
# bench/results/kodak at commit f663b17. Rows of earlier models and steps (0.2.x: regen-fast...,
# regen-coarse, `-raw`, `-x8`) are in bench/results/kodak at commit 7bc3430; name them in
# METHODS=... to measure them again with this version. Results (committed): bench/results/kodak/.
# Extra arguments go to `regen-codec bench`; METHODS=... overrides the list (`regen-codec bench
# --help` names them all). The searched methods share each file's search within a run
# (codec.api keeps the last ones), so only the first of them, regen-coarse4@regen-v1, shows its
# cost in encode time. `-float32` rows: the default pipeline at each searching level with the
# search in float32 (codec/encoder/precision.py), beside the same in this CPU's own arithmetic
# (bfloat16 where the CPU has it; on a CPU without it the twins repeat the same work).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED:-$root/../shared}"
methods="${METHODS:-jpeg,jpeg-opt,jpeg-alloc,webp,avif,jxl,half-bicubic,comrec-r7,regen-coarse4@regen-v1,regen-coarse4@regen-v1-e0,regen-coarse4@regen-v1-e3,regen-coarse4@regen-v1-nofit,regen-coarse4@regen-v1+jxl,regen-coarse4@regen-v1+jxl-e0,regen-coarse4@regen-v1+jxl-e3,auto,auto-e0,auto-e1,auto-e3,auto+jxl,auto+jxl-e0,auto+jxl-e1,auto+jxl-e3,auto-float32,auto-e1-float32,auto-e3-float32}"
exec "$root/bin/regen-codec" bench "$shared/data/kodak" --out "$root/bench/results/kodak" \
  --anchors "$shared/anchors/compressai-kodak" --methods "$methods" "$@"
