"""A whole reward-design run on each training backend: Eureka's K and R, the same task, seeds and steps.

For each backend, ``rewardsmith run TASK --backend B --rounds R --samples K --final-seeds 0`` runs
through the CLI (offline designer, the task file's budget, the two baselines in round 1), back to
back on the same machine. Then the run directories are read, not the console: wall and CPU time of
the whole run (CPU of every process it started, from ``getrusage``), the jobs' wall and CPU seconds
from every ``costs.json`` (training: SB3 ``train`` jobs, or the jax backend's one ``jax_round`` job per
round; ``evaluate`` jobs), the sandbox's validation time per candidate (``validation.json``: probe,
jax export, module check), each jax round's compile time and env-steps/s (``jax_round.json``), the
env-steps/s of each candidate's training (its steps over its job's wall time; on jax the round's
rate over its arms), and the best held-out fitness.

    python bench/backends_run.py cartpole --rounds 5 --samples 16
    python bench/backends_run.py cartpole --rounds 1 --samples 4 --backends jax   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def run(task: str, backend: str, rounds: int, samples: int, workers: int, out: Path) -> dict[str, Any]:
    args = [sys.executable, "-m", "rewardsmith", "run", task, "--backend", backend, "--rounds", str(rounds),
            "--samples", str(samples), "--workers", str(workers), "--final-seeds", "0", "--no-video",
            "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started = time.monotonic()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, timeout=6 * 3600)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    run_dir = next(p.parent for p in out.glob("*/summary.json"))
    return {"backend": backend, "wall_s": wall, "cpu_s": cpu, "load": (load, os.getloadavg()[0]),
            **read_run(run_dir, workers)}


def read_run(run_dir: Path, workers: int) -> dict[str, Any]:
    jobs: dict[str, dict[str, float]] = {}
    for costs in run_dir.glob("**/costs.json"):
        for job in json.loads(costs.read_text())["jobs"]:
            kind = "training" if job["kind"] in ("train", "jax_round") else job["kind"]
            acc = jobs.setdefault(kind, {"wall_s": 0.0, "cpu_s": 0.0, "env_steps": 0, "n": 0})
            acc["wall_s"] += job["wall_s"]
            acc["cpu_s"] += job["cpu_s"]
            acc["env_steps"] += job["env_steps"]
            acc["n"] += 1
    validation = []
    for path in run_dir.glob("round_*/cand_*/validation.json"):
        t = json.loads(path.read_text()).get("timings_ms", {})
        validation.append(t.get("static_ms", 0) + t.get("probe_ms", 0) + t.get("export_ms", 0) + t.get("check_ms", 0))
    rounds = [json.loads(p.read_text()) for p in sorted(run_dir.glob("round_*/jax_round.json"))]
    per_candidate = []
    for metrics in run_dir.glob("round_*/cand_*/metrics.json"):
        m = json.loads(metrics.read_text())
        if m.get("status") == "ok" and m.get("wall_s"):
            per_candidate.append(m["steps_done"] / m["wall_s"])
    summary = json.loads((run_dir / "summary.json").read_text())
    training = jobs.get("training", {"wall_s": 0.0, "env_steps": 0})
    return {
        "run_dir": str(run_dir), "jobs": jobs, "validation_ms": statistics.mean(validation) if validation else None,
        "compile_s": [r["compile_s"] for r in rounds], "round_steps_per_s": [r["steps_per_s"] for r in rounds],
        "arm_steps_per_s": [r["steps_per_s"] / r["arms"] for r in rounds] if rounds
        else [statistics.median(per_candidate)] if per_candidate else [],
        # SB3: the training jobs run `workers` at a time, so the round trains at about this rate.
        "sb3_round_steps_per_s": workers * training["env_steps"] / training["wall_s"] if not rounds and training["wall_s"]
        else None,
        "best_heldout": summary.get("best_heldout_fitness"), "hns": summary.get("hns"),
    }


def table(rows: list[dict[str, Any]], rounds: int, samples: int) -> str:
    def span(xs: list[float], fmt: str) -> str:
        return "" if not xs else format(xs[0], fmt) if len(xs) == 1 else f"{format(min(xs), fmt)}–{format(max(xs), fmt)}"

    head = "| | " + " | ".join(r["backend"] for r in rows) + (" | ratio |" if len(rows) == 2 else " |")
    lines = [head, "|---|" + "---:|" * (len(rows) + (1 if len(rows) == 2 else 0))]

    def line(label: str, values: list[float | None], fmt: str, ratio: bool = True) -> None:
        cells = ["" if v is None else format(v, fmt) for v in values]
        extra = ""
        if len(rows) == 2:
            a, b = values
            extra = f" {b / a:.2f} |" if ratio and a and b is not None else " |"
        lines.append(f"| {label} | " + " | ".join(cells) + " |" + extra)

    line(f"whole run (R={rounds}, K={samples}), wall s", [r["wall_s"] for r in rows], ".0f")
    line("whole run, CPU s (every process)", [r["cpu_s"] for r in rows], ".0f")
    line("training jobs, wall s (summed)", [r["jobs"].get("training", {}).get("wall_s") for r in rows], ".0f")
    line("training jobs, CPU s", [r["jobs"].get("training", {}).get("cpu_s") for r in rows], ".0f")
    line("evaluation jobs, wall s (summed)", [r["jobs"].get("evaluate", {}).get("wall_s") for r in rows], ".0f")
    line("validation per candidate, ms", [r["validation_ms"] for r in rows], ".0f")
    lines.append("| jax: compile per round, s | " + " | ".join(span(r["compile_s"], ".1f") for r in rows)
                 + (" | |" if len(rows) == 2 else " |"))
    lines.append("| env-steps/s per candidate | " + " | ".join(span(r["arm_steps_per_s"], ",.0f") for r in rows)
                 + (" | |" if len(rows) == 2 else " |"))
    lines.append("| env-steps/s of the round's training | " + " | ".join(
        span(r["round_steps_per_s"], ",.0f") if r["round_steps_per_s"]
        else f"{r['sb3_round_steps_per_s']:,.0f} (2 jobs at a time)" if r["sb3_round_steps_per_s"] else ""
        for r in rows) + (" | |" if len(rows) == 2 else " |"))
    line("best held-out fitness", [r["best_heldout"] for r in rows], ".4g", ratio=False)
    loads = ", ".join(f"{r['backend']} {r['load'][0]:.1f} → {r['load'][1]:.1f}" for r in rows)
    return "\n".join(lines) + f"\n\nload average (1 min) before → after: {loads}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", nargs="?", default="cartpole")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backends", default="sb3,jax")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        rows = [run(args.task, b, args.rounds, args.samples, args.workers, out / b) for b in args.backends.split(",")]
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        print(table(rows, args.rounds, args.samples))


if __name__ == "__main__":
    main()
