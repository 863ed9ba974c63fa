"""The final comparison of a run: the best reward retrained on fresh training seeds, like ``bench`` does.

A run selects its best reward on one training seed, so the fitness it reports is one draw (plus
whatever luck selection picked up); the spread over evaluation episodes of that one training says
nothing about how the reward trains. After the last round, :func:`final_seeds` retrains the best
reward (and, when the run has them, the two baselines) on ``n`` seeds the loop never used, and the
headline becomes mean ± standard deviation over those trainings. When the baselines are not told
apart by the seeds (their difference within their spread), the HNS divides by noise and is reported
as not meaningful instead of as a number.

The trainings run on the run's own backend, each target on its own seed: on sb3 one process each, on
jax one program for all of them like a round's (the designed arms from the best candidate's checked
module), so the reward is scored by the trainer that selected it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from rewardsmith.agent.goal.task_goal import fitness_doc
from rewardsmith.agent.records.results import FinalArm, FinalScore, TargetOutcome
from rewardsmith.agent.report.scores import hns, hns_meaning, hns_spread, verdict
from rewardsmith.agent.rundir.store import CandidateFiles
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import TrainTarget
from rewardsmith.envs.backends.records import RewardKind

Arm = Literal["designed", "human", "sparse"]
ARMS: dict[Arm, RewardKind] = {"designed": "candidate", "human": "env", "sparse": "sparse"}
DEFAULT_FINAL_SEEDS = 3


def fresh_seeds(seed: int, n: int) -> tuple[int, ...]:
    """``n`` training seeds the loop did not train on (it uses ``seed``): ``seed + 1 … seed + n``."""
    return tuple(range(seed + 1, seed + 1 + n))


def final_seeds(trainer: Trainer, best: CandidateFiles | None, n: int, *, baselines: bool = True) -> FinalScore | None:
    """Retrain the ``best`` candidate's reward (and the baselines) on ``n`` fresh seeds; None when ``n`` is 0.

    Without a ``best`` (no candidate trained: the bench still scores the baselines) the designed arm is missing
    on every seed.

    Trainings already on disk (``final/<arm>/seed_N/``) are not redone, so ``resume`` continues here too:
    a killed comparison trains only the arms without a training result, and evaluates only those without
    a fitness.
    """
    if n <= 0:
        return None
    seeds = fresh_seeds(trainer.settings.seed, n)
    arms: list[Arm] = list(ARMS) if baselines else ["designed"]
    trained = [arm for arm in arms if best is not None or arm != "designed"]
    targets = [TrainTarget(key=f"{arm} seed {s}", files=trainer.store.final_files(arm, s), reward_kind=ARMS[arm],
                           reward_file=best.reward if best is not None and arm == "designed" else None,
                           artifact=best if arm == "designed" else None, seed=s)
               for arm in trained for s in seeds]
    outcomes = trainer.train_and_evaluate(targets, batch=trainer.store.final_batch()) if targets else {}
    by_arm = {arm: arm_score(arm, seeds, [outcomes.get(f"{arm} seed {s}", TargetOutcome()) for s in seeds])
              for arm in arms}
    return score(seeds, trainer.settings.steps, by_arm["designed"], by_arm.get("human"), by_arm.get("sparse"),
                 fitness_doc=fitness_doc(trainer.task.fitness_ref, trainer.task.source.parent) or trainer.task.fitness_ref)


def arm_score(arm: Arm, seeds: tuple[int, ...], outcomes: list[TargetOutcome]) -> FinalArm:
    status, heldout = [], []
    for outcome in outcomes:
        evaluation, training = outcome.evaluation, outcome.training
        heldout.append(evaluation.heldout.mean if evaluation is not None else None)
        status.append("ok" if evaluation is not None else (training.status if training is not None else "missing"))
    values = [v for v in heldout if v is not None]
    return FinalArm(arm=arm, seeds=seeds, status=tuple(status), heldout=tuple(heldout),
                    mean=float(np.mean(values)) if values else None, std=float(np.std(values)) if values else None)


def score(seeds: tuple[int, ...], steps: int, designed: FinalArm, human: FinalArm | None,
          sparse: FinalArm | None, fitness_doc: str = "") -> FinalScore:
    """HNS on the arms' means with its spread over every arm's seeds, whether it means anything, and the
    designed reward's verdict against each baseline."""
    value, note = hns(designed.mean, human.mean if human else None, sparse.mean if sparse else None)
    spread: float | None = None
    meaningful = value is not None
    if value is not None and human is not None and sparse is not None:
        spread = hns_spread(designed.values, human.values, sparse.values)
        assert human.mean is not None and sparse.mean is not None
        why_not = hns_meaning(human.mean, human.std, sparse.mean, sparse.std, f"{len(seeds)} training seeds")
        meaningful = why_not is None
        note = why_not or f"held-out fitness over {len(seeds)} fresh training seeds, same budget for all three"
    verdicts = tuple(verdict(designed, b) for b in (human, sparse) if b is not None)
    return FinalScore(seeds=seeds, steps=steps, designed=designed, human=human, sparse=sparse, hns=value,
                      hns_std=spread, hns_meaningful=meaningful, note=note, verdicts=verdicts,
                      fitness_doc=fitness_doc)

