"""K=4 candidates at the full budget vs K=12 with the budget allocated (halving, the bandit), at the same env-steps.

For each task and seed, one-round runs on the jax backend with the offline designer, through the CLI (the code a
user runs), baselines off:

- ``none16``: K=16 at the full budget B each (16·B env-steps) — not a contender: its curves give the **rank
  correlation** (Spearman, over the candidates) between the fitness the allocation ranks by after a fraction f of B
  (the recent training episodes', as :class:`envs.backends.allocation.Allocator` reads it) and each candidate's
  held-out fitness at B; the first rung is chosen from it.
- ``k4``: K=4 at B each (the first four of the same designer's sixteen) — 4·B env-steps.
- ``halving`` / ``bandit``: K=``--k`` (12: the first twelve), ``--allocation halving|bandit --halving ETA
  --first-rung F``, where F is the longest first rung (whole rollouts) whose *planned* spend is at most 4·B; the
  per-arm budget stays B.

Each contender's selected reward (best selection fitness among the candidates that trained to B) is retrained on
``--final-seeds`` fresh training seeds at B by the run's own final comparison; the table reports that held-out
fitness (mean ± spread over the fresh seeds), the round's env-steps and CPU-seconds (``costs.json``: training share
and evaluations; ``train CPU-s``: the round's program alone) and **steps to match**: the per-arm env-steps at which
the selected arm's recent training fitness first reached the K=4 selection's at B (and the round's env-steps by then).

    python bench/allocation.py cartpole pendulum mountain-car --seeds 0 1 2 --k 12 --eta 12
    python bench/allocation.py hopper --seeds 0 1 2 --steps 100000 --k 12 --eta 12
    python bench/allocation.py cartpole --seeds 0 --report-only --out DIR   # the tables from runs already in DIR
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.train.allocation import curve_of
from rewardsmith.envs.backends.allocation import HalvingSchedule, estimate
from rewardsmith.envs.tasks import load_task

METHODS = ("none16", "k4", "halving", "bandit")
FRACTIONS = (1 / 16, 1 / 8, 1 / 6, 1 / 5, 1 / 4, 1 / 3, 1 / 2, 1.0)


@dataclass(frozen=True)
class Row:
    task: str
    seed: int
    method: str
    k: int
    first_rung: float | None
    best: str | None
    selection: float | None
    final_mean: float | None
    final_std: float | None
    env_steps: int
    cpu_s: float
    train_cpu_s: float
    wall_s: float
    stopped: int
    match_steps: int | None
    """Per-arm env-steps at which the selected arm's recent training fitness first reached the K=4 selection's at B."""
    match_round_steps: int | None
    """The round's env-steps (all arms) by then."""


def first_rung(k: int, eta: int, steps: int, rollout: int, target: int) -> float:
    """The longest first rung, in whole rollouts, whose planned spend is at most ``target``."""
    n = steps // rollout
    for r in range(n - 1, 0, -1):
        fraction = r * rollout / steps + 1e-9
        if HalvingSchedule(eta=eta, first_rung=fraction).spend(k, steps, rollout) <= target:
            return fraction
    raise SystemExit(f"no first rung of K={k}, eta={eta} spends at most {target:,} env-steps")


def run(task: str, method: str, seed: int, steps: int, out: Path, plan: tuple[int, int, float],
        final_seeds: int) -> float:
    """One ``rewardsmith run`` (``plan``: the allocated runs' K, eta and first rung); returns its wall time (0 when
    its directory is already there)."""
    if list(out.glob("*/summary.json")):
        return 0.0
    k = {"k4": 4, "none16": 16}.get(method, plan[0])
    args = [sys.executable, "-m", "rewardsmith.agent.app.cli", "run", task, "--backend", "jax", "--rounds", "1",
            "--samples", str(k), "--steps", str(steps), "--seed", str(seed), "--workers", "2", "--no-baselines",
            "--no-video", "--final-seeds", str(0 if method == "none16" else final_seeds), "--out", str(out)]
    if method in ("halving", "bandit"):
        args += ["--allocation", method, "--halving", str(plan[1]), "--first-rung", repr(plan[2])]
    started = time.monotonic()
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=6 * 3600)
    return time.monotonic() - started


def _store(out: Path) -> RunStore:
    """The finished run in ``out`` (an interrupted bench may have left an unfinished one beside it)."""
    return RunStore(max(out.glob("*/summary.json")).parent)


def _window_mean(curve: tuple, at: int) -> float | None:
    return estimate(curve, at, 0.5).mean


def rank_correlations(stores: list[RunStore]) -> dict[float, float]:
    """Mean over runs of Spearman's rho between the halving score at a fraction of B and the held-out fitness at B."""
    out: dict[float, list[float]] = {f: [] for f in FRACTIONS}
    for store in stores:
        results = [r for r in store.round_results(1) if r.training is not None and r.training.trained
                   and r.evaluation is not None]
        rollout = results[0].training.checkpoints[0].timesteps  # type: ignore[union-attr]
        full = max(r.training.steps_done for r in results)  # type: ignore[union-attr]
        held = [r.evaluation.heldout.mean for r in results]  # type: ignore[union-attr]
        for f in FRACTIONS:
            at = max(rollout, round(full * f / rollout) * rollout)
            score = [_window_mean(curve_of(r.training), at) for r in results]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a constant score (every arm alike) has no rank: NaN, left out
                rho = spearmanr([s if s is not None else -1e300 for s in score], held).statistic
            if not math.isnan(rho):
                out[f].append(float(rho))
    return {f: float(np.mean(v)) if v else math.nan for f, v in out.items()}


def summarize(task: str, seed: int, method: str, store: RunStore, wall_s: float, target: float | None) -> Row:
    summary = store.load_summary()
    assert summary is not None
    compute = store.round_compute(1)
    results = store.round_results(1)
    train_cpu = sum(c.cpu_s for r in results for c in store.load_costs(store.files_of(r.candidate))
                    if c.kind == "jax_round")
    best = next((r for r in results if r.candidate.id == summary.best_id), None)
    match = match_round = None
    if target is not None and best is not None and best.training is not None:
        curve = curve_of(best.training)
        hit = next((cp.timesteps for cp in best.training.checkpoints
                    if (m := _window_mean(curve, cp.timesteps)) is not None and m >= target), None)
        if hit is not None:
            match = hit
            match_round = sum(min(r.training.steps_done, hit) for r in results if r.training is not None)
    record = store.load_allocation(1)
    final = summary.final.designed if summary.final is not None else None
    return Row(task=task, seed=seed, method=method, k=len(results),
               first_rung=record.allocation.schedule.first_rung if record is not None else None,
               best=summary.best_id, selection=summary.best_selection_fitness,
               final_mean=final.mean if final is not None else None, final_std=final.std if final is not None else None,
               env_steps=compute.env_steps, cpu_s=compute.cpu_s, train_cpu_s=round(train_cpu, 1), wall_s=round(wall_s, 1),
               stopped=sum(r.early_stop is not None for r in results), match_steps=match, match_round_steps=match_round)


def k4_target(store: RunStore) -> float | None:
    """The K=4 selection's recent training fitness at B: what the others' selected arm must reach."""
    summary = store.load_summary()
    best = next((r for r in store.round_results(1) if summary is not None and r.candidate.id == summary.best_id), None)
    if best is None or best.training is None:
        return None
    return _window_mean(curve_of(best.training), best.training.steps_done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="B, the per-candidate budget (default: the task's)")
    parser.add_argument("--k", type=int, default=12, help="candidates of the allocated runs")
    parser.add_argument("--eta", type=int, default=12)
    parser.add_argument("--final-seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench-allocation"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--report-only", action="store_true", help="only read the runs already in --out")
    opts = parser.parse_args()
    rows: list[Row] = []
    ranks: dict[str, dict[float, float]] = {}
    for name in opts.tasks:
        task = load_task(name)
        rollout = task.train.ppo.n_steps * task.train.n_envs
        steps = math.ceil((opts.steps or task.train.steps) / rollout) * rollout
        fraction = first_rung(opts.k, opts.eta, steps, rollout, 4 * steps)
        plan = HalvingSchedule(eta=opts.eta, first_rung=fraction)
        print(f"{name}: B={steps:,}, K={opts.k}, eta={opts.eta}, first rung {fraction:.4f} (rungs "
              f"{plan.budgets(steps, rollout)}, planned {plan.spend(opts.k, steps, rollout):,} env-steps vs K=4's "
              f"{4 * steps:,})", file=sys.stderr, flush=True)
        nones = []
        for seed in opts.seeds:
            walls: dict[str, float] = {}
            for method in opts.methods:
                out = opts.out / f"{name}-{method}-{seed}"
                if not opts.report_only:
                    walls[method] = run(name, method, seed, steps, out, (opts.k, opts.eta, fraction), opts.final_seeds)
            target = k4_target(_store(opts.out / f"{name}-k4-{seed}")) if "k4" in opts.methods else None
            for method in opts.methods:
                out = opts.out / f"{name}-{method}-{seed}"
                if not list(out.glob("*/summary.json")):
                    continue
                if method == "none16":
                    nones.append(_store(out))
                rows.append(summarize(name, seed, method, _store(out), walls.get(method, 0.0), target))
                print(json.dumps(asdict(rows[-1])), file=sys.stderr, flush=True)
        if nones:
            ranks[name] = rank_correlations(nones)
    (opts.out / "rows.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    print_tables(rows, ranks, opts.methods)


def _fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def print_tables(rows: list[Row], ranks: dict[str, dict[float, float]], methods: list[str]) -> None:
    print("| task | seed | arm | K | selected | held-out, retrained (mean ± sd over fresh seeds) | env-steps | "
          "CPU-s (train) | stopped | steps to K=4's fitness (arm / round) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.method == "none16":
            continue
        held = f"{_fmt(r.final_mean)} ± {_fmt(r.final_std, 2)}" if r.final_mean is not None else "-"
        match = f"{r.match_steps:,} / {r.match_round_steps:,}" if r.match_steps is not None else "never"
        print(f"| {r.task} | {r.seed} | {r.method} | {r.k} | {r.best} | {held} | {r.env_steps:,} | "
              f"{r.cpu_s:.0f} ({r.train_cpu_s:.0f}) | {r.stopped} | {match} |")
    print()
    print("| task | arm | held-out, retrained (mean over seeds) | beats or ties K=4 | env-steps (mean) | CPU-s (mean) |")
    print("|---|---|---|---|---|---|")
    for task in dict.fromkeys(r.task for r in rows):
        k4 = {r.seed: r.final_mean for r in rows if r.task == task and r.method == "k4"}
        for method in methods:
            mine = [r for r in rows if r.task == task and r.method == method and method != "none16"]
            if not mine:
                continue
            values = [r.final_mean for r in mine if r.final_mean is not None]
            wins = sum(1 for r in mine if r.final_mean is not None and k4.get(r.seed) is not None
                       and r.final_mean >= (k4[r.seed] or 0.0))
            print(f"| {task} | {method} | {_fmt(float(np.mean(values)) if values else None)} | {wins}/{len(mine)} | "
                  f"{np.mean([r.env_steps for r in mine]):,.0f} | {np.mean([r.cpu_s for r in mine]):.0f} |")
    if ranks:
        print()
        print("| task | " + " | ".join(f"f={f:.3g}" for f in FRACTIONS) + " |")
        print("|---|" + "---|" * len(FRACTIONS))
        for task, rho in ranks.items():
            print(f"| {task} | " + " | ".join(_fmt(rho[f], 2) for f in FRACTIONS) + " |")


if __name__ == "__main__":
    main()
