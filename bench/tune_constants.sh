#!/usr/bin/env bash
# Tuning the final reward's constants vs the untuned reward (issue 13; docs/benchmarks.md "Tuning a reward's constants").
# Usage: bench/tune_constants.sh TASK STEPS TRIALS OUT   e.g. bench/tune_constants.sh mountain-car 30000 8 runs/bench-tune
# 1. a short offline-designer run (2 rounds x 2 candidates at STEPS) gives the final reward;
# 2. rewardsmith tune on that run: TRIALS trials, 2 rungs (STEPS/3, STEPS), the same training seed;
#    the tuned and the untuned reward are both evaluated on the run's held-out seeds at STEPS.
set -euo pipefail
task=$1; steps=$2; trials=$3; out=$4
py=${PYTHON:-.venv/bin/python}
uptime
mkdir -p "$out"
run_dir=$(ls -d "$out"/"$(basename "$task" .toml)"-* 2>/dev/null | head -1 || true)
if [ -z "$run_dir" ]; then
  "$py" -m rewardsmith run "$task" --rounds 2 --samples 2 --steps "$steps" --workers 1 --no-baselines --final-seeds 0 --out "$out"
  run_dir=$(ls -d "$out"/"$(basename "$task" .toml)"-* | head -1)
else
  "$py" -m rewardsmith resume "$run_dir"
fi
"$py" -m rewardsmith.agent.app.commands.tune "$run_dir" --trials "$trials" --steps "$steps" --workers 1
uptime
