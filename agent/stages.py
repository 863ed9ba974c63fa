"""The loop's phases, one function each, over the run's :class:`~agent.context.RunContext`.

Each reads what is already in the run store and does only the missing work, so ``resume`` continues
an interrupted run without redoing (or re-paying for) finished work. The stage folders do the work:
``design/`` (sampling, validation), ``train/`` (pipelines, allocation), ``analyze/``, ``review/``,
``tune/`` and ``report/``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from rewardsmith.agent import next_round
from rewardsmith.agent.analyze import critic
from rewardsmith.agent.analyze.critic import Critic, watched
from rewardsmith.agent.analyze.critique import critique
from rewardsmith.agent.analyze.screen import screened
from rewardsmith.agent.context import RunContext
from rewardsmith.agent.design.candidates import Validation, sample_round, validate_all
from rewardsmith.agent.design.designers import DesignRequest
from rewardsmith.agent.design.llm.responses import ResponseStore
from rewardsmith.agent.goal.subtasks import candidate_subtasks, task_subtasks
from rewardsmith.agent.goal.task_goal import task_goal
from rewardsmith.agent.records.results import (
    Candidate,
    CandidateResult,
    FinalScore,
    RoundFeedback,
    StopRecord,
    TargetOutcome,
    Usage,
)
from rewardsmith.agent.report import plots
from rewardsmith.agent.report.final import final_seeds
from rewardsmith.agent.review import gate
from rewardsmith.agent.review.feedback import select_incumbent
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.train import allocation
from rewardsmith.agent.train.targets import TrainTarget
from rewardsmith.agent.tune.tuner import tune_stage
from rewardsmith.core.errors import DesignerStopped


def sample(ctx: RunContext, request: DesignRequest, feedback: RoundFeedback | None) -> list[Candidate]:
    """The round's K candidates from the designer, plus a reviewer's edit and the tuned selection of the last round."""
    rnd, k = request.round, ctx.cfg.samples
    return (sample_round(ctx.designer, request, ctx.store)
            + next_round.reviewer_edit(rnd, k, feedback, ctx.store)
            + next_round.tuned_entry(rnd, k, feedback, ctx.store))


def validate(ctx: RunContext, request: DesignRequest, candidates: list[Candidate], feedback: RoundFeedback | None,
             session: object | None) -> list[CandidateResult]:
    """Every candidate's verdict from the run's backend, rejected ones sent back to a designer that fixes."""
    cfg = ctx.cfg
    return validate_all(ctx.designer, request, candidates, Validation(
        task=ctx.task, sample=ctx.sample, store=ctx.store, max_fixes=cfg.fix_attempts,
        human=feedback.human if feedback else None, allow_weak_sandbox=cfg.allow_weak_sandbox,
        backend=ctx.trainer.backend, session=session, parallel=cfg.workers, progress=ctx.view.update))


def train(ctx: RunContext, rnd: int, results: list[CandidateResult]) -> list[CandidateResult]:
    """Train and evaluate the accepted candidates (the baselines ride along once); ``--allocation`` stops some early.

    From round 2, a candidate whose returns rank earlier rounds' rollouts against their fitness is not
    trained (CARD-style screen, ``--no-screen`` turns it off).
    """
    cfg, store = ctx.cfg, ctx.store
    if cfg.screen:
        results = screened(ctx.task, results, store, rnd)
        for r in results:
            if r.skipped:  # shown now: the display's ETA does not wait for its training
                ctx.view.result(r)
    targets = [TrainTarget(key=r.candidate.id, files=store.files_of(r.candidate), reward_kind="candidate",
                           video=cfg.records_videos) for r in results if r.validation.accepted and not r.skipped]
    pending = [b for b in ctx.baselines if not store.is_finished(b.files)]
    outcomes = allocation.train_round(ctx.trainer, targets + pending, rnd, cfg.allocation_plan)
    for b in pending:
        ctx.view.baseline(b.key, outcomes[b.key].evaluation)
    return [with_outcome(r, outcomes.get(r.candidate.id)) for r in results]


def analyze(ctx: RunContext, results: list[CandidateResult]) -> list[CandidateResult]:
    """Attach (and store) each candidate's critique (the task's goal fields, for the failure causes), with the task's
    subtasks and, with ``--critic``, the vision-language critic's verdicts that the recorded state does not contradict."""
    watcher = Critic.for_run(ctx.cfg, ctx.store)  # once per round: a critic that failed this round is tried again next
    task_list = task_subtasks(task_goal(ctx.task))
    out = []
    for result in results:
        subtasks = candidate_subtasks(_response(ctx.store, result), ctx.task.adapter.spec, task_list)
        report = None
        if watcher is not None and watched(result):
            ctx.view.update(result.candidate.id, "critic", note=f"{watcher.model} watching the video")
            report = critic.judge(watcher, result, ctx.store, ctx.task, ctx.goal, subtasks,
                                  ctx.trainer.settings.selection_seeds[0])  # the seed the video shows
            ctx.view.update(result.candidate.id, "critic", note=critic.report_line(report))
        crit = critique(result, ctx.goal, result.screen, subtasks, report)
        ctx.store.save_critique(result.candidate, crit)
        out.append(replace(result, critique=crit))
        ctx.view.result(out[-1])
    return out


def _response(store: RunStore, result: CandidateResult) -> str:
    try:
        return store.load_response(result.candidate)
    except OSError:
        return ""


def close_round(ctx: RunContext, rnd: int, results: list[CandidateResult], incumbent: CandidateResult | None,
                feedback: RoundFeedback | None) -> RoundFeedback:
    """Select by fitness or by the reviewer (``--review`` pauses here); the feedback the next round reads."""
    ctx.view.stop()  # a reviewer may take over the terminal
    feedback = gate.close_round(rnd, results, incumbent, feedback, ctx.cfg, ctx.store, ctx.reviewer)
    plots.write_round_plots(ctx.store, rnd)
    return feedback


def tune(ctx: RunContext, history: list[CandidateResult], feedback: RoundFeedback) -> None:
    """``--tune``: the selection's named constants searched with Optuna; the tuned reward joins the next round."""
    tune_stage(ctx.trainer, next_round.best_of(history, feedback), ctx.cfg.tune_trials, ctx.cfg.seed)


def final(ctx: RunContext, history: list[CandidateResult], feedback: RoundFeedback | None) -> FinalScore | None:
    """The run's selected best reward retrained on ``--final-seeds`` fresh seeds (with the baselines)."""
    cfg = ctx.cfg
    best = select_incumbent(history, feedback, cfg.preference_only)
    if cfg.final_seeds <= 0 or best is None or best.candidate.code is None:
        return None
    ctx.view.final_started(f"final comparison: {best.candidate.id} retrained on {cfg.final_seeds} fresh seeds"
                           + (", with both baselines" if cfg.baselines else ""))
    result = final_seeds(ctx.trainer, ctx.store.files_of(best.candidate), cfg.final_seeds, baselines=cfg.baselines)
    ctx.view.stop()
    return result


def record_stop(store: RunStore, rnd: int, stop: DesignerStopped) -> str:
    """Keep why the designer stopped in ``round_NN/stopped.json``; returns the one-line reason."""
    reason = str(stop)
    store.save_stop(StopRecord(round=rnd, kind=type(stop).__name__, reason=reason,
                               at=datetime.now(UTC).isoformat(timespec="seconds")))
    return reason


def llm_usage(store: RunStore) -> Usage:
    """Every LLM call the run paid for so far (zero for designers without an LLM)."""
    return ResponseStore.for_run(store.root).total()


def with_outcome(result: CandidateResult, outcome: TargetOutcome | None) -> CandidateResult:
    """The candidate's result with what training and evaluation produced (nothing if it was not trained)."""
    if outcome is None:
        return result
    return replace(result, training=outcome.training, evaluation=outcome.evaluation, early_stop=outcome.early_stop)
