"""The run summary: best reward, baselines, human-normalized score, cost; ``summary.json`` and ``best_reward.py``.

The headline numbers are the final comparison's (the best reward retrained on fresh training seeds,
:mod:`agent.report.final`) when the run made one. The HNS is flagged as not meaningful when the two
baselines are within each other's spread, rather than printed as if it were a score.
"""

from __future__ import annotations

import resource
from typing import Literal

from rewardsmith.agent.analyze.critic import totals as critic_totals
from rewardsmith.agent.design.llm.responses import ResponseStore
from rewardsmith.agent.records.config import RunRecord
from rewardsmith.agent.records.results import (
    BaselineScore,
    CandidateResult,
    FinalScore,
    RoundFeedback,
    RoundSummary,
    RunCost,
    RunSummary,
)
from rewardsmith.agent.records.train import Compute
from rewardsmith.agent.report.scores import hns, hns_meaning
from rewardsmith.agent.review.feedback import select_best, select_incumbent
from rewardsmith.agent.rundir.store import RunStore, TargetFiles
from rewardsmith.agent.train.targets import TrainTarget
from rewardsmith.envs.tasks import Task


def summarize(store: RunStore, record: RunRecord, task: Task, history: list[CandidateResult],
              baselines: list[TrainTarget], wall_s: float, stopped: str | None = None,
              last_feedback: RoundFeedback | None = None, final: FinalScore | None = None) -> RunSummary:
    """``stopped``: why the designer stopped the run early (budget cap, model unreachable), if it did.
    ``final``: the best reward retrained on fresh seeds (:func:`agent.report.final.final_seeds`), when it was.

    The best reward is the last round's selection, so a reviewer's choice (or, in a preferences-only
    run, the oracle's) wins over fitness, exactly as it did for the rounds themselves.
    """
    best = select_incumbent(history, last_feedback, record.config.preference_only)
    best_file = None
    if best is not None and best.candidate.code is not None:
        best_file = str(store.save_best_reward(best.candidate.code))
    scores = tuple(_baseline(store, t) for t in baselines)
    by_kind = {b.kind: b.heldout_fitness for b in scores}
    held = best.evaluation.heldout if best is not None and best.evaluation is not None else None
    value, note = hns(held.mean if held else None, by_kind.get("human"), by_kind.get("sparse"))
    meaningful = value is not None
    human = next((b for b in scores if b.kind == "human"), None)
    sparse = next((b for b in scores if b.kind == "sparse"), None)
    if (value is not None and human is not None and sparse is not None and human.heldout_fitness is not None
            and sparse.heldout_fitness is not None):
        why_not = hns_meaning(human.heldout_fitness, human.heldout_std, sparse.heldout_fitness, sparse.heldout_std,
                              "held-out episodes")
        meaningful, note = why_not is None, why_not or note
    if final is not None:
        value, note, meaningful = final.hns, final.note, final.hns_meaningful
    rounds = sorted({r.candidate.round for r in history})
    per_round = []
    for rnd in rounds:
        rs = [r for r in history if r.candidate.round == rnd]
        rb = select_best(rs)
        spent = store.round_compute(rnd)
        per_round.append(RoundSummary(round=rnd, best_id=rb.candidate.id if rb else None,
                                      best_fitness=rb.fitness if rb else None,
                                      accepted=sum(r.validation.accepted for r in rs),
                                      trained=sum(r.fitness is not None for r in rs), candidates=len(rs),
                                      env_steps=spent.env_steps, cpu_s=spent.cpu_s))
    return RunSummary(
        task=task.name, designer=record.designer_label, sandbox=record.sandbox,
        finished=stopped is None and (len(rounds) >= record.config.rounds
                                      or (last_feedback is not None and last_feedback.stop)),
        rounds=tuple(per_round),
        best_id=best.candidate.id if best else None, best_reward_file=best_file,
        best_selection_fitness=best.fitness if best else None,
        best_heldout_fitness=held.mean if held else None, best_heldout_std=held.std if held else None,
        baselines=scores, hns=value, hns_note=note, wall_s=wall_s,
        usage=ResponseStore.for_run(store.root).total(), stopped=stopped,
        final=final, hns_meaningful=meaningful, cost=run_cost(store, history, baselines, final),
        critic=critic_totals(store, record.config, history),
    )


def run_cost(store: RunStore, history: list[CandidateResult], baselines: list[TrainTarget],
             final: FinalScore | None) -> RunCost:
    """Environment steps and training time of every training of the run, its CPU time and its designer usage."""
    others: list[TargetFiles] = [b.files for b in baselines]  # every training that is not a candidate's
    if final is not None:
        for arm in (final.designed, final.human, final.sparse):
            others += [store.final_files(arm.arm, s) for s in arm.seeds] if arm is not None else []
    trainings = [r.training for r in history if r.training is not None]
    trainings += [t for t in (store.outcome(f).training for f in others) if t is not None]
    jobs = sum((store.round_compute(rnd) for rnd in sorted({r.candidate.round for r in history})), Compute())
    jobs = sum((store.compute_of(f) for f in others), jobs)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return RunCost(env_steps=sum(t.steps_done for t in trainings), train_s=jobs.train_wall_s,
                   cpu_s=children.ru_utime + children.ru_stime or None, job_cpu_s=jobs.cpu_s,
                   usage=ResponseStore.for_run(store.root).total())


def _baseline(store: RunStore, target: TrainTarget) -> BaselineScore:
    outcome = store.outcome(target.files)
    training, evaluation = outcome.training, outcome.evaluation
    status = "ok" if evaluation is not None else (training.status if training is not None else "missing")
    kind: Literal["human", "sparse"] = "human" if target.reward_kind == "env" else "sparse"
    return BaselineScore(kind=kind, status=status, selection_fitness=evaluation.selection.mean if evaluation else None,
                         heldout_fitness=evaluation.heldout.mean if evaluation else None,
                         heldout_std=evaluation.heldout.std if evaluation else None)
