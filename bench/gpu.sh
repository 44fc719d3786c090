#!/usr/bin/env bash
# The GPU check, as one script for the device machine (one NVIDIA H200, no internet, no Keras):
#   here, once:   bash scripts/gpu_wheels.sh          (wheels into .whl/, Fashion-MNIST into .data/)
#   there:        bash bench/gpu.sh                   (carry .whl and .data)
#   here, no GPU: bash bench/gpu.sh --cpu             (the same steps on the CPU, small, to check the script)
# It installs the carried wheels into /tmp/site (checking each with pip show first), then runs
#   1. the README's main job, timed from start to report: gridlab train data=fashion-mnist preset=fast
#   2. python bench/speed.py --gpu: the seed recipe, preset=fast, preset=best and a plain PyTorch loop on the GPU
#      (each row with an empty user cache: every row compiles as a first run does)
#   3. python bench/jax_cache.py --device gpu --runs 1: a second run with JAX's compilation cache against none
# and copies the results to $OUT. Sized to finish in under 9 minutes on the H200.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="gpu"; [ "${1:-}" = "--cpu" ] && MODE="cpu"
OUT="${OUT:-$ROOT/.gpu-out}"; mkdir -p "$OUT"
DATA="$ROOT/.data/fashion-mnist"
[ -d "$DATA" ] || DATA=/usr/share/datasets/fashion-mnist
if [ "$MODE" = gpu ]; then
  PY=python3
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
  missing=()
  for w in .whl/*.whl; do
    name="$(basename "$w" | cut -d- -f1)"
    "$PY" -m pip show -q "$name" >/dev/null 2>&1 || missing+=("$w")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "${missing[@]}" || exit 1
    export PYTHONPATH="/tmp/site:$ROOT"
  else
    export PYTHONPATH="$ROOT"
  fi
  DEVICE=gpu
  MAIN_EXTRA=()
else
  PY="${PYTHON:-$ROOT/.venv/bin/python}"
  export KERAS_BACKEND=jax JAX_PLATFORMS=cpu PYTHONPATH="$ROOT"
  DEVICE=cpu
  MAIN_EXTRA=(limit=3000 epochs=1)
fi
"$PY" -c "import keras, jax; print('keras', keras.__version__, 'jax', jax.__version__, jax.devices())" | tee "$OUT/versions.txt"
WORK="$(mktemp -d)"
echo "== 1. the main job on $DEVICE"
start=$(date +%s.%N)
(cd "$WORK" && "$PY" -m gridlab train data=fashion-mnist "data_dir=$DATA" preset=fast device=$DEVICE \
  name=fashion-mnist-fast "${MAIN_EXTRA[@]}") 2>&1 | tee "$OUT/main-job.txt"
end=$(date +%s.%N)
python3 -c "print(f'main job: {$end - $start:.1f} s start to report')" | tee -a "$OUT/main-job.txt"
cp "$WORK/runs/fashion-mnist-fast/metrics.json" "$WORK/runs/fashion-mnist-fast/run.json" "$OUT/" 2>/dev/null
echo "== 2. bench/speed.py --gpu"
if [ "$MODE" = gpu ]; then
  OUT="$OUT" "$PY" bench/speed.py --gpu --data-dir "$DATA" 2>&1 | tee "$OUT/speed-gpu.txt"
else
  "$PY" bench/speed.py --gpu --cpu-check --data-dir "$DATA" 2>&1 | tee "$OUT/speed-gpu.txt"
fi
echo "== 3. bench/jax_cache.py"
if [ "$MODE" = gpu ]; then
  "$PY" bench/jax_cache.py --device gpu --runs 1 2>&1 | tee "$OUT/jax-cache.txt"
  cp docs/benchmarks.md "$OUT/benchmarks-after-jax-cache.md"
else
  "$PY" bench/jax_cache.py --device cpu --runs 1 --check 2>&1 | tee "$OUT/jax-cache.txt"
fi
rm -rf "$WORK"
