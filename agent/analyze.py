"""The trajectory analyzer: turns training statistics and evaluation into a critique per candidate.

First version: Eureka's reward reflection (every component and the fitness sampled at ~10 points
over training, with max/mean/min, plus episode lengths), and a few findings that the reflection
prompt then tells the designer how to act on: a component that dominates the return, one that never
changes, and reward rising while fitness stays flat (reward hacking).
"""

from __future__ import annotations

import numpy as np

from agent.prompting import render
from agent.records import CandidateResult, Critique, Finding, SeriesStat
from envs.train_stats import Checkpoint

SAMPLES = 10
DOMINANT_SHARE = 0.8


def critique(result: CandidateResult) -> Critique:
    """Build the critique of one candidate (any status; failures get a short explanation)."""
    cid, status = result.candidate.id, result.status
    training = result.training
    if training is None or not training.checkpoints:
        reason = _failure_reason(result)
        text = render("critique.md.j2", cid=cid, status=status, reason=reason, result=result, series=[],
                      flags=[], shares={})
        return Critique(candidate_id=cid, status=status, text=text)
    checkpoints = _subsample(training.checkpoints)
    components = tuple(_series(name, [cp.component_returns.get(name) for cp in checkpoints])
                       for name in training.components)
    fitness = _series("task_fitness", [cp.fitness for cp in checkpoints])
    lengths = _series("episode_length", [cp.episode_length for cp in checkpoints])
    shares = _shares(training.checkpoints, training.components)
    flags = _flags(components, fitness, [cp.reward_return for cp in checkpoints], shares,
                   training.checkpoints, training.components)
    series = [s for s in (*components, fitness, lengths) if s is not None]
    text = render("critique.md.j2", cid=cid, status=status, reason=_failure_reason(result), result=result,
                  series=series, flags=[_explain(f) for f in flags], shares=shares)
    return Critique(candidate_id=cid, status=status, text=text, components=tuple(c for c in components if c is not None),
                    fitness=fitness, episode_length=lengths, shares=shares, flags=flags)


def _failure_reason(result: CandidateResult) -> str:
    if not result.validation.accepted:
        return f"rejected at the {result.validation.stage} stage: {result.validation.message}"
    if result.training is not None and result.training.status != "ok":
        return f"training ended with status {result.training.status}: {result.training.error or 'no details'}"
    if result.training is not None and result.evaluation is None:
        return "the trained policy could not be evaluated"
    return ""


def _subsample(checkpoints: tuple[Checkpoint, ...]) -> list[Checkpoint]:
    if len(checkpoints) <= SAMPLES:
        return list(checkpoints)
    idx = np.unique(np.linspace(0, len(checkpoints) - 1, SAMPLES).round().astype(int))
    return [checkpoints[i] for i in idx]


def _series(name: str, values: list[float | None]) -> SeriesStat | None:
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return SeriesStat(name=name, samples=tuple(present), max=max(present), mean=float(np.mean(present)), min=min(present))


def _shares(checkpoints: tuple[Checkpoint, ...], names: tuple[str, ...]) -> dict[str, float]:
    """Share of each component in the absolute per-step reward, over the last quarter of training."""
    tail = checkpoints[-max(1, len(checkpoints) // 4):]
    mags = {n: float(np.mean([abs(cp.component_step_means.get(n, 0.0)) for cp in tail])) for n in names}
    total = sum(mags.values())
    return {n: (m / total if total > 0 else 0.0) for n, m in mags.items()}


def _flags(components: tuple[SeriesStat | None, ...], fitness: SeriesStat | None, reward_returns: list[float | None],
           shares: dict[str, float], checkpoints: tuple[Checkpoint, ...], names: tuple[str, ...]) -> tuple[Finding, ...]:
    flags: list[Finding] = []
    if len(shares) >= 2:
        flags += [Finding("dominant", n) for n, s in shares.items() if s > DOMINANT_SHARE]
    for n in names:
        steps = [cp.component_step_means[n] for cp in checkpoints if n in cp.component_step_means]
        if len(steps) >= 3 and np.ptp(steps) <= 1e-6 * max(1.0, float(np.max(np.abs(steps)))):
            flags.append(Finding("constant", n))
    if fitness is not None:
        if max(abs(fitness.max), abs(fitness.min)) < 1e-9:
            flags.append(Finding("fitness_zero"))
        returns = [r for r in reward_returns if r is not None]
        if len(returns) >= 4 and len(fitness.samples) >= 4:
            half = len(returns) // 2
            early, late = float(np.mean(returns[:half])), float(np.mean(returns[half:]))
            fh = len(fitness.samples) // 2
            f_gain = float(np.mean(fitness.samples[fh:]) - np.mean(fitness.samples[:fh]))
            f_scale = max(abs(fitness.max), abs(fitness.min), 1e-9)
            if late - early > 0.2 * max(abs(early), 1e-9) and f_gain <= 0.02 * f_scale:
                flags.append(Finding("reward_up_fitness_flat"))
    return tuple(flags)


def _explain(flag: Finding) -> str:
    name = flag.component
    return {
        "dominant": f"`{name}` makes up more than {DOMINANT_SHARE:.0%} of the reward; the other terms barely matter.",
        "constant": f"`{name}` stayed the same throughout training, so the policy cannot optimise it.",
        "fitness_zero": "the task fitness was zero throughout training: the policy never made progress.",
        "reward_up_fitness_flat": "the reward rose during training while the task fitness did not: the policy "
                                  "found a way to collect reward without doing the task.",
    }[flag.kind]
