"""Measure PPO training throughput per task on this machine, to choose the task files' budgets.

Runs :func:`envs.backends.sb3.train.train` in this process (the same code a training job runs) for a short
budget and reports the steady rate between the first and last PPO rollout, the start-up time, and
the CPU seconds used (trainer plus, for ``--reward candidate``, its sandboxed reward worker), with
the load average so a measurement on a busy machine can be recognised. Optional PPO overrides let
one compare settings: ``--ppo batch_size=64``.

    python bench/throughput.py halfcheetah hopper reacher --steps 20480 [--reward env|sparse|candidate]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from rewardsmith.agent.rundir.store import TargetFiles
from rewardsmith.envs.adapters.env_rewards import env_reward_file
from rewardsmith.envs.backends.sb3.train import TrainJob, train
from rewardsmith.envs.tasks import Task, load_task


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def _ppo_given(task: Task) -> dict[str, object]:
    """The task file's own PPO settings (those that differ from SB3's defaults), as TOML-ready values."""
    given = task.train.ppo.model_dump(exclude_defaults=True)
    if given.get("net_arch") is not None:
        given["net_arch"] = list(given["net_arch"])
    return given


def task_with(task: Task, ppo: dict[str, object], n_envs: int | None, out: Path) -> Path:
    """A copy of the task file with PPO settings overridden (fitness resolved to an absolute ref)."""
    fitness = task.fitness_ref
    if ":" in fitness:
        file_part, fn = fitness.rsplit(":", 1)
        fitness = f"{(task.source.parent / file_part).resolve()}:{fn}"
    merged = {**_ppo_given(task), **ppo}
    lines = [f"name = {_toml_value(task.name)}", f"env = {_toml_value(task.env_id)}",
             f"description = {_toml_value(task.description)}", f"fitness = {_toml_value(fitness)}"]
    if task.env_kwargs:
        lines.append(f"env_kwargs = {_toml_value(task.env_kwargs)}")
    lines += ["[train]", f"steps = {task.train.steps}", f"n_envs = {n_envs or task.train.n_envs}",
              f"timeout_s = {task.train.timeout_s}", f"ppo = {_toml_value(merged)}"]
    path = out / f"{task.name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _watch(progress: Path, stop: threading.Event, marks: list[tuple[int, float, float]]) -> None:
    last = 0.0
    while not stop.is_set():
        try:
            mtime = progress.stat().st_mtime
            if mtime != last:
                last = mtime
                done = int(json.loads(progress.read_text())["done"])
                marks.append((done, time.monotonic(), time.process_time()))
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)


def measure(task: Task, reward: str, steps: int, ppo: dict[str, object], n_envs: int | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="rs-throughput-") as tmp:
        out = Path(tmp)
        task_file = task_with(task, ppo, n_envs, out)
        reward_file = env_reward_file(task.env_id) if reward == "candidate" else None
        if reward == "candidate" and reward_file is None:
            raise SystemExit(f"{task.name}: no reward file reproduces {task.env_id}'s reward")
        job = TrainJob(task_file=str(task_file), reward_kind=reward, reward_file=str(reward_file) if reward_file else None, steps=steps, seed=0, outputs=TargetFiles(Path(out)).train_outputs())  # type: ignore[arg-type]
        marks: list[tuple[int, float, float]] = []
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(out / "progress.json", stop, marks), daemon=True)
        load_before = os.getloadavg()[0]
        cpu0, child0 = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        watcher.start()
        result = train(job)
        wall = time.monotonic() - started
        stop.set()
        watcher.join()
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = time.process_time() - cpu0 + (child1.ru_utime + child1.ru_stime - child0.ru_utime - child0.ru_stime)
    steady = steady_cpu = None
    if len(marks) >= 2 and marks[-1][1] > marks[0][1]:
        steady = (marks[-1][0] - marks[0][0]) / (marks[-1][1] - marks[0][1])
        # Trainer CPU only (a candidate's reward worker is another process): the rate one core would give.
        steady_cpu = (marks[-1][0] - marks[0][0]) / max(marks[-1][2] - marks[0][2], 1e-9)
    first = marks[0][1] - started if marks else None
    return {"task": task.name, "reward": reward, "status": result.status, "steps": result.steps_done,
            "n_envs": n_envs or task.train.n_envs, "ppo": {**_ppo_given(task), **ppo},
            "wall_s": round(wall, 2), "first_rollout_s": round(first, 2) if first else None,
            "steady_steps_per_s": round(steady) if steady else None,
            "steady_steps_per_trainer_cpu_s": round(steady_cpu) if steady_cpu else None, "cpu_s": round(cpu, 2),
            "steps_per_cpu_s": round(result.steps_done / cpu) if cpu > 0 else None,
            "load_1min_before": round(load_before, 2), "load_1min_after": round(os.getloadavg()[0], 2)}


def _override(text: str) -> tuple[str, object]:
    key, _, raw = text.partition("=")
    value: object
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tasks", nargs="+")
    p.add_argument("--steps", type=int, default=20480)
    p.add_argument("--reward", choices=["env", "sparse", "candidate"], default="env")
    p.add_argument("--n-envs", type=int, default=None)
    p.add_argument("--ppo", action="append", default=[], type=_override, help="KEY=VALUE PPO override")
    args = p.parse_args(argv)
    for name in args.tasks:
        print(json.dumps(measure(load_task(name), args.reward, args.steps, dict(args.ppo), args.n_envs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
