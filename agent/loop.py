"""The reward-design loop, top to bottom like Eureka's algorithm box.

One round: render prompt → sample K → extract → validate → train → evaluate → analyze → select.
The run directory is the source of truth: every stage first looks there, so ``resume`` continues
an interrupted run without redoing (or re-paying for) finished work.
"""

from __future__ import annotations

import time

from rewardsmith.agent import halving, next_round, plots, review, screen, stages
from rewardsmith.agent.config import RunRecord
from rewardsmith.agent.designers import make_designer
from rewardsmith.agent.designers.terms import goal_spec
from rewardsmith.agent.executor import LocalExecutor
from rewardsmith.agent.executors import make_executor
from rewardsmith.agent.final import final_for_run
from rewardsmith.agent.plan import plan_run
from rewardsmith.agent.progress import ProgressView
from rewardsmith.agent.records import CandidateResult, RoundFeedback, RunSummary
from rewardsmith.agent.review import RoundReviewer
from rewardsmith.agent.reviewers import make_reviewer
from rewardsmith.agent.store import RunStore
from rewardsmith.agent.summary import summarize
from rewardsmith.agent.trainer import TrainSettings, TrainTarget
from rewardsmith.agent.tune import tune_stage
from rewardsmith.core.errors import DesignerStopped, FitnessError
from rewardsmith.envs.fitness import check_fitness_file
from rewardsmith.envs.rollout import StateSample, random_rollout
from rewardsmith.envs.tasks import Task, load_task

FITNESS_CHECK_TIMEOUT_S = 60.0
"""Importing the task's fitness module and scoring the sample episodes must take less than this."""


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
    settings = TrainSettings.for_run(task, cfg)
    goal = goal_spec(task.adapter.spec, task.description)  # the fields as the task's goal reads them (the analyzer's)
    executor = LocalExecutor(cfg.workers)  # tuning and the final comparison run here
    round_executor = make_executor(cfg, store.root)  # --executor: local processes or a Ray cluster
    baselines = baseline_targets(store) if cfg.baselines else []
    reviewer = reviewer or make_reviewer(cfg, view.console.print)
    view.plan = plan_run(task, rounds=cfg.rounds, samples=cfg.samples, steps=settings.steps, workers=cfg.workers,
                         baselines=cfg.baselines, final_seeds=cfg.final_seeds)
    history: list[CandidateResult] = []
    feedback: RoundFeedback | None = None
    stopped: str | None = None

    with stages.jax_export_helpers(task, settings.backend) as shared:  # jax: one export zygote + module checker
        for rnd in range(1, cfg.rounds + 1):
            view.round_started(rnd, cfg.rounds)
            ### 1. Prompt: the task, its state fields, and the best reward so far with its critique
            request, incumbent = next_round.request(task, rnd, history, feedback, store, cfg)
            try:  # the designer may stop the run here (budget cap, model unreachable): cleanly, resumable
                ### 2-3. Sample K candidates and extract their code (plus a reviewer's edit of the last round)
                candidates = (stages.sample_round(designer, request, store)
                              + next_round.reviewer_edit(rnd, cfg.samples, feedback, store)
                              + next_round.tuned_entry(rnd, cfg.samples, feedback, store))
                ### 4. Validate: static checks, then a probe run in the sandbox; a rejected candidate goes
                ###    back to the designer with the exact problem (bounded fix-retry)
                results = stages.validate_all(designer, request, candidates, stages.Validation(
                    task=task, sample=sample, store=store, max_fixes=cfg.fix_attempts,
                    human=feedback.human if feedback else None, allow_weak_sandbox=cfg.allow_weak_sandbox,
                    backend=settings.backend, parallel=cfg.workers, export=shared, progress=view.update))
            except DesignerStopped as stop:
                stopped = stages.record_stop(store, rnd, stop)
                break
            finally:
                view.llm_usage(stages.llm_usage(store))
            ### 5-6. Train and evaluate the accepted candidates (baselines ride along once)
            if cfg.screen:  # CARD-style: a reward that ranks earlier rounds' rollouts against their fitness is not trained
                results = screen.screened(task, results, store, rnd)
            targets = [TrainTarget(key=r.candidate.id, files=store.files_of(r.candidate), reward_kind="candidate",
                                   video=cfg.records_videos) for r in results if r.validation.accepted and not r.skipped]
            pending = [b for b in baselines if not store.is_finished(b.files)]
            outcomes = halving.train_round(task, targets + pending, settings, round_executor, store, view.executor_event,
                                           rnd, cfg.halving_schedule)  # --halving: the best 1/η train on
            results = [stages.with_outcome(r, outcomes.get(r.candidate.id)) for r in results]
            for b in pending:
                view.baseline(b.key, outcomes[b.key].evaluation)
            ### 7. Analyze: Eureka-style reflection per candidate
            results = [stages.analyze(r, store, goal) for r in results]
            for r in results:
                view.result(r)
            ### 8. Select and review: best by fitness or by the reviewer (--review pauses here), feedback for the next round
            view.stop()  # a reviewer may take over the terminal
            feedback = review.close_round(rnd, results, incumbent, feedback, cfg, store, reviewer)
            history.extend(results)
            plots.write_round_plots(store, rnd)
            if feedback.stop:
                break
            if cfg.tune and rnd < cfg.rounds:  ### 8b. Tune the selection's named constants (Optuna); joins the next round
                tune_stage(task, store, next_round.best_of(history, feedback), settings, executor, view.executor_event,
                           cfg.tune_trials, cfg.seed)

    view.stop()
    ### 9. Final comparison: the best reward retrained on fresh seeds gives the headline numbers
    final = final_for_run(store, task, cfg, history, feedback, settings, executor, view) if stopped is None else None
    summary = summarize(store, record, task, history, baselines, time.monotonic() - started, stopped, feedback,
                        final)
    store.save_summary(summary)
    return summary


def check_fitness(task: Task, sample: StateSample) -> None:
    """Run the fitness function on random episodes before any training (in a child process, bounded); raise if it fails."""
    if not sample.episodes:
        raise FitnessError(f"a random rollout of {task.env_id} finished no episode to check the fitness function on")
    check_fitness_file(task, sample.episodes, FITNESS_CHECK_TIMEOUT_S)


def baseline_targets(store: RunStore) -> list[TrainTarget]:
    return [TrainTarget(key="human", files=store.baseline_files("human"), reward_kind="env"),
            TrainTarget(key="sparse", files=store.baseline_files("sparse"), reward_kind="sparse")]
