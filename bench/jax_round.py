"""One round on the JAX backend vs the SB3 backend: env-steps/s, compile time and held-out fitness.

For each task: the JAX backend trains K arms in one compiled program — the env's own reward
("human"), the sparse fitness reward, and ``--candidates`` copies of a designed reward (the same
formula with different weights, passed as per-env params) — at the task file's budget, PPO
settings and seed; then the SB3 backend trains the same rewards (``--sb3-arms``) at the same budget,
settings and seed. Every policy is scored the same way: deterministic episodes on the run's
held-out seeds in the task's *Gymnasium* env (``envs.evaluation.play_episode``), by the task's own
fitness function. Rewards here are trusted bench code (plain numpy / jax.numpy, the same formula on
both backends); in a run the candidate reaches the trainer as a checked ``jax.export`` module.

    python bench/jax_round.py cartpole pendulum mountain-car [--candidates 4] [--sb3-arms human,candidate]
    python bench/jax_round.py hopper --candidates 16 --steps 2883584 --n-envs 2048 --ppo '{"n_steps": 32}' ...
        (the GPU round: see bench/gpu_round.sh)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardsmith.envs.evaluation import play_episode, seed_sets
from rewardsmith.envs.fitness import compute_fitness
from rewardsmith.envs.tasks import Task, load_task

# -- the designed rewards: one formula, written for numpy (SB3) and jax.numpy (JAX) ---------------
# Each takes (xp, weights, state: name -> (B, ...), action (B, A)) -> (total, {component: (B,)}).
Formula = Callable[[Any, dict[str, Any], dict[str, Any], Any], tuple[Any, dict[str, Any]]]


def cartpole_reward(xp: Any, w: dict[str, Any], s: dict[str, Any], a: Any) -> tuple[Any, dict[str, Any]]:
    upright = w["w_up"] * xp.cos(s["pole_angle"])
    centre = -w["w_centre"] * xp.abs(s["cart_position"])
    return upright + centre, {"upright": upright, "centre": centre}


def pendulum_reward(xp: Any, w: dict[str, Any], s: dict[str, Any], a: Any) -> tuple[Any, dict[str, Any]]:
    angle = -w["w_angle"] * s["angle"] ** 2
    spin = -0.1 * s["angular_velocity"] ** 2
    torque = -0.001 * a[:, 0] ** 2
    return angle + spin + torque, {"angle": angle, "spin": spin, "torque": torque}


def mountain_car_reward(xp: Any, w: dict[str, Any], s: dict[str, Any], a: Any) -> tuple[Any, dict[str, Any]]:
    # The README's shaped reward. Swinging pays up to 0.5 a step and the flag ends the episode, so PPO on both
    # backends mostly learns to swing and brake short of the flag at this budget: held-out flag_progress on
    # training seeds 0/1/2 was 1.00/0.79/0.83 with SB3 and 0.84/0.78/0.90 (seed 3: 0.90) on the jax backend.
    speed = w["w_speed"] * xp.abs(s["velocity"]) / 0.07
    flag = w["w_flag"] * (s["position"] >= 0.45).astype(xp.float32)
    return speed + flag, {"speed": speed, "flag": flag}


def hopper_reward(xp: Any, w: dict[str, Any], s: dict[str, Any], a: Any) -> tuple[Any, dict[str, Any]]:
    forward = w["w_forward"] * s["x_velocity"]
    alive = w["w_alive"] * s["healthy"]
    ctrl = -0.001 * xp.sum(a**2, axis=1)
    return forward + alive + ctrl, {"forward": forward, "alive": alive, "ctrl": ctrl}


def halfcheetah_reward(xp: Any, w: dict[str, Any], s: dict[str, Any], a: Any) -> tuple[Any, dict[str, Any]]:
    forward = w["w_forward"] * s["x_velocity"]
    ctrl = -0.1 * xp.sum(a**2, axis=1)
    return forward + ctrl, {"forward": forward, "ctrl": ctrl}


REWARDS: dict[str, tuple[Formula, dict[str, float]]] = {
    "cartpole": (cartpole_reward, {"w_up": 1.0, "w_centre": 0.1}),
    "pendulum": (pendulum_reward, {"w_angle": 1.0}),
    "mountain-car": (mountain_car_reward, {"w_speed": 0.5, "w_flag": 10.0}),
    "hopper": (hopper_reward, {"w_forward": 1.0, "w_alive": 1.0}),
    "halfcheetah": (halfcheetah_reward, {"w_forward": 1.0}),
}


@dataclass(frozen=True)
class Size:
    """Overrides of the task file for a throughput round (``None`` = the task's own)."""

    steps: int | None = None
    n_envs: int | None = None
    ppo: dict[str, Any] | None = None
    eval_arms: int | None = None
    """Score only the first N arms on the held-out seeds (None = all)."""
    timeout_s: float | None = None
    """Stop the round between compiled calls past this many seconds (arms report what they did)."""


@dataclass
class Row:
    task: str
    backend: str
    arm: str
    steps: int
    train_s: float
    compile_s: float
    arm_sps: float
    round_sps: float
    fitness: tuple[float, float]


def heldout_fitness(task: Task, policy: Any, seeds: tuple[int, ...]) -> tuple[float, float]:
    env = task.make_env()
    try:
        values = [compute_fitness(task.fitness, play_episode(env, task.adapter, policy, s)) for s in seeds]
    finally:
        env.close()
    return float(np.mean(values)), float(np.std(values))


def weights_variant(base: dict[str, float], j: int) -> dict[str, float]:
    """The j-th candidate: the base weights scaled by 1, 0.8, 1.25, 0.64, ... (different rewards, one structure)."""
    scale = (0.8, 1.25)[j % 2] ** ((j + 1) // 2) if j else 1.0
    return {k: v * scale for k, v in base.items()}


def run_jax(task: Task, candidates: int, seeds: tuple[int, ...], size: Size = Size()) -> list[Row]:
    import jax
    import jax.numpy as jnp

    from rewardsmith.envs.backends.jax.driver import Arm, RoundConfig, train_round
    from rewardsmith.envs.backends.jax.policy import NumpyPolicy, PolicyMeta
    from rewardsmith.envs.backends.jax.ppo import PPOConfig, _as_dict
    from rewardsmith.envs.backends.jax.registry import make_jax_env

    formula, base = REWARDS[task.name]

    def reward(params: dict[str, Any], state: dict[str, Any], action: Any) -> tuple[Any, dict[str, Any]]:
        return formula(jnp, params, state, action)

    arms = [Arm("human", "env"), Arm("sparse", "sparse")]
    arms += [Arm(f"cand{j}", "candidate", reward, weights_variant(base, j)) for j in range(candidates)]
    env = make_jax_env(task.env_id)
    settings = {**_as_dict(task.train.ppo), **(size.ppo or {})}
    config = RoundConfig(steps=size.steps or task.train.steps, n_envs=size.n_envs or task.train.n_envs, seed=0,
                         ppo=PPOConfig.from_task(settings), rollouts_per_call=int(os.environ.get("ROLLOUTS_PER_CALL", 8)))
    ignored = PPOConfig.ignored(settings)
    if ignored:
        print(f"  [{task.name}] jax backend ignores PPO settings {', '.join(ignored)} (plain Gaussian policy)")
    started = time.perf_counter()
    result = train_round(env, arms, config, task.fitness_ref, timeout_s=size.timeout_s)
    wall = time.perf_counter() - started
    print(f"  [{task.name}] jax round on {jax.devices()[0].device_kind} ({result.platform}): K={len(arms)} arms x "
          f"{config.n_envs} envs, {result.env_steps:,} env-steps in {wall:.1f} s wall (compile {result.compile_s:.1f} s, "
          f"training {result.run_s:.1f} s, {result.steps_per_s:,.0f} env-steps/s; with compile "
          f"{result.env_steps / wall:,.0f})", flush=True)
    rows = []
    for i, arm in enumerate(result.arms):
        fitness = (math.nan, math.nan)
        if size.eval_arms is None or i < size.eval_arms:
            meta = PolicyMeta(env.discrete, env.action_low, env.action_high, len(config.ppo.hidden))
            fitness = heldout_fitness(task, NumpyPolicy(arm.params, meta), seeds)
        rows.append(Row(task.name, f"jax K={len(arms)} {result.platform}",
                        arm.name + ("" if arm.status == "ok" else f" ({arm.status})"), arm.steps_done, result.run_s,
                        result.compile_s, result.steps_per_arm / result.run_s, result.steps_per_s, fitness))
    return rows


def _sb3_reward_env(task: Task, arm: str) -> Any:
    """The task's Gymnasium env with the arm's reward put in place of the env's (bench code, in-process)."""
    import gymnasium as gym

    from rewardsmith.envs.fitness import Episode

    formula, base = REWARDS[task.name]
    adapter = task.adapter

    class Reward(gym.Wrapper):
        def reset(self, **kwargs: Any) -> Any:
            self.rows: list[np.ndarray] = []
            self.actions: list[np.ndarray] = []
            self.env_rewards: list[float] = []
            return self.env.reset(**kwargs)

        def step(self, action: Any) -> Any:
            obs, env_reward, terminated, truncated, info = self.env.step(action)
            row, act = adapter.read(self.env, obs), adapter.action_row(action)
            if arm == "candidate":
                state = adapter.spec.unpack(row[None, :]).as_dict()
                total, _ = formula(np, base, state, act[None, :])
                return obs, float(total[0]), terminated, truncated, info
            self.rows.append(row)
            self.actions.append(act)
            self.env_rewards.append(float(env_reward))
            reward = 0.0
            if terminated or truncated:
                episode = Episode.from_rows(adapter.spec, self.rows, self.actions, self.env_rewards,
                                            bool(terminated), bool(truncated))
                reward = compute_fitness(task.fitness, episode)
            return obs, reward, terminated, truncated, info

    env = task.make_env()
    return env if arm == "human" else Reward(env)


def _env_factory(task: Task, arm: str) -> Callable[[], Any]:
    return lambda: _sb3_reward_env(task, arm)


def run_sb3(task: Task, arms: list[str], seeds: tuple[int, ...], steps: int | None = None) -> list[Row]:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from rewardsmith.envs.backends.jax.ppo import _as_dict

    torch.set_num_threads(1)
    settings = {k: v for k, v in _as_dict(task.train.ppo).items() if v is not None}
    net_arch = settings.pop("net_arch", None) or settings.pop("policy_kwargs", {}).get("net_arch")
    rows = []
    for arm in arms:
        venv = DummyVecEnv([_env_factory(task, arm)] * task.train.n_envs)
        model = PPO("MlpPolicy", venv, seed=0, device="cpu", verbose=0,
                    policy_kwargs={"net_arch": list(net_arch)} if net_arch else None, **settings)
        t0 = time.perf_counter()
        model.learn(total_timesteps=steps or task.train.steps)
        train_s = time.perf_counter() - t0
        sps = model.num_timesteps / train_s
        rows.append(Row(task.name, "sb3", arm if arm != "candidate" else "cand0", model.num_timesteps, train_s, 0.0,
                        sps, sps, heldout_fitness(task, model, seeds)))
    return rows


def _fit(fitness: tuple[float, float]) -> str:
    return "not scored" if math.isnan(fitness[0]) else f"{fitness[0]:.3f} ± {fitness[1]:.3f}"


def table(rows: list[Row]) -> str:
    lines = ["| task | backend | arm | env-steps | train s | compile s | env-steps/s per arm | env-steps/s round "
             "| held-out fitness (mean ± std) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.task} | {r.backend} | {r.arm} | {r.steps:,} | {r.train_s:.1f} | {r.compile_s:.1f} | "
                     f"{r.arm_sps:,.0f} | {r.round_sps:,.0f} | {_fit(r.fitness)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", default=["cartpole", "pendulum", "mountain-car"])
    parser.add_argument("--candidates", type=int, default=4, help="designed-reward arms beside human and sparse")
    parser.add_argument("--sb3-arms", default="human,candidate",
                        help="arms to train on the SB3 backend too (comma list of human, candidate, sparse; '' = none)")
    parser.add_argument("--steps", type=int, help="env-steps per arm (default: the task file's budget)")
    parser.add_argument("--n-envs", type=int, help="envs per arm on the jax backend (default: the task file's)")
    parser.add_argument("--ppo", default="{}", help='JSON overrides of the PPO settings on the jax backend, e.g. '
                        '\'{"n_steps": 32, "batch_size": 16384, "n_epochs": 4}\'')
    parser.add_argument("--sb3-steps", type=int, help="env-steps per SB3 arm (default: --steps, else the task's)")
    parser.add_argument("--eval-arms", type=int, help="score only the first N arms on the held-out seeds")
    parser.add_argument("--timeout-s", type=float, help="bound on the jax round (stops between compiled calls)")
    parser.add_argument("--no-jax", action="store_true", help="skip the jax backend (SB3 arms only)")
    args = parser.parse_args(argv)
    size = Size(args.steps, args.n_envs, json.loads(args.ppo), args.eval_arms, args.timeout_s)
    _, heldout = seed_sets(0, 5, 10)
    print(f"load average at start: {os.getloadavg()}, cores: {os.cpu_count()}")
    rows: list[Row] = []
    for name in args.tasks:
        task = load_task(name)
        if task.name not in REWARDS:
            raise SystemExit(f"no bench reward for task {task.name!r}; have: {', '.join(REWARDS)}")
        if not args.no_jax:
            rows += run_jax(task, args.candidates, heldout, size)
            print(table(rows[-(args.candidates + 2):]), flush=True)
        sb3 = [a for a in args.sb3_arms.split(",") if a]
        if sb3:
            rows += run_sb3(task, sb3, heldout, args.sb3_steps or args.steps)
            print(table(rows[-len(sb3):]), flush=True)
    print(f"\nload average at end: {os.getloadavg()}; held-out seeds {heldout[0]}..{heldout[-1]}, training seed 0\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
