"""Cost of the sandbox: per reward call, per candidate validation, and as a share of training time.

Three ways of calling the same reward are interleaved in chunks in one run, so machine load hits them
alike, and reported as ratios to the in-process call:

* ``inproc``  — the reward exec'd in this process (what Eureka-style tools do; never done by RewardSmith);
* ``worker``  — the reward worker with rlimits only (no wrapper, no seccomp);
* ``sandbox`` — the worker under the isolation detected here (e.g. bubblewrap + seccomp + rlimits).

The reward is an Ant-like function of 27 state values and 8 actions with ~30 numpy operations (the
shape of a typical LLM-written reward). Then: the median time of :func:`validate_source` per
candidate, and a short CartPole PPO run with a candidate reward, reporting the time spent in sandboxed
reward calls beyond what the same calls cost in-process, as a share of the whole training run.

    python bench/reward_call.py [--batches 16,4096] [--calls 3000] [--chunks 6] [--train-steps 8192] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.core.state import ActionSpec, StateField, StateSpec
from rewardsmith.sandboxes.client import RewardProcess, SandboxLimits
from rewardsmith.sandboxes.isolation import PROJECT_ROOT, Isolation, detect_isolation
from rewardsmith.sandboxes.validate import validate_source

SPEC = StateSpec(
    fields=(StateField(name="x_velocity", shape=(), unit="m/s", doc="forward velocity"),
            StateField(name="y_velocity", shape=(), unit="m/s", doc="sideways velocity"),
            StateField(name="torso_height", shape=(), unit="m", doc="height of the torso"),
            StateField(name="orientation", shape=(4,), unit="1", doc="torso quaternion"),
            StateField(name="joint_pos", shape=(8,), unit="rad", doc="joint angles"),
            StateField(name="joint_vel", shape=(8,), unit="rad/s", doc="joint velocities"),
            StateField(name="contact", shape=(4,), unit="1", doc="foot contacts")),
    action=ActionSpec(8, "joint torques", -1.0, 1.0),
)

REWARD = '''
import numpy as np

FORWARD_WEIGHT = 1.0
HEALTHY_REWARD = 0.5
CTRL_COST = 0.05
HEIGHT_RANGE = (0.2, 1.0)
UPRIGHT_TEMP = 0.3


def healthy(height, orientation):
    in_range = (height > HEIGHT_RANGE[0]) & (height < HEIGHT_RANGE[1])
    tilt = 1.0 - 2.0 * (orientation[:, 1] ** 2 + orientation[:, 2] ** 2)
    return in_range.astype(np.float64) * np.exp(-np.square(1.0 - tilt) / UPRIGHT_TEMP)


def compute_reward(state, action):
    forward = FORWARD_WEIGHT * np.tanh(state.x_velocity)
    drift = -0.1 * np.abs(state.y_velocity)
    alive = HEALTHY_REWARD * healthy(state.torso_height, state.orientation)
    ctrl = -CTRL_COST * np.sum(np.square(action), axis=1)
    smooth = -0.001 * np.linalg.norm(state.joint_vel, axis=1)
    limits = -0.01 * np.sum(np.clip(np.abs(state.joint_pos) - 1.0, 0.0, None), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        gait = 0.05 * np.where(state.contact.sum(axis=1) > 0, np.mean(state.contact, axis=1), 0.0)
    components = {"forward": forward, "drift": drift, "alive": alive, "ctrl": ctrl,
                  "smooth": smooth, "limits": limits, "gait": gait}
    total = forward + drift + alive + ctrl + smooth + limits + gait
    return total, components
'''

CARTPOLE_REWARD = '''
import numpy as np

def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    centre = -0.1 * np.abs(state.cart_position)
    return upright + centre, {"upright": upright, "centre": centre}
'''


def small_reward(spec: StateSpec) -> str:
    """A short reward for any task: squash its first scalar field, penalise effort."""
    name = next(f.name for f in spec.fields if not f.shape)
    return ("import numpy as np\n\ndef compute_reward(state, action):\n"
            f"    progress = np.tanh(state.{name})\n"
            "    effort = -0.01 * np.sum(np.square(action), axis=1)\n"
            "    return progress + effort, {'progress': progress, 'effort': effort}\n")


def _inputs(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, SPEC.size)), rng.uniform(-1, 1, size=(batch, SPEC.action.dim))


def _in_process(source: str, spec: StateSpec) -> Callable[[np.ndarray, np.ndarray], Any]:
    """The trusted benchmark reward exec'd in this process: the baseline the sandbox is compared with."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "reward.py", "exec"), namespace)
    fn = namespace["compute_reward"]

    def call(states: np.ndarray, actions: np.ndarray) -> Any:
        return fn(spec.unpack(states), actions)  # as Eureka-style tools do: no copy, no protection

    return call


def per_call(batches: list[int], calls: int, chunks: int) -> dict[str, dict[str, float]]:
    """Median µs per call of each variant, per batch size, from interleaved chunks."""
    detected = detect_isolation()
    variants: dict[str, Isolation | None] = {"inproc": None, "worker": Isolation("rlimits"), "sandbox": detected}
    out: dict[str, dict[str, float]] = {}
    for batch in batches:
        states, actions = _inputs(batch)
        limits = SandboxLimits(max_batch=batch)
        procs = {name: RewardProcess(REWARD, SPEC, limits, iso, allow_weak_isolation=name == "worker")
                 for name, iso in variants.items() if iso is not None}  # "worker": rlimits only, on purpose
        fns: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {"inproc": _in_process(REWARD, SPEC)}
        try:
            for name, proc in procs.items():
                proc.start()
                fns[name] = proc.call
            n = max(1, calls // chunks if batch <= 256 else calls // (chunks * 10))
            samples: dict[str, list[float]] = {name: [] for name in fns}
            cpu: dict[str, list[float]] = {name: [] for name in fns}
            for _ in range(chunks):
                for name, fn in fns.items():
                    fn(states, actions)  # warm
                    worker = _worker_cpu(procs[name]) if name in procs else 0.0
                    started, cpu_started = time.perf_counter(), time.process_time()
                    for _ in range(n):
                        fn(states, actions)
                    samples[name].append((time.perf_counter() - started) / n * 1e6)
                    worker = (_worker_cpu(procs[name]) - worker) if name in procs else 0.0
                    cpu[name].append((time.process_time() - cpu_started + worker) / n * 1e6)
        finally:
            for proc in procs.values():
                proc.close()
        med = {name: statistics.median(v) for name, v in samples.items()}
        med_cpu = {name: statistics.median(v) for name, v in cpu.items()}
        out[str(batch)] = {**{f"{k}_us": v for k, v in med.items()},
                           **{f"{k}_ratio": v / med["inproc"] for k, v in med.items() if k != "inproc"},
                           **{f"{k}_cpu_us": v for k, v in med_cpu.items()},
                           **{f"{k}_cpu_ratio": v / med_cpu["inproc"] for k, v in med_cpu.items() if k != "inproc"},
                           "calls_per_chunk": float(n)}
    out["isolation"] = {"sandbox": detected.describe()}  # type: ignore[dict-item]
    return out


def validation_time(repeats: int) -> dict[str, float]:
    """Milliseconds per candidate for the whole of :func:`validate_source` (static + isolated probe)."""
    states, actions = _inputs(256, seed=1)
    states[:, 2] = np.abs(states[:, 2])
    times, probe = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        report = validate_source(REWARD, SPEC, states, actions)
        times.append((time.perf_counter() - started) * 1e3)
        probe.append(report.timings_ms.get("probe_ms", float("nan")))
        assert report.accepted, report.message
    return {"validate_ms_median": statistics.median(times), "validate_ms_min": min(times),
            "probe_ms_median": statistics.median(probe)}


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by process ``root`` and all its descendants (ns-resolution schedstat).

    The worker runs under bwrap in its own pid namespace and is never reaped by us, so rusage of
    children cannot see it; /proc can.
    """
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        seen.add(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
                todo.extend(int(k) for k in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                            if int(k) not in seen)
        except OSError:
            continue
    return total / 1e9


def _worker_cpu(proc: RewardProcess) -> float:
    return tree_cpu_s(proc._proc.pid) if proc._proc is not None else 0.0


def training_share(task_name: str, steps: int, repeats: int = 2) -> dict[str, Any]:
    """Share of a PPO run's CPU time that the sandbox adds, measured inside the run.

    Differencing two whole training runs (env reward vs candidate) drowns a few percent in run-to-run
    noise, so each sandboxed call is measured where it happens: the trainer's CPU inside the call,
    the worker's CPU per call (from /proc, start-up excluded), and the CPU of the same reward called
    in-process right after it on the same inputs (a "shadow" call; its caches are warmer than a real
    in-process call's would be, so the overhead is if anything overstated). CartPole is the worst case:
    its physics step is so cheap that the reward call is a large part of a step.
    """
    from rewardsmith.agent.rundir.store import TargetFiles
    from rewardsmith.envs.backends.sb3.train import TrainJob, train
    from rewardsmith.envs.tasks import load_task

    task_file = str(PROJECT_ROOT / "envs" / "tasks" / f"{task_name}.toml")
    task = load_task(task_file)
    spec = task.adapter.spec
    source = CARTPOLE_REWARD if task_name == "cartpole" else small_reward(spec)
    shadow = _in_process(source, spec)
    parent_s: list[float] = []
    shadow_s: list[float] = []
    worker_s: dict[str, float] = {}
    original_call, original_start, original_close = RewardProcess.call, RewardProcess.start, RewardProcess.close

    def call(self: RewardProcess, states: np.ndarray, actions: np.ndarray, timeout_s: float | None = None) -> Any:
        started = time.thread_time()
        out = original_call(self, states, actions, timeout_s)
        called = time.thread_time()
        shadow(states, actions)
        parent_s.append(called - started)
        shadow_s.append(time.thread_time() - called)
        return out

    def start(self: RewardProcess) -> None:
        original_start(self)
        worker_s["start"] = _worker_cpu(self)

    def close(self: RewardProcess) -> None:
        worker_s["end"] = _worker_cpu(self)
        original_close(self)

    rows: dict[str, list[float]] = {k: [] for k in ("share", "parent_us", "worker_us", "inproc_us", "start_s", "run_cpu_s",
                                                    "calls")}
    with tempfile.TemporaryDirectory() as tmp:
        reward = Path(tmp) / "reward.py"
        reward.write_text(source)
        train(TrainJob(task_file=task_file, reward_kind="env", reward_file=None, steps=512, seed=0, outputs=TargetFiles(Path(tmp)).train_outputs()))  # torch and gymnasium warm-up
        RewardProcess.call, RewardProcess.start, RewardProcess.close = call, start, close  # type: ignore[method-assign,assignment]
        try:
            for _ in range(repeats):
                parent_s.clear()
                shadow_s.clear()
                cpu = time.process_time()
                train(TrainJob(task_file=task_file, reward_kind="candidate", reward_file=str(reward), steps=steps, seed=0, outputs=TargetFiles(Path(tmp)).train_outputs()))
                cpu = time.process_time() - cpu - sum(shadow_s)
                n = len(parent_s)
                worker = worker_s["end"] - worker_s["start"]
                extra = sum(parent_s) + worker - sum(shadow_s)
                rows["share"].append(extra / (cpu + worker))
                rows["parent_us"].append(sum(parent_s) / n * 1e6)
                rows["worker_us"].append(worker / n * 1e6)
                rows["inproc_us"].append(sum(shadow_s) / n * 1e6)
                rows["start_s"].append(worker_s["start"])
                rows["run_cpu_s"].append(cpu + worker)
                rows["calls"].append(n)  # one per PPO rollout: the trainer hands the worker a whole rollout
        finally:
            RewardProcess.call, RewardProcess.start, RewardProcess.close = (  # type: ignore[method-assign]
                original_call, original_start, original_close)
    med = {k: statistics.median(v) for k, v in rows.items()}
    full_cpu = med["run_cpu_s"] * task.train.steps / steps
    return {"task": task_name, "steps": float(steps), "calls": med["calls"],
            "sandbox_call_parent_us": med["parent_us"], "sandbox_call_worker_us": med["worker_us"],
            "inproc_call_us": med["inproc_us"], "worker_start_cpu_s": med["start_s"], "run_cpu_s": med["run_cpu_s"],
            "share_per_step": med["share"], "task_budget_steps": float(task.train.steps),
            "share_at_task_budget": med["share"] + med["start_s"] / (full_cpu + med["start_s"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="16,4096")
    parser.add_argument("--calls", type=int, default=3000, help="calls per variant at small batch (a tenth at large)")
    parser.add_argument("--chunks", type=int, default=6)
    parser.add_argument("--validations", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=8192, help="0 skips the training measurement")
    parser.add_argument("--train-tasks", default="cartpole", help="comma-separated tasks for the training share")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    result: dict[str, Any] = {"load_avg_1m": load,
                              "per_call": per_call([int(b) for b in args.batches.split(",")], args.calls, args.chunks),
                              "validation": validation_time(args.validations)}
    if args.train_steps:
        result["training"] = [training_share(t, args.train_steps) for t in args.train_tasks.split(",")]
    result["load_avg_1m_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['per_call'].pop('isolation')['sandbox']}   (load average {load:.1f} → "
          f"{result['load_avg_1m_after']:.1f} on {os.cpu_count()} cores)")
    for batch, row in result["per_call"].items():
        for kind, unit in (("", "wall"), ("_cpu", "CPU ")):
            print(f"batch {batch:>5} {unit}: in-process {row[f'inproc{kind}_us']:8.1f} µs | worker "
                  f"{row[f'worker{kind}_us']:8.1f} µs ({row[f'worker{kind}_ratio']:.2f}x) | sandbox "
                  f"{row[f'sandbox{kind}_us']:8.1f} µs ({row[f'sandbox{kind}_ratio']:.2f}x)")
    v = result["validation"]
    print(f"validation per candidate: median {v['validate_ms_median']:.0f} ms (min {v['validate_ms_min']:.0f} ms; "
          f"probe {v['probe_ms_median']:.0f} ms)")
    for t in result.get("training", []):
        print(f"training {t['steps']:.0f} {t['task']} steps ({t['calls']:.0f} calls, {t['run_cpu_s']:.2f} CPU-s): "
              f"a sandboxed call costs {t['sandbox_call_parent_us']:.0f} µs (trainer) + {t['sandbox_call_worker_us']:.0f} µs "
              f"(worker) vs {t['inproc_call_us']:.0f} µs in-process; worker start-up {t['worker_start_cpu_s']:.2f} CPU-s")
        print(f"  sandbox share of training CPU: {t['share_per_step']:.1%} per step; {t['share_at_task_budget']:.1%} at the "
              f"task's budget of {t['task_budget_steps']:.0f} steps, start-up included")


if __name__ == "__main__":
    main()
