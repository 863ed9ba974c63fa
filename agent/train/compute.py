"""Compute accounting: what each finished job cost, recorded per target in ``costs.json`` by the orchestrator.

The executor measures each step's CPU-seconds (its process tree, from ``wait4``'s rusage, or on a
Ray worker the same around the job process); env-steps come from the training job's own result
(``TrainingResult.job_steps``: a resumed rung counts only the steps it added). A job killed at its
time limit reports the CPU it used and 0 env-steps (its progress was lost with it).
"""

from __future__ import annotations

from collections.abc import Mapping

from rewardsmith.agent.records.train import JobCost
from rewardsmith.agent.rundir.store import RunStore, TargetFiles
from rewardsmith.agent.train.executors.base import StepOutcome


def record_costs(store: RunStore, files: Mapping[str, TargetFiles], outcomes: Mapping[str, list[StepOutcome]],
                 rung: int | None = None, log_to: Mapping[str, TargetFiles] | None = None) -> None:
    """Append the cost of every step that ran (not the skipped ones) to its target's ``costs.json``.

    ``files``: where each pipeline's jobs wrote (a halving rung's folder); ``log_to``: whose ``costs.json``
    is appended to (the candidate's own, so a round's compute is summed over its candidates); default ``files``.
    """
    for key, steps in outcomes.items():
        target = files.get(key)
        if target is None:
            continue
        log = (log_to or files).get(key, target)
        costs = []
        for step in steps:
            if step.status == "skipped":
                continue
            env_steps = 0
            if step.kind == "train" and step.status in ("ok", "no_policy"):
                training = store.outcome(target).training
                env_steps = training.job_steps if training is not None else 0
            costs.append(JobCost(kind=step.kind, rung=rung, env_steps=env_steps, cpu_s=round(step.cpu_s, 3),
                                 wall_s=round(step.wall_s, 3)))
        store.add_costs(log, tuple(costs))
