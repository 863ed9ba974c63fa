"""A fake trial evaluator for the tuning tests: fitness peaks at W_A = 2, -3 × B; every call is logged."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from rewardsmith.agent.rundir.store import RoundFiles, TargetFiles
from rewardsmith.agent.tune.constants import reward_constants
from rewardsmith.agent.tune.tuner import Evaluate, TrialRun, Tuner, TuneSettings
from rewardsmith.core.atomic import write_json
from rewardsmith.envs.backends.records import TrainingResult
from rewardsmith.envs.evaluation import EvaluationResult, FitnessStats

CODE = '''import numpy as np

W_A = 1.0   # a weight
W_B = -0.5
N_SKIP = 3
TARGET_X = 0.45


def compute_reward(state, action):
    a = W_A * np.ones(len(action))
    return a + W_B + N_SKIP * 0 + TARGET_X * 0, {"a": a}
'''


def fake_evaluate(log: Path, sleep_s: float = 0.0) -> Evaluate:
    """Scores each run of a batch; logs ``trial_KEY/rung_R STEPS BATCH`` per run (BATCH: the batch folder)."""

    def evaluate(runs: list[TrialRun], steps: int, batch: RoundFiles) -> None:
        for r in runs:
            one(r.code, steps, r.files, batch)

    def one(code: str, steps: int, files: TargetFiles, batch: RoundFiles) -> None:
        consts = {c.name: c.value for c in reward_constants(code)}
        with log.open("a") as fh:
            fh.write(f"{files.dir.parent.name}/{files.dir.name} {steps} {batch.dir.name}\n")
        time.sleep(sleep_s)
        fit = -math.log(consts["W_A"] / 2.0) ** 2 - math.log(consts["W_B"] / -1.5) ** 2 + math.log(steps)
        training = TrainingResult(status="ok", error=None, reward_kind="candidate", steps_done=steps, steps_planned=steps,
                                  wall_s=0.01, components=(), checkpoints=(), policy=None)
        evaluation = EvaluationResult(selection=FitnessStats.of([fit], (1,)), heldout=FitnessStats.of([fit - 0.1], (2,)),
                                      episode_length=1.0, wall_s=0.0)
        write_json(files.metrics, training)
        write_json(files.fitness, evaluation)

    return evaluate


def tuner(root: Path, trials: int, sleep_s: float = 0.0) -> Tuner:
    from rewardsmith.agent.rundir.store import RunStore

    return Tuner(CODE, "test", RunStore(root), "reward", 2700, TuneSettings(trials=trials, rungs=2),
                 fake_evaluate(root / "calls.log", sleep_s))


if __name__ == "__main__":  # the child a resume test kills mid-study
    tuner(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])).run()
