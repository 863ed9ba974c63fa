#!/usr/bin/env bash
# New behaviours on known bodies (issue 13; docs/benchmarks.md): the offline designer's best reward vs training on the
# task's sparse fitness ("sparse" baseline) at the same budget and seeds. Usage: bench/new_behaviours.sh OUT ROUNDS SAMPLES
set -euo pipefail
out=$1; rounds=${2:-2}; samples=${3:-2}
py=${PYTHON:-.venv/bin/python}
run() {  # task steps
  uptime
  "$py" -m rewardsmith run "$1" --rounds "$rounds" --samples "$samples" --steps "$2" --workers 1 --out "$out"
}
run examples/pendulum-spin/pendulum-spin.toml 20000
run examples/cartpole-hold-right/cartpole-hold-right.toml 20000
run examples/swimmer-backward/swimmer-backward.toml 40000
uptime
