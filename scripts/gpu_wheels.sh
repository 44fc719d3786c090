#!/usr/bin/env bash
# Prepare what the GPU check (bench/gpu.sh) carries to a machine with no internet: the wheels that machine lacks
# (Keras and its small dependencies, for its Python 3.12) in .whl/, and the Fashion-MNIST IDX files in
# .data/fashion-mnist/. Both folders are git-ignored; together they stay well under the 64 MiB a device call carries.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
cd "$ROOT"
# what the CUDA image lacks (it has jax, numpy, pandas, pyarrow, scikit-learn, matplotlib, pillow, pyyaml, h5py,
# absl-py, rich, ml-dtypes, packaging, onnx): keras, namex, optree, platformdirs
WHEELS=(keras namex optree platformdirs)
rm -rf .whl && mkdir -p .whl
for name in "${WHEELS[@]}"; do
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$name"
done
mkdir -p .data/fashion-mnist
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  src=""
  for d in "${GRIDLAB_DATA:-}" "$HOME/.cache/gridlab/fashion-mnist" /usr/share/datasets/fashion-mnist; do
    [ -n "$d" ] && [ -f "$d/$f" ] && src="$d/$f" && break
  done
  [ -n "$src" ] || { echo "Fashion-MNIST's $f not found: apt-get install dataset-fashion-mnist" >&2; exit 2; }
  cp "$src" .data/fashion-mnist/
done
ls -l .whl .data/fashion-mnist
du -sh .whl .data
