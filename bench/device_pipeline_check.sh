#!/usr/bin/env bash
# The device half of the GPU training pipeline's checks, as one device call (about 5 minutes;
# carry .whl and one pack, timeout_s 420):
#   bash bench/device_pipeline_check.sh PACK
# 1. the simulator and device-batch tests, the CUDA test included;
# 2. bench/jpegsim_speed.py: simulator and batch times on the GPU, batch 128 of 128 px;
# 3. a 150-second training call (bin/train-on-gpu, regen-coarse4's shape from its weights), whose
#    log gives steps/s with --device-jpeg.
# Everything lands in $OUT (tests.log, speed.json, train.log and the run).
set -uo pipefail
pack="$1"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PYTHONPATH="$PWD/.whl/site:$PWD" PYTHONUNBUFFERED=1
out="${OUT:-/tmp/device-check}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -m pytest -q -p no:cacheprovider tests/test_jpegsim.py tests/test_devicebatch.py 2>&1 \
  | tail -n 15 | tee "$out/tests.log"
python3 -m bench.jpegsim_speed --pack "$pack" --out "$out/speed.json"
OUT="$out/train" bin/train-on-gpu /tmp/none regen-speed "$pack" --call-limit 150 \
  --init codec/models/regen-coarse4-*.safetensors --tables regen-v1 --consistency --amp \
  --batch 128 --patch 128 --steps 100000 --val-every 100000 2>&1 \
  | tr '\r' '\n' | grep -v '^\s*$' | tail -n 30 | tee "$out/train.log"
rm -f "$out"/train/run/checkpoint.pt* "$out"/train/*.safetensors  # keep the call's files few
