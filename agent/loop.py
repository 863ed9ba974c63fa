"""The reward-design loop, top to bottom like Eureka's algorithm box.

One round: render prompt → sample K → extract → validate → train → evaluate → analyze → select.
The run directory is the source of truth: every stage first looks there, so ``resume`` continues
an interrupted run without redoing (or re-paying for) finished work. Each phase is one call in
:mod:`agent.stages` over the run's :class:`~agent.context.RunContext`.
"""

from __future__ import annotations

import time

from rewardsmith.agent import next_round, stages
from rewardsmith.agent.context import start_run
from rewardsmith.agent.display import ProgressView
from rewardsmith.agent.records.config import RunRecord
from rewardsmith.agent.records.results import CandidateResult, RoundFeedback, RunSummary
from rewardsmith.agent.report.summary import summarize
from rewardsmith.agent.review.gate import RoundReviewer
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.errors import DesignerStopped


def run_loop(store: RunStore, record: RunRecord, view: ProgressView, reviewer: RoundReviewer | None = None
             ) -> RunSummary:
    """Run (or continue) the loop described by ``record`` in ``store``; returns the run's summary.

    ``reviewer`` overrides the one ``--review`` implies (tests answer the review programmatically).
    """
    started = time.monotonic()
    ctx = start_run(store, record, view, reviewer)  # task, designer, fitness check, backend, executor, reviewer
    cfg = ctx.cfg
    history: list[CandidateResult] = []
    feedback: RoundFeedback | None = None
    stopped: str | None = None

    with ctx.trainer.backend.session(ctx.task) as session:  # what validations share (jax: export zygote + checker)
        for rnd in range(1, cfg.rounds + 1):
            view.round_started(rnd, cfg.rounds)
            ### 1. Prompt: the task, its state fields, and the best reward so far with its critique
            request, incumbent = next_round.request(ctx, rnd, history, feedback)
            try:  # the designer may stop the run here (budget cap, model unreachable): cleanly, resumable
                ### 2-3. Sample K candidates and extract their code (plus a reviewer's edit of the last round)
                candidates = stages.sample(ctx, request, feedback)
                ### 4. Validate: static checks, then a probe run in the sandbox; a rejected candidate goes
                ###    back to the designer with the exact problem (bounded fix-retry)
                results = stages.validate(ctx, request, candidates, feedback, session)
            except DesignerStopped as stop:
                stopped = stages.record_stop(store, rnd, stop)
                break
            finally:
                view.llm_usage(stages.llm_usage(store))
            ### 5-6. Train and evaluate the accepted candidates (baselines ride along once)
            results = stages.train(ctx, rnd, results)
            ### 7. Analyze: Eureka-style reflection per candidate
            results = stages.analyze(ctx, results)
            ### 8. Select and review: best by fitness or by the reviewer (--review pauses here), feedback for the next round
            feedback = stages.close_round(ctx, rnd, results, incumbent, feedback)
            history.extend(results)
            if feedback.stop:
                break
            if cfg.tune and rnd < cfg.rounds:  ### 8b. Tune the selection's named constants (Optuna); joins the next round
                stages.tune(ctx, history, feedback)

    view.stop()
    ### 9. Final comparison: the best reward retrained on fresh seeds gives the headline numbers
    final = stages.final(ctx, history, feedback) if stopped is None else None
    summary = summarize(store, record, ctx.task, history, list(ctx.baselines), time.monotonic() - started, stopped,
                        feedback, final)
    store.save_summary(summary)
    return summary
