"""The pre-training screen (CARD's trajectory preference evaluation, adapted): skip a candidate that mis-ranks.

From round 2 on, the run holds evaluation rollouts of earlier policies whose fitness is known
(``rollouts.npz`` of every evaluated candidate and baseline). Before training a new candidate, its
reward scores every stored trajectory — inside the sandbox (:class:`~sandboxes.client.RewardProcess`),
never in this process — and the candidate's episode returns are rank-correlated with the
trajectories' fitness. A reward whose returns rank them *against* the fitness (Spearman below
``THRESHOLD``) would teach PPO to prefer the worse behaviour, so training it is skipped and its
critique says why. CARD (Sun et al., 2025) uses the fraction of successful trajectories that
out-score the best failed one with a 0.8 threshold; a rank correlation needs no success label, so
it fits any fitness. The threshold and what it saves are measured by ``bench/screen.py``
(``docs/analyzer.md``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from rewardsmith.agent.analyze.diagnosis import spearman
from rewardsmith.agent.records.results import CandidateResult, ScreenVerdict
from rewardsmith.agent.rundir.store import RunStore, TargetFiles
from rewardsmith.core.state import StateSpec
from rewardsmith.envs.outcomes import Rollout
from rewardsmith.envs.tasks import Task
from rewardsmith.sandboxes.client import CandidateFault, RewardProcess, SandboxLimits
from rewardsmith.sandboxes.isolation import Isolation

THRESHOLD = 0.0
"""Skip a candidate whose returns correlate with the stored trajectories' fitness below this."""
MIN_TRAJECTORIES = 6
MIN_DISTINCT_FITNESS = 3
MAX_TRAJECTORIES = 120
"""At most this many trajectories are scored (spread evenly over the fitness order)."""


def earlier_rollouts(store: RunStore, rnd: int) -> tuple[list[Rollout], int]:
    """Every stored evaluation rollout of rounds before ``rnd`` and of the baselines; and how many targets they came from."""
    found: list[Rollout] = []
    sources = 0
    files: list[TargetFiles] = [store.files_of(r.candidate) for earlier in range(1, rnd) for r in store.round_results(earlier)]
    files += [store.baseline_files(kind) for kind in ("human", "sparse")]
    for f in files:
        got = store.load_rollouts(f)
        if got:
            sources += 1
            found.extend(got)
    return found, sources


def _spread(rollouts: Sequence[Rollout], limit: int) -> list[Rollout]:
    if len(rollouts) <= limit:
        return list(rollouts)
    order = sorted(rollouts, key=lambda r: r.fitness)
    idx = np.unique(np.linspace(0, len(order) - 1, limit).round().astype(int))
    return [order[i] for i in idx]


def episode_returns(proc: RewardProcess, rollouts: Sequence[Rollout], max_batch: int) -> list[float]:
    """The candidate's undiscounted return on each trajectory (the sum of its total reward over the steps)."""
    out = []
    for r in rollouts:
        states = np.ascontiguousarray(r.states, dtype=np.float64)
        actions = np.ascontiguousarray(r.actions, dtype=np.float64)
        total = 0.0
        for start in range(0, len(states), max_batch):
            total += float(np.sum(proc.call(states[start:start + max_batch], actions[start:start + max_batch]).total))
        out.append(total)
    return out


def screen(candidate_id: str, code: str, spec: StateSpec, rollouts: Sequence[Rollout], sources: int,
           threshold: float = THRESHOLD, limits: SandboxLimits | None = None, isolation: Isolation | None = None,
           allow_weak_isolation: bool = False) -> ScreenVerdict:
    """Score ``rollouts`` with the candidate's reward in a sandboxed worker and rank them against their fitness."""
    started = time.monotonic()
    chosen = _spread(rollouts, MAX_TRAJECTORIES)
    fitness = [r.fitness for r in chosen]

    def verdict(status: str, rho: float | None, reason: str) -> ScreenVerdict:
        return ScreenVerdict(candidate_id=candidate_id, status=status,  # type: ignore[arg-type]
                             spearman=rho, threshold=threshold, trajectories=len(chosen), sources=sources,
                             reason=reason, wall_s=round(time.monotonic() - started, 3))

    if len(chosen) < MIN_TRAJECTORIES or len({round(f, 9) for f in fitness}) < MIN_DISTINCT_FITNESS:
        return verdict("no_data", None, f"{len(chosen)} stored trajectories with {len(set(fitness))} distinct fitness "
                                        f"values; the screen needs {MIN_TRAJECTORIES} and {MIN_DISTINCT_FITNESS}")
    lim = limits or SandboxLimits()
    try:
        with RewardProcess(code, spec, lim, isolation, allow_weak_isolation) as proc:
            returns = episode_returns(proc, chosen, lim.max_batch)
    except CandidateFault as fault:
        return verdict("fault", None, f"the reward failed on stored trajectories ({fault.kind}): {fault.message[:300]}")
    rho = spearman(returns, fitness)
    if rho is None:
        return verdict("skip", None, "the reward gives every stored trajectory the same return: it cannot rank them")
    if rho < threshold:
        return verdict("skip", rho, f"its returns rank {len(chosen)} stored trajectories against their fitness "
                                    f"(Spearman {rho:+.2f} < {threshold:+.2f})")
    return verdict("pass", rho, f"its returns rank the stored trajectories with their fitness (Spearman {rho:+.2f})")


def screen_round(task: Task, results: Sequence[CandidateResult], store: RunStore, rnd: int,
                 threshold: float = THRESHOLD) -> dict[str, ScreenVerdict]:
    """Screen every accepted candidate of round ``rnd`` (cached in ``screen.json``); ``{}`` in round 1.

    The loop trains only the candidates whose verdict is not ``skip``.
    """
    if rnd < 2:
        return {}
    rollouts: list[Rollout] | None = None
    sources = 0
    out: dict[str, ScreenVerdict] = {}
    for r in results:
        if not r.validation.accepted or r.candidate.code is None:
            continue
        cached = store.load_screen(r.candidate)
        if cached is None:
            if rollouts is None:
                rollouts, sources = earlier_rollouts(store, rnd)
            cached = screen(r.candidate.id, r.candidate.code, task.adapter.spec, rollouts, sources, threshold)
            store.save_screen(r.candidate, cached)
        out[r.candidate.id] = cached
    return out


def screened(task: Task, results: Sequence[CandidateResult], store: RunStore, rnd: int,
             threshold: float = THRESHOLD) -> list[CandidateResult]:
    """The round's results with their screen verdicts attached (``result.skipped``: do not train it).

    What the loop calls between validation and training::

        results = screen.screened(task, results, store, rnd)
        targets = [... for r in results if r.validation.accepted and not r.skipped]
    """
    verdicts = screen_round(task, results, store, rnd, threshold)
    return [replace(r, screen=verdicts[r.candidate.id]) if r.candidate.id in verdicts else r for r in results]
