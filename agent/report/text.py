"""The run's result in words: the score table, the verdicts, the HNS line, cost and usage, finding phrases.

One wording for every place that shows a result: the terminal's live view and summary
(:mod:`agent.display`), the web app's pages, the dry run and the bench.
"""

from __future__ import annotations

from rewardsmith.agent.records.results import (
    FinalArm,
    Finding,
    FindingKind,
    RunCost,
    RunSummary,
    ScreenVerdict,
    Usage,
)
from rewardsmith.core.text import printable

FINDING_WORDS: dict[FindingKind, str] = {
    "dominant": "{c} dominates the reward",
    "constant": "{c} never changes",
    "fitness_zero": "no progress on the task",
    "reward_up_fitness_flat": "reward rose, fitness did not",
    "saturated": "{c} stopped changing (at its limit)",
    "against_fitness": "{c} works against the fitness",
    "improved_not_fitness": "{c} rose, fitness did not",
    "component_up_fitness_down": "{c} rose while fitness fell",
    "length_farming": "{c} pays for lasting, not for the task",
    "motionless": "{c} barely moved",
    "oscillating": "{c} went back and forth",
    "action_chatter": "jittery actions",
    "wrong_direction": "went the wrong way along {c}",
    "early_termination": "episodes ended early",
    "goal_missed": "{c} missed its target",
    "motion_missed": "some episodes did not move as asked along {c}",
    "screened_out": "not trained (ruled out by the screen)",
}
"""A finding in a few plain words for the progress lines; the tags (``reward_up_fitness_flat``) stay in the critique."""


def plain_finding(finding: Finding) -> str:
    """e.g. ``'speed' dominates the reward`` for ``dominant:speed``."""
    words = FINDING_WORDS.get(finding.kind, finding.kind.replace("_", " "))
    if "{c}" in words:
        return words.format(c=f"'{finding.component}'" if finding.component else "a term")
    return f"{words} ({finding.component})" if finding.component else words


def skip_reason(screen: ScreenVerdict) -> str:
    """Why the pre-training screen ruled a candidate out, in words (its numbers stay in the critique)."""
    n = screen.trajectories
    if screen.spearman is None:
        return f"not trained: its reward gives all {n} earlier episodes the same return, so it cannot tell good from bad"
    return (f"not trained: on {n} earlier episodes its reward prefers the ones the fitness rates worse "
            f"(rank correlation {screen.spearman:+.2f})")


BASELINE_NAMES = {"human": "the env's own reward", "sparse": "the sparse fitness reward"}


def verdict_lines(s: RunSummary) -> list[str]:
    """The result a researcher can quote: the designed reward against each baseline over the final comparison's
    seeds (better / tied / worse, and the test behind the word), and what the fitness measures."""
    f = s.final
    if f is None:
        return []
    lines = []
    arms = {"human": f.human, "sparse": f.sparse}
    for v in f.verdicts:
        base = arms[v.baseline]
        if v.verdict == "unknown" or base is None or v.difference is None:
            lines.append(f"vs {BASELINE_NAMES[v.baseline]}: no verdict (an arm trained no seed)")
            continue
        test = (f"the difference {v.difference:+.3g} is larger than the two spreads added ({v.margin or 0:.2g})"
                if v.verdict != "tied" else
                f"the difference {v.difference:+.3g} is within the two spreads added ({v.margin or 0:.2g})")
        lines.append(f"vs {BASELINE_NAMES[v.baseline]}: {v.verdict.upper()} — designed {_arm(f.designed)} against "
                     f"{_arm(base)} over {len(f.seeds)} training seeds; {test}")
    if f.fitness_doc:
        lines.append(f"fitness: {printable(f.fitness_doc)} (held-out episodes, higher is better)")
    return lines


def hns_line(s: RunSummary) -> str:
    """The HNS with its spread, or why it is not a number worth quoting."""
    if s.hns is None:
        return f"human-normalized score: n/a ({s.hns_note})"
    if not s.hns_meaningful:
        return f"human-normalized score: {s.hns_note}"
    spread = f" ± {s.final.hns_std:.2g}" if s.final is not None and s.final.hns_std is not None else ""
    return f"human-normalized score: {s.hns:.3f}{spread} ({s.hns_note})"


def score_table(s: RunSummary) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The summary's table, header and rows (the terminal's and the web page's): the designed reward and each
    baseline, by selection fitness, held-out fitness of one training and, after a final comparison, over its seeds."""
    f = s.final
    header = ("reward", "selection fitness", "held-out fitness (one training, ± over episodes)",
              *([f"retrained on {len(f.seeds)} fresh seeds (± over training seeds)"] if f is not None else []))
    best = f"designed ({s.best_id})" if s.best_id else "designed (none)"
    rows = [(best, fmt(s.best_selection_fitness), fmt(s.best_heldout_fitness, s.best_heldout_std),
             *([_arm(f.designed)] if f is not None else []))]
    for b in s.baselines:
        arm = (f.human if b.kind == "human" else f.sparse) if f is not None else None
        rows.append((BASELINE_LABELS[b.kind], fmt(b.selection_fitness), fmt(b.heldout_fitness, b.heldout_std),
                     *([_arm(arm)] if f is not None else [])))
    return header, rows


BASELINE_LABELS = {"human": "env's own reward (human)", "sparse": "sparse fitness reward"}


def _cost_parts(c: RunCost) -> tuple[str, str, str, str]:
    """(env-steps, minutes of training jobs, their CPU time or "", the designer's usage) in the terminal's words."""
    cpu = (f" ({c.job_cpu_s / 60:.1f} CPU-min of jobs)" if c.job_cpu_s else
           f" ({c.cpu_s / 60:.1f} CPU-min this session)" if c.cpu_s else "")
    return f"{c.env_steps:,}", f"{c.train_s / 60:.1f} min", cpu, usage_text(c.usage) if c.usage.calls else "no LLM calls"


def cost_rows(c: RunCost) -> list[tuple[str, str]]:
    """What a run spent, as (what, how much): the web page's table, in the figures of the terminal's cost line."""
    steps, minutes, cpu, designer = _cost_parts(c)
    return [("env-steps", steps), ("training jobs", minutes + cpu), ("designer", designer)]


def cost_text(s: RunSummary) -> str:
    """e.g. ``1,228,800 env-steps, 21.4 min of training jobs (38.0 CPU-min of jobs); designer: no LLM calls``."""
    assert s.cost is not None
    steps, minutes, cpu, designer = _cost_parts(s.cost)
    return f"{steps} env-steps, {minutes} of training jobs{cpu}; designer: {designer}"


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``2.5 h``."""
    if seconds < 90:
        return f"{max(0.0, seconds):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _arm(arm: FinalArm | None) -> str:
    if arm is None:
        return "-"
    failed = sum(st != "ok" for st in arm.status)
    return fmt(arm.mean, arm.std) + (f" ({failed} of {len(arm.seeds)} failed)" if failed else "")


def usage_text(u: Usage) -> str:
    """e.g. ``12 calls, 8,120 tokens in + 3,051 out, $0.0123`` (cost left out when no price is known)."""
    cost = f", ${u.cost:.4f}" if u.cost is not None else ", cost unknown (no price for this model)"
    return f"{u.calls} call{'s' if u.calls != 1 else ''}, {u.tokens_in:,} tokens in + {u.tokens_out:,} out{cost}"


def fmt(value: float | None, std: float | None = None) -> str:
    """``0.8697 ± 0.038``, or ``-`` for no value."""
    if value is None:
        return "-"
    return f"{value:.4g}" + (f" ± {std:.2g}" if std is not None else "")
