#!/usr/bin/env bash
# Install gridlab with its test dependencies (and Debian's chromium + chromium-driver for the browser tests when
# apt is permitted), then check the code with ruff and run the whole test suite. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ensure_venv "[dev]"
apt_install chromium chromium-driver || echo "==> chromium not installable here: browser tests will be skipped"
cd "$ROOT"
echo "==> ruff check (lint and import order; config in pyproject.toml)"
"$VENV/bin/ruff" check gridlab tests bench
export TF_CPP_MIN_LOG_LEVEL=3
# three pytest workers (pytest-xdist) on two cores: much of the suite waits on child processes, servers, Ray and
# Chromium, and a third worker runs while one waits (the whole suite in about 0.95x the time of two workers: 200.6 s
# against 211.0 s, the means of seven runs each on a 2-core AMD EPYC; four workers took longer); the Ray tests form
# one group on one worker, which starts the `ray start` cluster they join; units are handed out in the order
# tests/conftest.py gives them (the longest first), not by their number of tests.
# The pytest plugins the suite uses, named (pytest-xdist's and Hypothesis'), not every installed one: pytest rewrites
# the asserts of every module of a package that registers a plugin (Hypothesis, anyio: about 320 files) as each worker
# imports it: about 2.5 s of CPU per worker on every run where bytecode is not written (PYTHONDONTWRITEBYTECODE), and
# on the first run in a fresh virtual environment
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -p xdist.plugin -p _hypothesis_pytestplugin -n 3 --dist loadgroup \
  --no-loadscope-reorder "$@"
