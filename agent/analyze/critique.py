"""The trajectory analyzer: turns training statistics and evaluation rollouts into a critique per candidate.

Auto MC-Reward's third role ("summarizes possible failure causes and provides refinement suggestions
according to collected trajectories") on top of Eureka's reward reflection:

- the reflection: every component, the fitness and the episode length sampled at ~10 points over
  training with max/mean/min, and each component's share of the reward;
- per-component diagnosis over training (:mod:`agent.analyze.diagnosis`): rank correlation with the fitness,
  saturation, a component the policy improved while the fitness did not;
- reward-hacking detectors: reward up while the fitness is flat, a component growing while the fitness
  falls, episode-length farming, standing still or oscillating in place, action chatter;
- failure causes from the held-out evaluation episodes (:mod:`agent.analyze.episodes`): how they ended, and
  the state at that moment against the state before, in the task's own field names and units;
- the pre-training screen's verdict (:mod:`agent.analyze.screen`) for a candidate that was not trained.

Every conclusion is a typed :class:`~agent.records.results.Finding` with its evidence; the critique text
(``prompts/critique.md.j2``) gives the evidence first and one suggestion per finding.
"""

from __future__ import annotations

import numpy as np

from rewardsmith.agent.analyze import diagnosis, episodes
from rewardsmith.agent.design.prompting import render
from rewardsmith.agent.goal.task_goal import describe_asks
from rewardsmith.agent.records.critic import CriticReport
from rewardsmith.agent.records.results import (
    CandidateResult,
    Critique,
    FailureReport,
    Finding,
    FindingKind,
    ScreenVerdict,
    SeriesStat,
)
from rewardsmith.agent.records.subtasks import Subtask
from rewardsmith.core.state import StateSpec
from rewardsmith.envs.backends.records import Checkpoint

SAMPLES = 10
DOMINANT_SHARE = 0.8

SUGGESTION: dict[FindingKind, str] = {
    "dominant": "scale it down (or the others up) so that every term matters.",
    "constant": "re-scale it or change its temperature so it varies with the state, or drop it.",
    "fitness_zero": "rewrite the reward: reward the first steps towards the goal.",
    "reward_up_fitness_flat": "find the term the policy collects without doing the task and make the task pay more.",
    "saturated": "widen its temperature or range so it keeps rewarding improvement.",
    "against_fitness": "lower its weight or drop it: the policy raises it only by giving up fitness.",
    "improved_not_fitness": "lower its weight or tie it to task progress.",
    "component_up_fitness_down": "cut this term's weight or make it conditional on task progress.",
    "length_farming": "shrink the per-step term or pay it only with progress; make finishing worth more.",
    "motionless": "reward movement the way the task asks ({c}), and keep penalties small next to it.",
    "oscillating": "reward net progress (towards the target, or the way the task asks), not movement either way.",
    "wrong_direction": "check the sign of the term on {c}: reward movement the way the task asks, not the opposite.",
    "action_chatter": "add a small penalty on action magnitude or on action changes.",
    "early_termination": "add or strengthen a term that keeps {c} inside its healthy range.",
    "goal_missed": "reward bringing {c} closer to its target more steeply.",
    "motion_missed": "make moving the asked way along {c} pay from every start, also before the body is under way "
                     "(those episodes never got going).",
    "screened_out": "make the reward rank the earlier trajectories as their fitness does.",
}


def critique(result: CandidateResult, spec: StateSpec | None = None, screen: ScreenVerdict | None = None,
             subtasks: tuple[Subtask, ...] = (), critic: CriticReport | None = None) -> Critique:
    """Build the critique of one candidate (any status; failures get a short explanation).

    Args:
        result: the candidate with its training and evaluation (either may be missing).
        spec: the task's state fields as the task reads them (:attr:`agent.goal.task_goal.TaskGoal.spec`: only the
            targets it states, its own direction); without it the evaluation episodes are not analysed.
        screen: the pre-training screen's verdict (default: ``result.screen``).
        subtasks: the task as checkable subtasks (:mod:`agent.goal.subtasks`), listed in the critique.
        critic: the vision-language critic's report (``--critic``): its verdicts that survived the gate join the
            critique, labelled as the critic's; a critic that gave none is said so.
    """
    cid, status = result.candidate.id, result.status
    screen = screen or result.screen
    training = result.training
    screened = [_screen_finding(screen)] if screen is not None and screen.skip else []
    if training is None or not training.checkpoints:
        reason = _failure_reason(result) if not screened else "not trained: the pre-training screen skipped it"
        text = render("critique.md.j2", cid=cid, status=status, reason=reason, result=result, series=[],
                      findings=[_line(f) for f in screened], shares={}, ending="", **_critic_context(subtasks, critic))
        return Critique(candidate_id=cid, status=status, text=text, flags=tuple(screened), screen=screen,
                        subtasks=subtasks)
    checkpoints = _subsample(training.checkpoints)
    components = tuple(_series(name, [cp.component_returns.get(name) for cp in checkpoints])
                       for name in training.components)
    fitness = _series("task_fitness", [cp.fitness for cp in checkpoints])
    lengths = _series("episode_length", [cp.episode_length for cp in checkpoints])
    shares = _shares(training.checkpoints, training.components)
    diag = diagnosis.diagnose(training.checkpoints, training.components)
    flags = list(_flags(fitness, [cp.reward_return for cp in checkpoints], shares, training.checkpoints,
                        training.components))
    flags += diagnosis.findings(training.checkpoints, diag, shares)
    report = None
    if spec is not None and result.evaluation is not None and result.evaluation.episodes:
        heldout = [o for o in result.evaluation.episodes if o.split == "heldout"] or list(result.evaluation.episodes)
        report = episodes.failure_report(heldout, spec)
        trend = diagnosis.fitness_trend(training.checkpoints)
        flat = None if trend is None else trend[0] <= diagnosis.FLAT_FITNESS * trend[1]
        flags += episodes.failure_findings(report, heldout, spec)
        flags += episodes.motion_findings(heldout, spec, flat)
        if not any(f.kind == "length_farming" for f in flags):
            alive = diagnosis.alive_term(training.checkpoints, shares)
            farmed = episodes.length_farming_at_eval(heldout, spec, alive, shares.get(alive[0], 0.0) if alive else 0.0)
            flags += [farmed] if farmed is not None else []
    flags = _unique(flags)
    series = [s for s in (*components, fitness, lengths) if s is not None]
    text = render("critique.md.j2", cid=cid, status=status, reason=_failure_reason(result), result=result,
                  series=series, findings=[_line(f) for f in flags], shares=shares, ending=_ending(report),
                  asks=describe_asks(spec) if report is not None and spec is not None else "",
                  **_critic_context(subtasks, critic))
    return Critique(candidate_id=cid, status=status, text=text, components=tuple(c for c in components if c is not None),
                    fitness=fitness, episode_length=lengths, shares=shares, flags=tuple(flags), diagnosis=diag,
                    failure=report, screen=screen, subtasks=subtasks)


def _critic_context(subtasks: tuple[Subtask, ...], critic: CriticReport | None) -> dict[str, object]:
    """The template's subtask list and the critic's kept verdicts, each with its subtask and frame in words."""
    by_id = {s.id: s for s in subtasks}
    steps = {f.index: f.step for f in critic.frames} if critic is not None else {}
    verdicts = [{"id": v.subtask, "text": by_id[v.subtask].text if v.subtask in by_id else "", "verdict": v.verdict,
                 "where": f"frame {v.frame}, step {steps[v.frame]}" if v.frame in steps else "no frame named",
                 "reason": v.reason, "checked": v.subtask in by_id and by_id[v.subtask].check is not None}
                for v in (critic.kept if critic is not None else ())]
    return {"subtasks": [{"id": s.id, "text": s.text, "check": s.check.describe() if s.check else ""} for s in subtasks],
            "critic": critic, "critic_verdicts": verdicts}


SUBSUMES: dict[FindingKind, tuple[FindingKind, ...]] = {
    "length_farming": ("constant", "dominant"),
    "component_up_fitness_down": ("against_fitness", "improved_not_fitness"),
}
"""A finding that already says what another says about the same component replaces it (one suggestion each)."""


def _unique(flags: list[Finding]) -> list[Finding]:
    """Drop repeats and findings subsumed by a stronger one about the same component."""
    covered = {(kind, f.component) for f in flags for kind in SUBSUMES.get(f.kind, ())}
    seen: set[Finding] = set()
    out = []
    for f in flags:
        if f not in seen and (f.kind, f.component) not in covered:
            seen.add(f)
            out.append(f)
    return out


def _ending(report: FailureReport | None) -> str:
    if report is None:
        return ""
    parts = [f"{report.terminated} of {report.episodes} ended by the environment"
             + (f" (median step {report.median_end_step:.0f}" + (", reaching the goal)" if report.success_end else ")")
                if report.median_end_step is not None else "")]
    parts.append(f"{report.truncated} ran to the time limit")
    if report.worst_fitness is not None and report.best_fitness is not None:
        parts.append(f"fitness from {report.worst_fitness:.4g} to {report.best_fitness:.4g}")
    return "Held-out episodes: " + "; ".join(parts) + "."


def _screen_finding(screen: ScreenVerdict) -> Finding:
    rho = f"{screen.spearman:+.2f}" if screen.spearman is not None else "n/a"
    return Finding("screened_out", None,
                   f"scored with this reward, {screen.trajectories} stored trajectories of {screen.sources} earlier "
                   f"policies rank against their fitness (Spearman {rho} < {screen.threshold:+.2f}), so it was not trained.",
                   screen.spearman)


def _line(f: Finding) -> str:
    """Evidence first, then one suggestion."""
    evidence = f.evidence or _explain(f)
    return f"{evidence} Suggestion: " + SUGGESTION[f.kind].format(c=f"`{f.component}`" if f.component else "it")


def _failure_reason(result: CandidateResult) -> str:
    if not result.validation.accepted:
        return f"rejected at the {result.validation.stage} stage: {result.validation.message}"
    if result.training is not None and result.training.status != "ok":
        return f"training ended with status {result.training.status}: {result.training.error or 'no details'}"
    if result.training is not None and result.evaluation is None:
        return "the trained policy could not be evaluated"
    if result.early_stop is not None:
        return result.early_stop.text
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


def _flags(fitness: SeriesStat | None, reward_returns: list[float | None], shares: dict[str, float],
           checkpoints: tuple[Checkpoint, ...], names: tuple[str, ...]) -> list[Finding]:
    """Eureka-reflection findings: dominant and constant terms, zero fitness, reward up while fitness flat."""
    flags: list[Finding] = []
    if len(shares) >= 2:
        flags += [Finding("dominant", n, f"`{n}` makes up {s:.0%} of the reward at the end of training.", s)
                  for n, s in shares.items() if s > DOMINANT_SHARE]
    for n in names:
        steps = [cp.component_step_means[n] for cp in checkpoints if n in cp.component_step_means]
        if len(steps) >= 3 and np.ptp(steps) <= 1e-6 * max(1.0, float(np.max(np.abs(steps)))):
            flags.append(Finding("constant", n, f"`{n}` stayed at {steps[-1]:.3g} per step throughout training, "
                                                "so the policy cannot optimise it.", float(steps[-1])))
    if fitness is not None:
        if max(abs(fitness.max), abs(fitness.min)) < 1e-9:
            flags.append(Finding("fitness_zero", None, "the task fitness was zero throughout training: "
                                                       "the policy never made progress."))
        returns = [r for r in reward_returns if r is not None]
        if len(returns) >= 4 and len(fitness.samples) >= 4:
            half = len(returns) // 2
            early, late = float(np.mean(returns[:half])), float(np.mean(returns[half:]))
            fh = len(fitness.samples) // 2
            f_gain = float(np.mean(fitness.samples[fh:]) - np.mean(fitness.samples[:fh]))
            f_scale = max(abs(fitness.max), abs(fitness.min), 1e-9)
            if late - early > 0.2 * max(abs(early), 1e-9) and f_gain <= 0.02 * f_scale:
                flags.append(Finding("reward_up_fitness_flat", None,
                                     f"the reward return rose from {early:.3g} to {late:.3g} per episode during training "
                                     f"while the task fitness changed by {f_gain:+.3g}: the policy collects reward "
                                     "without doing the task.", late - early))
    return flags


def _explain(flag: Finding) -> str:
    return f"{flag.kind.replace('_', ' ')}" + (f" (`{flag.component}`)" if flag.component else "") + "."
