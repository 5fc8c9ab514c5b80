#!/usr/bin/env bash
# GPU checks of ealstm on a CUDA machine, in one go (CI has no GPU):
#   1. tests/test_cuda.py: models, training, resume and analyses on CUDA equal the CPU;
#   2. the training-step speed benchmark on the GPU (benchmarks/results/ealstm_speed_cuda.*);
#   3. the paper's protocol on the real sample: `ealstm train configs/camels_sample_ealstm.yml`
#      (30 epochs, seq-to-one) on the GPU, then the test period evaluated there.
# Usage (repository root, ../shared beside it): bash benchmarks/gpu_check.sh OUT_DIR
# On an H100 the tests take ~25 s, the benchmark ~20 s and a paper epoch of the sample ~23 s:
# all 30 epochs need TRAIN_TIMEOUT=900; a cut-off run continues with `ealstm train
# <run>/config.yml --resume` (on any device: `--set train.device=cpu`).
# The run directory is packed into OUT_DIR/run.tar.gz (logs, metrics, summary, last checkpoint).
set -u
out=${1:?usage: gpu_check.sh OUT_DIR}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export EALSTM_CACHE_DIR=${EALSTM_CACHE_DIR:-/tmp/ealstm_cache}
runs=${RUNS_DIR:-/tmp/gpu_runs}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, pandas, xarray; print('torch', torch.__version__, 'pandas',
pandas.__version__, 'xarray', xarray.__version__)" | tee -a "$out/gpu.txt"

timeout "${TEST_TIMEOUT:-150}" python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider \
    2>&1 | tee "$out/test_cuda.log"
timeout "${BENCH_TIMEOUT:-90}" python3 benchmarks/bench_ealstm_speed.py --device cuda \
    --repeats 20 --warmup 3 --out "$out"

start=$(date +%s)
timeout "${TRAIN_TIMEOUT:-360}" python3 -m ealstm train configs/camels_sample_ealstm.yml \
    --set train.device=cuda --set name=camels_sample_ealstm_cuda --set "runs_dir=$runs" \
    --evaluate --no-progress 2>&1 | tail -n 20
echo "train + evaluate: $(( $(date +%s) - start )) s"
run="$runs/camels_sample_ealstm_cuda"
last=$(ls "$run/checkpoints" | sort | tail -n 1)
stage=$(mktemp -d)/camels_sample_ealstm_cuda
mkdir -p "$stage/checkpoints"
find "$run" -maxdepth 1 -type f -exec cp {} "$stage" \;
cp "$run/checkpoints/$last" "$stage/checkpoints/"
tar -czf "$out/run.tar.gz" -C "$(dirname "$stage")" camels_sample_ealstm_cuda
tail -n 3 "$run/train_log.csv"
cat "$run/summary_test.json" 2>/dev/null
