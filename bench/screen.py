"""Measure the pre-training screen (agent/analyze/screen.py): how many trainings it would skip, and what that costs.

Every candidate measured here *was* trained and evaluated, so its held-out fitness is known; the
screen is then run as it would have run before training (the candidate's reward scores the stored
rollouts of the *other* targets in the sandbox). Skipping changes the result only if it skips the
candidate that turned out best, so "best-fitness change" compares the best held-out fitness among
the candidates the screen keeps with the best among all of them, on the same seeds by construction.

    python bench/screen.py labels [--dir runs/analyzer-labels]     # leave-one-out within each task
    python bench/screen.py run RUN_DIR [RUN_DIR ...]              # rounds >= 2 of loop runs, as the loop would

Thresholds are swept so the chosen one (agent.analyze.screen.THRESHOLD) can be judged against its neighbours.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from rewardsmith.agent.analyze.screen import THRESHOLD, earlier_rollouts, screen
from rewardsmith.agent.records.results import ScreenVerdict
from rewardsmith.agent.rundir.store import RunStore, TargetFiles
from rewardsmith.core.atomic import read_record
from rewardsmith.envs.evaluation import EvaluationResult
from rewardsmith.envs.outcomes import Rollout
from rewardsmith.envs.tasks import load_task

ROOT = Path(__file__).resolve().parent.parent
SWEEP = (-0.3, -0.1, 0.0, 0.1, 0.3, 0.5)


@dataclass(frozen=True)
class Screened:
    group: str
    name: str
    heldout: float
    verdict: ScreenVerdict


def from_labels(folder: Path) -> list[Screened]:
    """Leave-one-out: each labelled run screened against the rollouts of the other runs of its task."""
    runs: dict[str, list[tuple[str, TargetFiles, float]]] = {}
    store = RunStore(folder)
    for d in sorted(p for p in folder.iterdir() if TargetFiles(p).fitness.is_file() and TargetFiles(p).rollouts.is_file()):
        files = TargetFiles(d)
        job = files.job_spec("train").read_text(encoding="utf-8")
        task = next(t for t in ("cartpole", "mountain-car", "pendulum") if f"{t}.toml" in job)
        runs.setdefault(task, []).append((d.name, files, read_record(files.fitness, EvaluationResult).heldout.mean))
    out = []
    for task_name, members in runs.items():
        spec = load_task(task_name).adapter.spec
        stored = {name: store.load_rollouts(files) for name, files, _ in members}
        for name, files, heldout in members:
            others: list[Rollout] = [r for other, rs in stored.items() if other != name for r in rs]
            verdict = screen(name, files.reward.read_text(encoding="utf-8"), spec, others, len(members) - 1,
                             threshold=min(SWEEP))
            out.append(Screened(task_name, name, heldout, verdict))
    return out


def from_runs(dirs: list[Path]) -> list[Screened]:
    """Rounds >= 2 of loop runs: each candidate against the rollouts of the earlier rounds and the baselines."""
    out = []
    for d in dirs:
        store = RunStore(d)
        task = load_task(store.load_record().config.task)
        for rnd in store.rounds()[1:]:
            rollouts, sources = earlier_rollouts(store, rnd)
            for r in store.round_results(rnd):
                if r.candidate.code is None or r.evaluation is None:
                    continue
                verdict = screen(r.candidate.id, r.candidate.code, task.adapter.spec, rollouts, sources,
                                 threshold=min(SWEEP))
                out.append(Screened(f"{d.name} round {rnd}", r.candidate.id, r.evaluation.heldout.mean, verdict))
    return out


def report(rows: list[Screened]) -> None:
    print(f"| group | candidate | held-out fitness | Spearman | trajectories (sources) | skipped at {THRESHOLD:+.1f} |")
    print("|---|---|---|---|---|---|")
    for s in rows:
        rho = f"{s.verdict.spearman:+.2f}" if s.verdict.spearman is not None else "—"
        skip = s.verdict.status in ("pass", "skip") and (s.verdict.spearman is None or s.verdict.spearman < THRESHOLD)
        note = "yes" if skip else ("no" if s.verdict.status in ("pass", "skip") else s.verdict.status)
        print(f"| {s.group} | {s.name} | {s.heldout:.4g} | {rho} | {s.verdict.trajectories} ({s.verdict.sources}) | {note} |")
    print()
    print("| threshold | trainings skipped | groups whose best changed | mean best-fitness change |")
    print("|---|---|---|---|")
    groups = sorted({s.group for s in rows})
    for thr in SWEEP:
        def skipped(s: Screened, t: float = thr) -> bool:
            rho = s.verdict.spearman
            return s.verdict.status in ("pass", "skip") and (rho is None or rho < t)
        n_skip = sum(skipped(s) for s in rows)
        changes = []
        for g in groups:
            members = [s for s in rows if s.group == g]
            kept = [s.heldout for s in members if not skipped(s)]
            best_all = max(s.heldout for s in members)
            changes.append((max(kept) if kept else float("nan")) - best_all)
        changed = sum(c != 0 for c in changes)
        mean = sum(changes) / len(changes) if changes else 0.0
        mark = " (default)" if thr == THRESHOLD else ""
        print(f"| {thr:+.1f}{mark} | {n_skip} of {len(rows)} | {changed} of {len(groups)} | {mean:+.4g} |")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    labels = sub.add_parser("labels")
    labels.add_argument("--dir", type=Path, default=ROOT / "runs" / "analyzer-labels")
    runs = sub.add_parser("run")
    runs.add_argument("dirs", type=Path, nargs="+")
    args = parser.parse_args(argv)
    rows = from_labels(args.dir.resolve()) if args.cmd == "labels" else from_runs([d.resolve() for d in args.dirs])
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
