"""A round's training with its budget allocated over its candidates (``--allocation``, ``--halving``).

Who keeps training is decided by one implementation, :class:`envs.backends.allocation.Allocator`
(successive halving, or the bandit), from each candidate's learning curve: the task's fitness of the
episodes it finished while training. How a round trains in segments is the backend's
(:attr:`~agent.train.backends.base.Backend.allocation_mode`):

- **program** (jax): every target of the round trains in one job whose compiled program asks the
  allocator between its calls; a stopped candidate leaves the program, and its training so far is its
  own result (``cand_KK/metrics.json`` with ``steps_done`` short of the plan, its policy as it was). The
  job writes its decisions; this module copies them to ``round_NN/allocation.json`` and marks each
  stopped candidate with ``early_stop.json``.
- **rungs** (sb3): each rung is one job per candidate, continuing from the previous rung's policy and
  Adam state (``envs.backends.sb3.checkpoint``), into ``cand_KK/rung_N/``; every rung is evaluated, so a
  stopped candidate still has a reported result; the last rung trains into the candidate's own files,
  so a candidate that went the distance reads exactly like one trained without allocation.

Either way a stopped candidate's status is ``stopped``: its critique says so and it is never selected.
Baselines are never allocated: they train the full budget (in the same program on jax, beside the last
rung on sb3).

Why not Optuna's ``SuccessiveHalvingPruner`` or Ray Tune's ``ASHAScheduler``: both are the
*asynchronous* rule (ASHA). A trial is promoted when it is in the top ``1/η`` of the values reported
at that rung *so far* — Optuna's ``_is_trial_promotable_to_next_rung`` promotes the first ``η − 1``
trials of a rung whenever they are the best seen yet — so who continues depends on the order in
which candidates finish. Here all of a round's candidates finish each rung before anything is
decided (they are a batch by construction), and ``resume`` must replay the same decision from the
files on disk after a crash, so the synchronous rule (rank all, keep the top ``⌊n/η⌋``) is the one
that fits; it is a sort, kept in :meth:`~envs.backends.allocation.HalvingSchedule.continuing` (which
tuning uses too). Ray Tune's synchronous ``HyperBandScheduler`` would fit the rule but requires Tune's
own trial runner, checkpoint store and experiment directory, which would replace the run directory as
the source of truth. Ties are broken by candidate id.
"""

from __future__ import annotations

from rewardsmith.agent.records.results import TargetOutcome
from rewardsmith.agent.records.train import Allocation, AllocationRecord, EarlyStop
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import Leg, TrainTarget
from rewardsmith.envs.backends.allocation import Allocator, Point
from rewardsmith.envs.backends.records import TrainingResult


def train_round(trainer: Trainer, targets: list[TrainTarget], rnd: int,
                allocation: Allocation | None) -> dict[str, TargetOutcome]:
    """The loop's train-and-evaluate stage, with the round's budget allocated when ``allocation`` is given."""
    store = trainer.store
    if allocation is None:
        return trainer.train_and_evaluate(targets, batch=store.round_files(rnd))
    if trainer.backend.allocation_mode == "program":
        trainer.train_and_evaluate(targets, batch=store.round_files(rnd), allocation=allocation)
        record = store.load_program_allocation(store.round_files(rnd))
        if record is not None:  # None: the program failed and its targets were retrained apart, unallocated
            store.save_allocation(rnd, record)
            _mark_stopped(store, targets, record, trainer.settings.steps, in_rung_folder=False)
    else:
        train_in_rungs(trainer, targets, allocation, rnd)
    return {t.key: store.stopped_outcome(t.files) or store.outcome(t.files) for t in targets}


def train_in_rungs(trainer: Trainer, targets: list[TrainTarget], allocation: Allocation,
                   rnd: int) -> dict[str, TargetOutcome]:
    """Train and evaluate a round's targets rung by rung, each rung a job per candidate; return all outcomes.

    Work already on disk is kept (a resumed run continues at the rung it was in, and replays the same
    decisions from the same files); a stopped candidate's outcome is that of the rung it stopped at.
    """
    task, settings, store = trainer.task, trainer.settings, trainer.store
    candidates = [t for t in targets if t.reward_kind == "candidate"]
    others = [t for t in targets if t.reward_kind != "candidate"]
    allocator = Allocator(allocation, [t.key for t in candidates], settings.steps,
                          task.train.ppo.n_steps * task.train.n_envs)
    budgets = allocator.budgets
    alive = candidates
    for rung, budget in enumerate(budgets[:-1]):
        if len(alive) <= 1:
            break
        legs = [Leg(target=t, files=t.files.rung(rung), steps=budget, resume=t.files.rung(rung - 1) if rung else None,
                     checkpoint=True, video=False) for t in alive]
        trainer.run_legs(legs, rung)
        curves = {leg.target.key: curve_of(store.outcome(leg.files).training) for leg in legs}
        # A candidate whose rung failed never continues; it is marked stopped there, so its result is that rung's.
        failed = [leg.target.key for leg in legs if not _trained(store.outcome(leg.files).training)]
        decision = allocator.decide(budget, curves, failed)
        store.save_allocation(rnd, allocator.record)
        _mark_stopped(store, alive, allocator.record, settings.steps, in_rung_folder=True)
        alive = [t for t in alive if t.key in decision.continued]
    done = max((d.rung + 1 for d in allocator.state.decisions), default=0)
    legs = [Leg(target=t, files=t.files, steps=settings.steps, resume=t.files.rung(done - 1) if done else None,
                 checkpoint=False, video=t.video) for t in alive]
    legs += [Leg(target=t, files=t.files, steps=settings.steps, resume=None, checkpoint=False, video=t.video)
             for t in others]
    trainer.run_legs(legs, done if candidates else None)
    return {t.key: store.stopped_outcome(t.files) or store.outcome(t.files) for t in targets}


def _trained(training: TrainingResult | None) -> bool:
    return training is not None and training.trained


def curve_of(training: TrainingResult | None) -> tuple[Point, ...]:
    """A training's learning curve as the allocation reads it: each rollout's fitness of the episodes that ended."""
    if training is None or training.status != "ok":
        return ()
    return tuple(Point(steps=cp.timesteps, fitness=cp.fitness, episodes=cp.episodes)
                 for cp in training.checkpoints if cp.fitness is not None and cp.episodes > 0)


def _mark_stopped(store: RunStore, targets: list[TrainTarget], record: AllocationRecord, planned: int,
                  in_rung_folder: bool) -> None:
    """``early_stop.json`` for every target a decision of ``record`` stopped (once: a resumed round rewrites none)."""
    files = {t.key: t.files for t in targets}
    for d in record.decisions:
        kept = [f for k, f in d.fitness.items() if k in d.continued and f is not None]
        # In rungs, a candidate whose rung failed is marked too: its result (the failure) is in that rung's folder.
        # In a program, an arm frozen by NaN keeps its own result and status.
        for key in (*d.stopped, *(d.failed if in_rung_folder else ())):
            if key in files and store.load_early_stop(files[key]) is None:
                store.save_early_stop(files[key], EarlyStop(
                    rung=d.rung, steps_done=d.steps, steps_planned=planned, selection_fitness=d.fitness.get(key),
                    cutoff_fitness=min(kept, default=None), policy=record.allocation.policy,
                    reason=d.reasons.get(key, "its training at this rung failed"), in_rung_folder=in_rung_folder))
