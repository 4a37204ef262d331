#!/usr/bin/env bash
# Kodak rate-quality benchmark of every method at qualities 5-95, with the published anchors.
# Results (committed): bench/results/kodak/. Extra arguments go to `regen-codec bench`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED:-$root/../shared}"
exec "$root/bin/regen-codec" bench "$shared/data/kodak" --out "$root/bench/results/kodak" \
  --anchors "$shared/anchors/compressai-kodak" "$@"
