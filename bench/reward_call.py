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

from envs.state import ActionSpec, StateField, StateSpec
from sandboxes.client import RewardProcess, SandboxLimits
from sandboxes.isolation import PROJECT_ROOT, Isolation, detect_isolation
from sandboxes.validate import validate_source

SPEC = StateSpec(
    fields=(StateField("x_velocity", (), "m/s", "forward velocity"),
            StateField("y_velocity", (), "m/s", "sideways velocity"),
            StateField("torso_height", (), "m", "height of the torso"),
            StateField("orientation", (4,), "1", "torso quaternion"),
            StateField("joint_pos", (8,), "rad", "joint angles"),
            StateField("joint_vel", (8,), "rad/s", "joint velocities"),
            StateField("contact", (4,), "1", "foot contacts")),
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


def _inputs(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, SPEC.size)), rng.uniform(-1, 1, size=(batch, SPEC.action.dim))


def _in_process(source: str, spec: StateSpec) -> Callable[[np.ndarray, np.ndarray], Any]:
    """The trusted benchmark reward exec'd here, given read-only inputs like the worker gives."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "reward.py", "exec"), namespace)
    fn = namespace["compute_reward"]

    def call(states: np.ndarray, actions: np.ndarray) -> Any:
        states, actions = states.copy(), actions.copy()  # the worker's path copies into shared memory too
        states.flags.writeable = actions.flags.writeable = False
        return fn(spec.unpack(states), actions)

    return call


def per_call(batches: list[int], calls: int, chunks: int) -> dict[str, dict[str, float]]:
    """Median µs per call of each variant, per batch size, from interleaved chunks."""
    detected = detect_isolation()
    variants: dict[str, Isolation | None] = {"inproc": None, "worker": Isolation("rlimits"), "sandbox": detected}
    out: dict[str, dict[str, float]] = {}
    for batch in batches:
        states, actions = _inputs(batch)
        limits = SandboxLimits(max_batch=batch)
        procs = {name: RewardProcess(REWARD, SPEC, limits, iso) for name, iso in variants.items() if iso is not None}
        fns: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {"inproc": _in_process(REWARD, SPEC)}
        try:
            for name, proc in procs.items():
                proc.start()
                fns[name] = proc.call
            n = max(1, calls // chunks if batch <= 256 else calls // (chunks * 10))
            samples: dict[str, list[float]] = {name: [] for name in fns}
            for _ in range(chunks):
                for name, fn in fns.items():
                    fn(states, actions)  # warm
                    started = time.perf_counter()
                    for _ in range(n):
                        fn(states, actions)
                    samples[name].append((time.perf_counter() - started) / n * 1e6)
        finally:
            for proc in procs.values():
                proc.close()
        med = {name: statistics.median(v) for name, v in samples.items()}
        out[str(batch)] = {**{f"{k}_us": v for k, v in med.items()},
                           **{f"{k}_ratio": v / med["inproc"] for k, v in med.items() if k != "inproc"},
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


def training_share(steps: int, repeats: int = 2) -> dict[str, float]:
    """Share of a CartPole PPO run spent on the sandbox: reward-call time beyond the in-process cost.

    CartPole is the worst case: its physics step is so cheap that the reward call is a large part of
    a step. Runs alternate (env reward, sandboxed candidate) after a warm-up, and medians are reported.
    """
    from envs.tasks import load_task
    from envs.training import TrainJob, train

    task = load_task("cartpole")
    task_file = str(PROJECT_ROOT / "envs" / "tasks" / "cartpole.toml")
    spent: list[float] = []
    original = RewardProcess.call

    def timed(self: RewardProcess, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    walls: dict[str, list[float]] = {"env": [], "candidate": []}
    call_s: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        reward = Path(tmp) / "reward.py"
        reward.write_text(CARTPOLE_REWARD)
        train(TrainJob(task_file, "env", None, 512, seed=0, out_dir=tmp))  # torch and gymnasium warm-up
        for _ in range(repeats):
            walls["env"].append(train(TrainJob(task_file, "env", None, steps, seed=0, out_dir=tmp)).wall_s)
            spent.clear()
            RewardProcess.call = timed  # type: ignore[method-assign]
            try:
                result = train(TrainJob(task_file, "candidate", str(reward), steps, seed=0, out_dir=tmp))
            finally:
                RewardProcess.call = original  # type: ignore[method-assign]
            walls["candidate"].append(result.wall_s)
            call_s.append(sum(spent))
    n_envs = task.train.n_envs
    states = np.random.default_rng(0).normal(size=(n_envs, task.adapter.spec.size)) * 0.05
    fn = _in_process(CARTPOLE_REWARD, task.adapter.spec)
    actions = np.zeros((n_envs, task.adapter.spec.action.dim))
    started = time.perf_counter()
    for _ in range(2000):
        fn(states, actions)
    inproc_s = (time.perf_counter() - started) / 2000
    calls = len(spent)
    train_s, env_s, reward_s = (statistics.median(v) for v in (walls["candidate"], walls["env"], call_s))
    return {"steps": float(steps), "calls": float(calls), "train_s": train_s, "train_env_reward_s": env_s,
            "reward_calls_s": reward_s, "reward_call_us": reward_s / calls * 1e6, "inproc_call_us": inproc_s * 1e6,
            "sandbox_share": (reward_s - inproc_s * calls) / train_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="16,4096")
    parser.add_argument("--calls", type=int, default=3000, help="calls per variant at small batch (a tenth at large)")
    parser.add_argument("--chunks", type=int, default=6)
    parser.add_argument("--validations", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=8192, help="0 skips the training measurement")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    result: dict[str, Any] = {"load_avg_1m": load,
                              "per_call": per_call([int(b) for b in args.batches.split(",")], args.calls, args.chunks),
                              "validation": validation_time(args.validations)}
    if args.train_steps:
        result["training"] = training_share(args.train_steps)
    result["load_avg_1m_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['per_call'].pop('isolation')['sandbox']}   (load average {load:.1f} → "
          f"{result['load_avg_1m_after']:.1f} on {os.cpu_count()} cores)")
    for batch, row in result["per_call"].items():
        print(f"batch {batch:>5}: in-process {row['inproc_us']:8.1f} µs | worker {row['worker_us']:8.1f} µs "
              f"({row['worker_ratio']:.2f}x) | sandbox {row['sandbox_us']:8.1f} µs ({row['sandbox_ratio']:.2f}x)")
    v = result["validation"]
    print(f"validation per candidate: median {v['validate_ms_median']:.0f} ms (min {v['validate_ms_min']:.0f} ms; "
          f"probe {v['probe_ms_median']:.0f} ms)")
    if "training" in result:
        t = result["training"]
        print(f"training {t['steps']:.0f} CartPole steps: {t['train_s']:.1f} s with the sandboxed reward "
              f"({t['train_env_reward_s']:.1f} s with the env reward); reward calls {t['reward_call_us']:.0f} µs each "
              f"vs {t['inproc_call_us']:.0f} µs in-process; sandbox share of training time {t['sandbox_share']:.1%}")


if __name__ == "__main__":
    main()
