"""last-best vs tree (and top-k) selection with the offline designer, same budget: best held-out fitness per round.

Usage: .venv/bin/python bench/selection_policies.py OUT TASK STEPS [--rounds 3] [--samples 2] [--policies last-best tree]
Runs ``rewardsmith run TASK --selection P`` for each policy (no baselines, no final retraining, seed 0, one
worker) into OUT, then prints, per round, the best held-out fitness among all candidates trained so far
(the held-out seeds are the run's; selection inside the run used the selection seeds only).
Re-running continues the runs already in OUT.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rewardsmith.agent.rundir.store import RunStore  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("task")
    p.add_argument("steps", type=int)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--policies", nargs="+", default=["last-best", "tree"])
    a = p.parse_args()
    subprocess.run(["uptime"], check=False)
    for policy in a.policies:
        out = Path(a.out) / policy
        runs = RunStore.runs_in(out) if out.is_dir() else []
        if runs and runs[0].load_summary() is not None:
            pass
        elif runs:
            subprocess.run([sys.executable, "-m", "rewardsmith.agent.app.cli", "resume", str(runs[0].root)], check=True, cwd=ROOT)
        else:
            subprocess.run([sys.executable, "-m", "rewardsmith.agent.app.cli", "run", a.task, "--selection", policy, "--rounds", str(a.rounds),
                            "--samples", str(a.samples), "--steps", str(a.steps), "--workers", "1", "--no-baselines",
                            "--final-seeds", "0", "--seed", "0", "--out", str(out)], check=True, cwd=ROOT)
    subprocess.run(["uptime"], check=False)
    print(f"\n{a.task}, {a.steps:,} steps per candidate, {a.samples} candidates per round")
    print("| policy | " + " | ".join(f"round {r}" for r in range(1, a.rounds + 1)) + " | parents per round |")
    print("|---|" + "---|" * (a.rounds + 1))
    for policy in a.policies:
        store = RunStore.runs_in(Path(a.out) / policy)[0]
        best, cells, parents = float("-inf"), [], []
        for rnd in store.rounds():
            for r in store.round_results(rnd):
                if r.evaluation is not None:
                    best = max(best, r.evaluation.heldout.mean)
            cells.append(f"{best:.4g}")
            path = store.round_files(rnd).parents
            parents.append(path.read_text().split('"ids": [')[1].split("]")[0].replace('"', "").replace("\n", "").replace(" ", "")
                           if path.is_file() else "-")
        print(f"| {policy} | " + " | ".join(cells) + f" | {'; '.join(parents)} |")


if __name__ == "__main__":
    main()
