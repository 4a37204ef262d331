#!/usr/bin/env bash
# The one device run of 2026-11-27 (H100/H200, 16 CPU cores): two fine-tunings of regen-coarse4
# side by side on the one GPU, 7 batch-making workers each, from the crop pack packs/regen-144.npz:
#   gpu-a: plain continuation;  gpu-blend: with --grow-blend (second kernels mixed by quality).
# Same seed, data, batch, learning rate and time limit for both. Usage (repo root, on the device):
#   bash bench/results/training/regen-gpu1/device-run.sh OUTDIR [MINUTES] [EXTRA train options]
set -uo pipefail
out="$1"; minutes="${2:-6.5}"; shift 2 || shift $#
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."
export PYTHONPATH="$PWD/.whl/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py="${PYTHON:-python3}"
mkdir -p "$out"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || true
  nproc; "$py" -c "import torch, PIL, numpy; print('torch', torch.__version__, 'Pillow', PIL.__version__, 'numpy', numpy.__version__, torch.cuda.is_available())"; } > "$out/env.txt" 2>&1
common=(--pack packs/regen-144.npz --init regen-coarse4 --tables regen-v1 --consistency --amp
        --batch 128 --patch 128 --lr 3e-4 --seed 11 --steps 100000 --time-limit "$minutes"
        --val-every 4000 --ckpt-every 1000 --workers 7 --device auto "$@")
work="${WORK:-/tmp/gpu1}"
rm -rf "$work"
"$py" -m codec train regen --id regen-gpu-a --workdir "$work/a" --export "$out/a" "${common[@]}" \
  > "$out/a.log" 2>&1 &
pa=$!
"$py" -m codec train regen --id regen-gpu-blend --grow-blend --workdir "$work/b" --export "$out/b" \
  "${common[@]}" > "$out/b.log" 2>&1 &
pb=$!
wait $pa; ra=$?; wait $pb; rb=$?
for k in a b; do
  cp "$work/$k/log.csv" "$out/$k/log.csv" 2>/dev/null
  cp "$work/$k/train_record.json" "$out/$k/train_record.json" 2>/dev/null
done
# one log file: env, then the tail of each run's progress output (tqdm lines split on \r)
{ cat "$out/env.txt"; for k in a b; do echo "== $k (rc $([ $k = a ] && echo $ra || echo $rb))"
  tr '\r' '\n' < "$out/$k.log" | grep -v '^\s*$' | tail -n 25; done; } > "$out/run.txt"
rm -f "$out/env.txt" "$out/a.log" "$out/b.log"
cat "$out/run.txt"
exit $(( ra || rb ))
