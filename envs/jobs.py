"""Entry point of job processes: ``python -m envs.jobs train|evaluate|video JOB.json``.

The orchestrator starts one process per job and enforces its wall-clock timeout from outside.
Exit codes: 0 = done and the next step may run; 3 = finished but produced no policy (the result
file says why); anything else = crashed (the log says why).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

from agent.atomic import read_record
from envs.evaluation import EvalJob, evaluate
from envs.training import TrainJob, train
from envs.video import VideoJob, record_video

NO_POLICY = 3


def die_with_parent() -> None:
    """Jobs run in their own session (so a timeout can kill their group); if the orchestrator is
    killed outright they must not live on as orphans writing into the run directory."""
    parent = os.getppid()
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        sys.exit(1)


def main(argv: list[str]) -> int:
    die_with_parent()
    if len(argv) != 2 or argv[0] not in ("train", "evaluate", "video"):
        print("usage: python -m envs.jobs train|evaluate|video JOB.json", file=sys.stderr)
        return 2
    kind, path = argv[0], Path(argv[1])
    if kind == "train":
        result = train(read_record(path, TrainJob))
        return 0 if result.trained else NO_POLICY
    if kind == "video":
        record_video(read_record(path, VideoJob))  # a render failure is recorded in video.json, not raised
        return 0
    evaluate(read_record(path, EvalJob))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
