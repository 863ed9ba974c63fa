"""Successive halving vs none at the same total env-steps: best held-out fitness and compute spent.

For each task and seed, two one-round runs with the offline designer (same seed, so the K=4 run's
candidates are the first four of the K=12 run's): **without halving**, K=4 candidates at the full
budget B; **with halving**, K=12 candidates, ``--halving 3 --first-rung 1/9``, at a budget B_h chosen
so the *planned* env-steps match (12·B_h/9 + 4·2B_h/9 + 2B_h/3 = 26·B_h/9 = 4·B, so B_h = 36·B/26,
rounded to whole rollouts; rungs end on whole rollouts, so the spent steps differ a little: the
table reports what was spent, from each candidate's ``costs.json``). Baselines and the final
comparison are off: only the candidates' search is compared. Each run goes through the CLI
(``rewardsmith run``), so it is the code a user runs.

    python bench/halving.py cartpole --steps 8192 --seeds 0 1
    python bench/halving.py hopper --steps 30000 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.envs.tasks import load_task


def one_run(task: str, samples: int, steps: int, seed: int, halving: bool, out: Path, workers: int) -> dict[str, object]:
    args = [sys.executable, "-m", "rewardsmith.agent.app.cli", "run", task, "--rounds", "1", "--samples", str(samples),
            "--steps", str(steps), "--seed", str(seed), "--workers", str(workers), "--no-baselines",
            "--final-seeds", "0", "--no-video", "--out", str(out)]
    if halving:
        args += ["--halving", "3", "--first-rung", str(1 / 9)]
    started = time.monotonic()
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=6 * 3600)
    wall = time.monotonic() - started
    store = RunStore(next(p.parent for p in out.glob("*/config.json")))
    summary = json.loads(store.summary_file.read_text())
    compute = store.round_compute(1)
    return {"task": task, "seed": seed, "arm": f"K={samples}" + (" halving" if halving else ""), "budget": steps,
            "best_id": summary["best_id"], "best_selection": summary["best_selection_fitness"],
            "best_heldout": summary["best_heldout_fitness"], "env_steps": compute.env_steps,
            "cpu_s": compute.cpu_s, "jobs": compute.jobs, "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+")
    parser.add_argument("--steps", type=int, required=True, help="B: the full budget of the K=4 run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    rows = []
    for name in opts.tasks:
        task = load_task(name)
        rollout = task.train.ppo.n_steps * task.train.n_envs
        halved = max(rollout, round(36 * opts.steps / 26 / rollout) * rollout)
        for seed in opts.seeds:
            for samples, steps, halving in ((4, opts.steps, False), (12, halved, True)):
                with tempfile.TemporaryDirectory(prefix="rs-halving-") as tmp:
                    rows.append(one_run(name, samples, steps, seed, halving, Path(tmp), opts.workers))
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if opts.json:
        print(json.dumps(rows, indent=2))
        return
    print("| task | seed | arm | budget/cand | best (selection) | best held-out | env-steps spent | CPU-s | wall-s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        sel = f"{r['best_selection']:.4g}" if r["best_selection"] is not None else "-"
        held = f"{r['best_heldout']:.4g}" if r["best_heldout"] is not None else "-"
        print(f"| {r['task']} | {r['seed']} | {r['arm']} | {r['budget']:,} | {sel} | {held} | {r['env_steps']:,} | "
              f"{r['cpu_s']:.0f} | {r['wall_s']:.0f} |")


if __name__ == "__main__":
    main()
