#!/usr/bin/env bash
# Check the analyzer by eye on the MuJoCo tasks (issue 12): one offline-designed candidate per task,
# trained briefly, with its rollout video; writes OUT/<task>.png (8 frames of the video in a strip) and
# prints each candidate's findings, to compare with what the frames show (docs/analyzer.md).
# Usage: bench/analyzer_handcheck.sh [OUT] [STEPS] [TASK...]   (~1-2 min per task on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/analyzer-handcheck}; steps=${2:-30000}; shift $(( $# > 2 ? 2 : $# )) || true
tasks=("$@"); [ ${#tasks[@]} -gt 0 ] || tasks=(halfcheetah walker2d ant swimmer reacher pusher humanoid)
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out"
for t in "${tasks[@]}"; do
  "$py" -m rewardsmith run "$t" --rounds 1 --samples 1 --steps "$steps" --no-baselines --final-seeds 0 --no-screen \
    --workers 1 --video --out "$out/runs-$t" > "$out/$t.log" 2>&1 || { echo "$t: run failed (see $out/$t.log)"; continue; }
  "$py" - "$out" "$t" <<'PY' || echo "$t: could not read the video"
import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image

out, task = Path(sys.argv[1]), sys.argv[2]
cand = next((out / f"runs-{task}").glob("*/round_01/cand_01"))
reader = imageio.get_reader(cand / "video.mp4", format="FFMPEG")
n = reader.count_frames()
picks = [reader.get_data(int(i)) for i in np.linspace(0, n - 1, 8)]
strip = np.concatenate([np.asarray(Image.fromarray(f).resize((160, 160))) for f in picks], axis=1)
Image.fromarray(strip).save(out / f"{task}.png")
critique = (cand / "critique.md").read_text()
print(f"== {task}: {n} video frames -> {out / f'{task}.png'}")
lines = critique.splitlines()
print("\n".join(lines[:3]))
start = next((i for i, line in enumerate(lines) if line.startswith("Findings")), None)
print("\n".join(lines[start:start + 12]) if start is not None else "(no findings)")
PY
done
