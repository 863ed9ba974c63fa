"""Child process of :func:`envs.fitness.check_fitness_file`: ``python -m envs.fitness_child REF BASE_DIR FOLDER PID``.

Imports the user's fitness function and calls it on the episodes in ``FOLDER/episodes.npz``, writing
one JSON line per step to ``FOLDER/results.jsonl`` as it goes (``{"stage": "imported", "doc": ...}``,
then ``{"value": v}`` per episode, or ``{"error": ..., "kind": ...}``), so that the parent, which
kills it at the deadline, can tell whether it hung at import or on which episode.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

from rewardsmith.core.procs import die_with_parent


def _say(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record) + "\n")
    out.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: python -m envs.fitness_child REF BASE_DIR FOLDER PARENT_PID", file=sys.stderr)
        return 2
    die_with_parent(int(argv[3]))
    from rewardsmith.core.errors import FitnessError, TaskError
    from rewardsmith.envs.fitness import compute_fitness, load_episodes, load_fitness

    ref, base_dir, folder = argv[0], Path(argv[1]), Path(argv[2])
    episodes = load_episodes(folder / "episodes.npz")
    with (folder / "results.jsonl").open("w", encoding="utf-8") as out:
        try:
            fn = load_fitness(ref, base_dir)
        except TaskError as exc:
            kind = "fitness" if isinstance(exc, FitnessError) else "task"
            _say(out, {"error": " ".join(str(exc).split()), "kind": kind})
            return 1
        _say(out, {"stage": "imported", "doc": (fn.__doc__ or "").strip()})
        for episode in episodes:
            try:
                value = compute_fitness(fn, episode, ref)
            except FitnessError as exc:
                _say(out, {"error": " ".join(str(exc).split()), "kind": "fitness"})
                return 1
            _say(out, {"value": value})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
