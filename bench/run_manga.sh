#!/usr/bin/env bash
# The drawn-art model on the manga pages held out of its training (the same split rule as
# `regen-codec train regen --val-fraction 0.25`), against regen-fast and plain JPEG.
# Results (committed): bench/results/manga-heldout/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED:-$root/../shared}"
"$root/bin/setup"
pages="$root/bench/cache/manga-heldout"
rm -rf "$pages" && mkdir -p "$pages"
"$root/.venv/bin/python" - "$shared/data/train/manga109-part" "$pages" <<'PY'
import sys
from pathlib import Path
from codec.regen.data import list_images, split
_, held = split(list_images([Path(sys.argv[1])]), 0.25)
for p in held:
    (Path(sys.argv[2]) / p.name).symlink_to(p.resolve())
print("held-out pages:", ", ".join(p.name for p in held))
PY
exec "$root/bin/regen-codec" bench "$pages" --out "$root/bench/results/manga-heldout" \
  --methods jpeg,regen-fast,regen-manga --qualities 10,20,30,40,50,60,70,80,90 "$@"
