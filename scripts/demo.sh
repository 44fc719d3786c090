#!/usr/bin/env bash
# Install everything and run the main job: train gridlab's fast recipe on Fashion-MNIST, evaluate it, print
# where the report is. Extra arguments are passed to `gridlab train` (e.g. epochs=3).
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ensure_venv "[all]"
if ! apt_install dataset-fashion-mnist; then
  echo "==> Debian's dataset-fashion-mnist could not be installed here; gridlab will download Fashion-MNIST"
fi
cd "$ROOT"
export TF_CPP_MIN_LOG_LEVEL=3
"$VENV/bin/gridlab" datasets
"$VENV/bin/gridlab" train data=fashion-mnist preset=fast name=fashion-mnist-fast exist_ok=true "$@"
"$VENV/bin/gridlab" evaluate runs/fashion-mnist-fast
echo
echo "Report: $ROOT/runs/fashion-mnist-fast/report.html  (one file; open it in a browser)"
