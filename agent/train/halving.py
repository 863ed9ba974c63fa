"""Successive halving across a round's candidates: train all to a first rung, continue the best 1/η.

With ``--halving ETA --first-rung F`` the round's budget is split into rungs ending at ``F``, ``F·η``,
``F·η²``, … of the full training budget (whole PPO rollouts) and the full budget itself. Every
accepted candidate trains to the first rung and is evaluated on the selection seeds (and the
held-out seeds, so a stopped candidate still has a reported result); the top ``1/η`` by selection
fitness (at least one) continue to the next rung, **resuming from their saved policy and Adam state**
(``envs.backends.sb3.checkpoint``), not from scratch; the others stop and keep their partial results. The last
rung trains into the candidate's own files, so a candidate that went the distance reads exactly like
one trained without halving; a stopped one has ``early_stop.json`` and its results in ``rung_N/``.
Baselines are not halved: they train at the full budget beside the last rung.

Why not Optuna's ``SuccessiveHalvingPruner`` or Ray Tune's ``ASHAScheduler``: both are the
*asynchronous* rule (ASHA). A trial is promoted when it is in the top ``1/η`` of the values reported
at that rung *so far* — Optuna's ``_is_trial_promotable_to_next_rung`` promotes the first ``η − 1``
trials of a rung whenever they are the best seen yet — so who continues depends on the order in
which candidates finish. Here all of a round's candidates finish each rung before anything is
decided (they are a batch by construction), and ``resume`` must replay the same decision from the
files on disk after a crash, so the synchronous rule (rank all, keep the top ``⌊n/η⌋``) is the one
that fits; it is a sort, kept in :meth:`agent.records.train.HalvingSchedule.continuing` (which tuning uses too). Ray Tune's
synchronous ``HyperBandScheduler`` would fit the rule but requires Tune's own trial runner,
checkpoint store and experiment directory, which would replace the run directory as the source of
truth. Decisions (ties broken by candidate id) are recorded in ``round_NN/halving.json``.
"""

from __future__ import annotations

from rewardsmith.agent.records.results import TargetOutcome
from rewardsmith.agent.records.train import EarlyStop, HalvingRecord, HalvingSchedule, RungDecision
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import Leg, TrainTarget


def train_round(trainer: Trainer, targets: list[TrainTarget], rnd: int,
                schedule: HalvingSchedule | None) -> dict[str, TargetOutcome]:
    """The loop's train-and-evaluate stage: with successive halving when a schedule is given."""
    if schedule is None:
        return trainer.train_and_evaluate(targets, batch=trainer.store.round_files(rnd))
    return train_with_halving(trainer, targets, schedule, rnd)


def train_with_halving(trainer: Trainer, targets: list[TrainTarget], schedule: HalvingSchedule,
                       rnd: int) -> dict[str, TargetOutcome]:
    """Train and evaluate a round's targets with successive halving of its candidates; return all outcomes.

    Work already on disk is kept (a resumed run continues at the rung it was in); a stopped candidate's
    outcome is that of the rung it stopped at.
    """
    task, settings, store = trainer.task, trainer.settings, trainer.store
    candidates = [t for t in targets if t.reward_kind == "candidate"]
    others = [t for t in targets if t.reward_kind != "candidate"]
    rollout = task.train.ppo.n_steps * task.train.n_envs
    budgets = schedule.budgets(settings.steps, rollout)
    record = HalvingRecord(schedule=schedule, budgets=budgets)
    alive = candidates
    for rung, budget in enumerate(budgets[:-1]):
        legs = [Leg(target=t, files=t.files.rung(rung), steps=budget, resume=t.files.rung(rung - 1) if rung else None,
                     checkpoint=True, video=False) for t in alive]
        trainer.run_legs(legs, rung)
        decision = _decide(trainer, schedule, rung, budget, legs)
        record = HalvingRecord(schedule=schedule, budgets=budgets, rungs=(*record.rungs, decision))
        store.save_halving(rnd, record)
        cutoff = min((f for k, f in decision.fitness.items() if k in decision.continued and f is not None), default=None)
        for leg in legs:
            if leg.target.key in decision.stopped and store.load_early_stop(leg.target.files) is None:
                store.save_early_stop(leg.target.files, EarlyStop(
                    rung=rung, steps_done=budget, steps_planned=settings.steps,
                    selection_fitness=decision.fitness.get(leg.target.key), cutoff_fitness=cutoff))
        alive = [t for t in alive if t.key in decision.continued]
    last = len(budgets) - 1
    legs = [Leg(target=t, files=t.files, steps=settings.steps, resume=t.files.rung(last - 1) if last else None,
                 checkpoint=False, video=t.video) for t in alive]
    legs += [Leg(target=t, files=t.files, steps=settings.steps, resume=None, checkpoint=False, video=t.video)
             for t in others]
    trainer.run_legs(legs, last if candidates else None)
    return {t.key: store.stopped_outcome(t.files) or store.outcome(t.files) for t in targets}


def _decide(trainer: Trainer, schedule: HalvingSchedule, rung: int, budget: int, legs: list[Leg]) -> RungDecision:
    fitness: dict[str, float | None] = {}
    for leg in legs:
        evaluation = trainer.store.outcome(leg.files).evaluation
        fitness[leg.target.key] = evaluation.selection.mean if evaluation is not None else None
    continued = schedule.continuing(fitness)
    return RungDecision(rung=rung, budget=budget, entered=tuple(fitness), fitness=fitness, continued=continued,
                        stopped=tuple(k for k in fitness if k not in continued))
