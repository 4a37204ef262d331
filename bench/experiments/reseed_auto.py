"""Carry an auto row's cached per-image rows over to a new auto rule where the rule cannot change
them: the rows whose file is the regen file (same bytes as the regen method's row for that image
and quality), when the new rule keeps regen exactly where the old one did and differs only in
what it does once comrec has won. So it is for matchcs-0.4 (codec.encoder.auto's step 3) after
match-0.4, and after both-0.4 unpacked (both keep regen unless the largest comrec file within the
regen file's JPEG bytes beats it in both measures; packed, match-0.4 compares packed sizes). The
other rows are left for the benchmark to measure. Timing columns stay those of the run that
measured them.

    .venv/bin/python -m bench.experiments.reseed_auto bench/results/kodak --method auto \
        --regen regen-coarse4@regen-v1 --old match-0.4 --new matchcs-0.4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--method", required=True, help="auto or auto+jxl")
    ap.add_argument("--regen", required=True, help="the regen method whose files auto keeps")
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    a = ap.parse_args()
    from codec.bench.measure import available_methods

    cache = a.results / "cache"
    methods = available_methods()
    new = cache / f"{methods[a.method].cache_key}.jsonl"
    old = new.with_name(new.name.replace(f"-{a.new}-", f"-{a.old}-"))
    regen = cache / f"{methods[a.regen].cache_key}.jsonl"
    for p in (old, regen):
        if not p.exists():
            raise SystemExit(f"no cache file {p}")
    if old == new:
        raise SystemExit(f"the method's cache key does not name rule {a.new}")
    if new.exists():
        raise SystemExit(f"{new} exists: not overwritten")
    keys = lambda r: (r["image"], r["image_sha256"], r["quality"])  # noqa: E731
    regen_bytes = {keys(r): r["bytes"] for r in map(json.loads, regen.read_text().splitlines())}
    rows = [json.loads(x) for x in old.read_text().splitlines()]
    kept = [r for r in rows if regen_bytes.get(keys(r)) == r["bytes"]]
    new.write_text("".join(json.dumps(r) + "\n" for r in kept))
    print(f"{new.name}: {len(kept)} of {len(rows)} rows carried over (regen kept)")


if __name__ == "__main__":
    main()
