"""The reward-design loop, top to bottom like Eureka's algorithm box.

One round: render prompt → sample K → extract → validate → train → evaluate → analyze → select.
The run directory is the source of truth: every stage first looks there, so ``resume`` continues
an interrupted run without redoing (or re-paying for) finished work.
"""

from __future__ import annotations

import time

from agent import review, stages
from agent.config import RunRecord
from agent.designers import DesignRequest, make_designer
from agent.executor import LocalExecutor
from agent.feedback import select_incumbent
from agent.progress import ProgressView
from agent.prompting import round_messages
from agent.records import CandidateResult, RoundFeedback, RunSummary
from agent.review import RoundReviewer
from agent.store import RunStore
from agent.summary import summarize
from agent.trainer import TrainSettings, TrainTarget, train_and_evaluate
from core.errors import DesignerStopped, FitnessError
from envs.evaluation import seed_sets
from envs.fitness import compute_fitness
from envs.rollout import StateSample, random_rollout
from envs.tasks import Task, load_task


def run_loop(store: RunStore, record: RunRecord, view: ProgressView, reviewer: RoundReviewer | None = None
             ) -> RunSummary:
    """Run (or continue) the loop described by ``record`` in ``store``; returns the run's summary.

    ``reviewer`` overrides the one ``--review`` implies (tests answer the review programmatically).
    """
    started = time.monotonic()
    cfg = record.config
    task = load_task(cfg.task)
    designer = make_designer(cfg.designer, llm=cfg.llm, run_dir=store.root)
    sample = random_rollout(task, n=256, seed=cfg.seed)
    check_fitness(task, sample)
    settings = train_settings(task, record)
    executor = LocalExecutor(cfg.workers)
    baselines = baseline_targets(store) if cfg.baselines else []
    reviewer = reviewer or review.make_reviewer(cfg, view.console.print)
    history: list[CandidateResult] = []
    feedback: RoundFeedback | None = None
    stopped: str | None = None

    for rnd in range(1, cfg.rounds + 1):
        view.round_started(rnd, cfg.rounds)
        ### 1. Prompt: the task, its state fields, and the best reward so far with its critique
        best_so_far = select_incumbent(history, feedback, cfg.preference_only)
        messages = round_messages(task, best_so_far.candidate.code if best_so_far else None,
                                  feedback.summary if feedback else None)
        request = DesignRequest(task, rnd, cfg.samples, cfg.seed, tuple(messages),
                                review.designer_history(history, cfg), review.guidance(store, rnd, cfg))
        try:  # the designer may stop the run here (budget cap, model unreachable): cleanly, resumable
            ### 2-3. Sample K candidates and extract their code
            candidates = (stages.sample_round(designer, request, store)
                          + review.human_candidates(rnd, cfg.samples, feedback, store))
            ### 4. Validate: static checks, then a probe run in the sandbox; a rejected candidate goes
            ###    back to the designer with the exact problem (bounded fix-retry)
            results = []
            for cand in candidates:
                view.update(cand.id, "validating")
                cand, report = stages.validate_and_fix(designer, request, cand, task, sample, store, cfg.fix_attempts,
                                                       feedback.human if feedback else None, view.update)
                view.update(cand.id, "queued" if report.accepted else "rejected",
                            note="" if report.accepted else report.message.splitlines()[0])
                results.append(CandidateResult(cand, report))
        except DesignerStopped as stop:
            stopped = stages.record_stop(store, rnd, stop)
            break
        finally:
            view.llm_usage(stages.llm_usage(store))
        ### 5-6. Train and evaluate the accepted candidates (baselines ride along once)
        targets = [TrainTarget(r.candidate.id, store.cand_dir(rnd, r.candidate.index), "candidate",
                               store.cand_dir(rnd, r.candidate.index) / "reward.py", video=review.wants_video(cfg))
                   for r in results if r.validation.accepted]
        pending = [b for b in baselines if not b.finished]
        outcomes = train_and_evaluate(task, targets + pending, settings, executor, view.executor_event)
        results = [stages.with_training(r, outcomes.get(r.candidate.id, (None, None))) for r in results]
        for b in pending:
            evaluation = outcomes[b.key][1]
            view.update(b.key, "done" if evaluation else "failed", fitness=evaluation.selection.mean if evaluation else None)
        ### 7. Analyze: Eureka-style reflection per candidate
        results = [stages.analyze(r, store) for r in results]
        for r in results:
            view.result(r)
        ### 8. Select and review: best by fitness or by the reviewer (--review pauses here), feedback for the next round
        view.stop()  # a reviewer may take over the terminal
        feedback = review.close_round(rnd, results, best_so_far, feedback, cfg, store, reviewer)
        history.extend(results)
        if feedback.stop:
            break

    view.stop()
    summary = summarize(store, record, task, history, baselines, time.monotonic() - started, stopped, feedback)
    store.save_summary(summary)
    return summary


def check_fitness(task: Task, sample: StateSample) -> None:
    """Run the fitness function on random episodes before any training; raise if it fails."""
    if not sample.episodes:
        raise FitnessError(f"a random rollout of {task.env_id} finished no episode to check the fitness function on")
    for episode in sample.episodes:
        compute_fitness(task.fitness, episode, task.fitness_ref)


def train_settings(task: Task, record: RunRecord) -> TrainSettings:
    cfg = record.config
    selection, heldout = seed_sets(cfg.seed, task.eval.selection_episodes, task.eval.heldout_episodes)
    return TrainSettings(
        steps=cfg.steps or task.train.steps, seed=cfg.seed,
        timeout_s=cfg.train_timeout_s or float(task.train.timeout_s), call_timeout_s=cfg.call_timeout_s,
        selection_seeds=selection, heldout_seeds=heldout,
    )


def baseline_targets(store: RunStore) -> list[TrainTarget]:
    return [TrainTarget("human", store.baseline_dir("human"), "env"),
            TrainTarget("sparse", store.baseline_dir("sparse"), "sparse")]
