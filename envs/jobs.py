"""Entry point of job processes: ``python -m envs.jobs train|jax_round|evaluate|video JOB.json PID``.

The orchestrator starts one process per job and enforces its wall-clock timeout from outside.
Exit codes: 0 = done and the next step may run; 3 = finished but produced no policy (the result
file says why); anything else = crashed (the log says why).
"""

from __future__ import annotations

import sys
from pathlib import Path

from rewardsmith.core.procs import die_with_parent

CRASHED = 1
"""The job failed (its log's last line says why), e.g. ``out of memory: …`` at the jax round's memory cap."""
NO_POLICY = 3
FITNESS_FAILED = 4
"""The task's fitness function raised, returned a non-float or hung: the task is to blame, not the candidate."""
KINDS = ("train", "jax_round", "evaluate", "video")


def main(argv: list[str]) -> int:
    """Run one job. ``argv``: ``KIND JOB.json [PARENT_PID]``.

    Death-with-parent is armed before anything heavy is imported (torch and SB3 take 1-2 s), with the
    orchestrator's pid passed down: a kill of the orchestrator at any moment leaves no job behind.
    """
    if len(argv) not in (2, 3) or argv[0] not in KINDS:
        print(f"usage: python -m envs.jobs {'|'.join(KINDS)} JOB.json [PARENT_PID]", file=sys.stderr)
        return 2
    die_with_parent(int(argv[2]) if len(argv) == 3 else None)
    from rewardsmith.core.errors import FitnessError

    try:
        return _run(argv[0], Path(argv[1]))
    except FitnessError as err:
        print(f"fitness function failed: {err}", file=sys.stderr, flush=True)
        return FITNESS_FAILED


def _run(kind: str, path: Path) -> int:
    from rewardsmith.core.atomic import read_record

    if kind == "train":
        from rewardsmith.envs.backends.sb3.train import TrainJob, train

        result = train(read_record(path, TrainJob))
        return 0 if result.trained else NO_POLICY
    if kind == "jax_round":
        from rewardsmith.envs.backends.jax.job import JaxRoundJob, OutOfMemory, run_round

        try:
            run_round(read_record(path, JaxRoundJob))  # each arm's outcome is in its own metrics file
        except OutOfMemory as exc:  # one line for the log's last line, which the trainer records
            print(f"out of memory: {exc}", file=sys.stderr, flush=True)
            return CRASHED
        return 0
    if kind == "video":
        from rewardsmith.envs.video import VideoJob, record_video

        record_video(read_record(path, VideoJob))  # a render failure is recorded in video.json, not raised
        return 0
    from rewardsmith.envs.evaluation import EvalJob, evaluate

    evaluate(read_record(path, EvalJob))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
