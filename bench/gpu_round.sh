#!/usr/bin/env bash
# One 16-candidate round (+ the human and sparse arms: K = 18) on MJX Hopper-v5 on a GPU, >= 50M env-steps in
# total, then the same round's throughput on the CPU backends (SB3, the project's CPU trainer; and, with
# --cpu-jax, the JAX backend on the CPU at a tiny size: native physics, MuJoCo's C engine on the host's cores).
# Prints the tables (wall time, env-steps/s, compile time, held-out fitness of the first arms). Meant to finish
# within 10 minutes on one recent NVIDIA GPU. The physics follows the platform (envs/backends/jax/registry.py):
# MJX on the GPU, native physics on a CPU.
#
#   bash bench/gpu_round.sh            # on the GPU machine
#   bash bench/gpu_round.sh --tiny     # a few thousand steps on whatever JAX finds (checks the script on a CPU)
#
# The CUDA build of jaxlib (the project's default is the CPU build):
#   .venv/bin/pip install -c constraints.txt "jax[cuda12]==0.10.2"
set -euo pipefail
cd "$(dirname "$0")/.."

TINY=0
CPU_JAX=0
for arg in "$@"; do
  case "$arg" in
    --tiny) TINY=1 ;;
    --cpu-jax) CPU_JAX=1 ;;
    *) echo "usage: bash bench/gpu_round.sh [--tiny] [--cpu-jax]" >&2; exit 2 ;;
  esac
done

PY=${PYTHON:-.venv/bin/python}
if [ ! -x "$PY" ]; then
  echo "== no $PY: creating .venv with the project and its jax extra"
  python3 -m venv .venv
  .venv/bin/pip install -q -c constraints.txt -e ".[jax]"
  PY=.venv/bin/python
fi
"$PY" -c "import mujoco.mjx" 2>/dev/null || "$PY" -m pip install -q -c constraints.txt "mujoco-mjx==3.17.0"

if [ "$TINY" = 0 ]; then
  if ! "$PY" -c "import jax, sys; sys.exit(0 if jax.default_backend() == 'gpu' else 1)" 2>/dev/null; then
    echo "== installing the CUDA jaxlib"
    "$PY" -m pip install -q -c constraints.txt "jax[cuda12]==0.10.2" || {
      echo "could not install jax[cuda12]==0.10.2 (no network to PyPI?); install it, then run this again" >&2; exit 1; }
  fi
  "$PY" -c "import jax; print('== JAX', jax.__version__, 'devices:', jax.devices())"
  # JAX takes 75% of GPU memory up front by default; this program is the only one on the GPU.
  export XLA_PYTHON_CLIENT_PREALLOCATE=false
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
uptime

# 18 arms x 2,883,584 env-steps = 51.9M: 2,048 envs per arm, 32-step rollouts (65,536 samples per arm),
# 4 minibatches of 16,384, 4 epochs; 44 rollouts, 4 per compiled call.
if [ "$TINY" = 1 ]; then
  STEPS=2048; N_ENVS=8; PPO='{"n_steps": 32, "batch_size": 128, "n_epochs": 2}'; SB3_STEPS=2048; CANDS=2
  export ROLLOUTS_PER_CALL=4
else
  STEPS=2883584; N_ENVS=2048; PPO='{"n_steps": 32, "batch_size": 16384, "n_epochs": 4}'; SB3_STEPS=20480; CANDS=16
  export ROLLOUTS_PER_CALL=4
fi

START=$(date +%s)
echo "== JAX round on the default device: $CANDS candidates + human + sparse, $STEPS env-steps per arm"
# --timeout-s stops training between compiled calls at 400 s (compile included), so a slower GPU still prints
# the env-steps it did; the outer timeout only catches a hang.
timeout 500 "$PY" bench/jax_round.py hopper --candidates "$CANDS" --steps "$STEPS" --n-envs "$N_ENVS" \
  --ppo "$PPO" --eval-arms 3 --sb3-arms "" --timeout-s 400

echo "== the same round's rate on the CPU backend (SB3, the env's reward, $SB3_STEPS env-steps, one process)"
timeout 120 "$PY" bench/jax_round.py hopper --no-jax --sb3-arms human --sb3-steps "$SB3_STEPS" | tail -3

ELAPSED=$(( $(date +%s) - START ))
if [ "$CPU_JAX" = 1 ] && [ "$ELAPSED" -lt 300 ]; then
  echo "== the JAX backend on the CPU (native physics; tiny: 18 arms x 8 envs x 512 steps)"
  JAX_PLATFORMS=cpu timeout 240 "$PY" bench/jax_round.py hopper --candidates "$CANDS" --steps 512 --n-envs 8 \
    --ppo '{"n_steps": 32, "batch_size": 128, "n_epochs": 1}' --eval-arms 0 --sb3-arms ""
fi
echo "== done in $(( $(date +%s) - START )) s"
