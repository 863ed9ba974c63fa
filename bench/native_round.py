"""A K=8 round on the jax backend's native physics against the same rewards on SB3, with MuJoCo's raw step rate.

For each task (default: hopper, halfcheetah, walker2d, ant), in one process:

1. **raw**: MuJoCo's own rate for the task's model and frame skip, one thread, as Gymnasium steps it
   (``mj_step(m, d, frame_skip)`` + ``mj_rnePostConstraint``, random controls, a reset every 1000 env steps),
   in env-steps per CPU-second; measured before and after the task's rounds (the mean is the reference).
2. **jax**: K arms in one compiled program on native physics (:mod:`envs.backends.jax.native_envs`) — the env's
   own reward, the sparse fitness reward and K-2 candidates: the task's shipped env-reward file
   (``envs/adapters/env_rewards``) validated and exported in the sandbox and checked, as a run's candidates
   reach the trainer. Env-steps per CPU-second and per wall-second of the whole round (compile included) and
   of training alone, compile time, the cores used, and where the CPU goes: the physics callback (MuJoCo
   and its packing), the PPO update (timed apart at the same shapes), the rest of the program.
3. **sb3**: the same K rewards trained by the SB3 backend's own job function (``envs.backends.sb3.train``:
   the candidate in its sandboxed reward process), ``--workers`` processes at a time, as a run schedules
   them; CPU from the finished processes' rusage.

``--parity``: the env's own reward on ``--seeds`` seeds on both backends at the same budget, and each policy's
held-out fitness (the task's fitness on 10 held-out seeds of the Gymnasium env, deterministic).

    python bench/native_round.py [TASK ...] [--steps N] [--k 8] [--workers 2] [--no-sb3]
    python bench/native_round.py hopper halfcheetah walker2d --parity --seeds 3 [--steps N]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.envs.tasks import Task, load_task

DEFAULT_TASKS = ("hopper", "halfcheetah", "walker2d", "ant")


def _cpu() -> float:
    """This process's CPU seconds plus those of its finished children (the SB3 jobs and their sandboxes)."""
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


def raw_rate(task: Task, seconds: float = 3.0) -> float:
    """MuJoCo's env-steps per CPU-second for the task's model, one thread, as Gymnasium steps it."""
    import mujoco

    env = task.make_env()
    u = env.unwrapped
    m, d, fs = u.model, mujoco.MjData(u.model), u.frame_skip
    rng = np.random.default_rng(0)
    ctrl = rng.uniform(m.actuator_ctrlrange[:, 0], m.actuator_ctrlrange[:, 1], (1000, m.nu))
    steps, c0 = 0, time.process_time()
    while time.process_time() - c0 < seconds:
        mujoco.mj_resetData(m, d)
        for t in range(1000):
            d.ctrl[:] = ctrl[t]
            mujoco.mj_step(m, d, nstep=fs)
            mujoco.mj_rnePostConstraint(m, d)
        steps += 1000
    env.close()
    return steps / (time.process_time() - c0)


# -- the jax round ------------------------------------------------------------------------------
def exported_candidate(task: Task) -> Any:
    """The task's env-reward file as a run's candidate reaches the trainer: validated, exported, checked."""
    from rewardsmith.envs.adapters.env_rewards import env_reward_file
    from rewardsmith.envs.rollout import random_rollout
    from rewardsmith.sandboxes.jax.module_check import check_exported
    from rewardsmith.sandboxes.jax.validate import JaxValidation, validate_and_export_jax

    path = env_reward_file(task.env_id)
    if path is None:
        raise SystemExit(f"{task.name}: no env-reward file to use as the candidate")
    sample = random_rollout(task, n=256, seed=0)
    report, exported = validate_and_export_jax(path.read_text(), task.adapter.spec, sample.states, sample.actions,
                                               JaxValidation(batch=task.train.n_envs))
    if exported is None:
        raise SystemExit(f"{task.name}: the candidate was refused: {report}")
    module = check_exported(exported.blob, task.adapter.spec, task.adapter.spec.action.dim, exported.components,
                            tuple(exported.constants))
    return module, dict(exported.constants)


@dataclass
class Profile:
    """CPU seconds inside the physics callbacks (this process, every thread)."""

    cpu: float = 0.0
    wall: float = 0.0
    calls: int = 0

    def wrap(self, fn: Any) -> Any:
        def timed(packed: Any) -> Any:
            c, w = time.process_time(), time.perf_counter()
            try:
                return fn(packed)
            finally:
                self.cpu += time.process_time() - c
                self.wall += time.perf_counter() - w
                self.calls += 1
        return timed


def update_cpu_per_step(env: Any, k: int, task: Task) -> float:
    """CPU seconds of the round's PPO update per env-step, timed apart at the round's shapes."""
    import jax
    import jax.numpy as jnp

    from rewardsmith.envs.backends.jax.ppo import ActorCritic, Batch, PPOConfig, optimizer, update

    cfg = PPOConfig.from_task(task.train.ppo)
    net = ActorCritic(env.n_actions, False, cfg.hidden, cfg.log_std_init)
    tx = optimizer(cfg)
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, env.obs_dim)))
    stack = lambda x: jnp.broadcast_to(x, (k, *x.shape))  # noqa: E731
    n = cfg.n_steps * task.train.n_envs
    rng = np.random.default_rng(0)
    batch = Batch(*(jnp.asarray(rng.normal(size=(k, n, *shape)), jnp.float32)
                    for shape in ((env.obs_dim,), (env.n_actions,), (), (), ())))
    fn = jax.jit(jax.vmap(lambda p, o, b, key: update(p, o, b, key, net, cfg, tx)))
    args = (jax.tree.map(stack, params), jax.tree.map(stack, tx.init(params)), batch,
            jax.random.split(jax.random.PRNGKey(1), k))
    jax.block_until_ready(fn(*args))
    c0 = time.process_time()
    for _ in range(3):
        jax.block_until_ready(fn(*args))
    return (time.process_time() - c0) / (3 * k * n)


def jax_round(task: Task, k: int, steps: int) -> dict[str, float]:
    from rewardsmith.envs.backends.jax.driver import Arm, RoundConfig, train_round
    from rewardsmith.envs.backends.jax.native_envs import NativeMujocoEnv
    from rewardsmith.envs.backends.jax.ppo import PPOConfig

    module, constants = exported_candidate(task)
    env = NativeMujocoEnv(task.env_id)
    profile = Profile()
    env.stepper.step_packed = profile.wrap(env.stepper.step_packed)  # type: ignore[method-assign]
    arms = [Arm("human", "env"), Arm("sparse", "sparse")]
    arms += [Arm(f"cand{j}", "candidate", module.call, constants) for j in range(k - 2)]
    ppo = PPOConfig.from_task(task.train.ppo)
    rollouts = math.ceil(steps / (ppo.n_steps * task.train.n_envs))
    # several compiled calls, so the training's steady rate is measured between the first and the last
    config = RoundConfig(steps=steps, n_envs=task.train.n_envs, seed=0, ppo=ppo,
                         rollouts_per_call=max(1, min(4, rollouts // 3)))
    marks: list[tuple[int, float, float, float]] = []

    def progress(done: int, total: int) -> None:
        marks.append((done, time.process_time(), time.perf_counter(), profile.cpu))

    load0 = os.getloadavg()[0]
    c0, w0 = time.process_time(), time.perf_counter()
    result = train_round(env, arms, config, task.fitness_ref, progress=progress)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    env.stepper.close()
    total = result.env_steps
    if len(marks) < 2:
        raise SystemExit(f"{task.name}: --steps {steps} is one compiled call; give at least 3 rollouts")
    (d0, ca, wa, pa), (d1, cb, wb, pb) = marks[0], marks[-1]
    steady = (d1 - d0) * k
    update = update_cpu_per_step(env, k, task)
    per_step = (cb - ca) / steady
    physics = (pb - pa) / steady
    return {"steps": total, "cpu_s": cpu, "wall_s": wall, "compile_s": result.compile_s,
            "sps_cpu": total / cpu, "sps_wall": total / wall, "train_sps_cpu": steady / (cb - ca),
            "train_sps_wall": steady / (wb - wa), "cores": (cb - ca) / (wb - wa), "load": (load0 + os.getloadavg()[0]) / 2,
            "physics_share": physics / per_step, "update_share": update / per_step,
            "rest_share": max(0.0, 1 - (physics + update) / per_step), "physics_sps_cpu": 1 / physics,
            "ok_arms": sum(a.status == "ok" for a in result.arms)}


# -- the sb3 round -------------------------------------------------------------------------------
def _sb3_job(task_file: str, kind: str, reward_file: str | None, steps: int, seed: int, out: str) -> tuple[str, float]:
    """One arm trained by the SB3 backend's job function (in a worker process); its status and wall time."""
    from rewardsmith.agent.rundir.store import TargetFiles
    from rewardsmith.envs.backends.sb3.train import TrainJob, train

    files = TargetFiles(Path(out))
    files.dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = train(TrainJob(task_file=task_file, reward_kind=kind, reward_file=reward_file, steps=steps,  # type: ignore[arg-type]
                            seed=seed, outputs=files.train_outputs()))
    return result.status, time.perf_counter() - started


def sb3_jobs(jobs: list[tuple[str, str | None, int, str]], task: Task, steps: int, workers: int) -> dict[str, float]:
    """Train ``(kind, reward_file, seed, out_dir)`` jobs ``workers`` at a time; CPU and wall of the whole set."""
    load0 = os.getloadavg()[0]
    c0, w0 = _cpu(), time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_sb3_job, str(task.source), kind, reward, steps, seed, out)
                   for kind, reward, seed, out in jobs]
        done = [f.result() for f in futures]
    cpu, wall = _cpu() - c0, time.perf_counter() - w0  # the pool's processes have ended: their CPU is counted
    total = steps * len(jobs)
    return {"steps": total, "cpu_s": cpu, "wall_s": wall, "sps_cpu": total / cpu, "sps_wall": total / wall,
            "load": (load0 + os.getloadavg()[0]) / 2, "ok_arms": sum(s == "ok" for s, _ in done)}


def sb3_round(task: Task, k: int, steps: int, workers: int, tmp: Path) -> dict[str, float]:
    from rewardsmith.envs.adapters.env_rewards import env_reward_file

    reward = str(env_reward_file(task.env_id))
    kinds: list[tuple[str, str | None]] = [("env", None), ("sparse", None)] + [("candidate", reward)] * (k - 2)
    return sb3_jobs([(kind, file, 0, str(tmp / f"{task.name}-{i}")) for i, (kind, file) in enumerate(kinds)],
                    task, steps, workers)


# -- learning parity -----------------------------------------------------------------------------
def heldout(task: Task, policy: Any) -> float:
    from rewardsmith.envs.evaluation import play_episode, seed_sets
    from rewardsmith.envs.fitness import compute_fitness

    env = task.make_env()
    try:
        values = [compute_fitness(task.fitness, play_episode(env, task.adapter, policy, s))
                  for s in seed_sets(0, 5, 10)[1]]
    finally:
        env.close()
    return float(np.mean(values))


def parity(task: Task, seeds: int, steps: int, workers: int, tmp: Path) -> dict[str, Any]:
    from rewardsmith.agent.rundir.store import TargetFiles
    from rewardsmith.core.atomic import read_record
    from rewardsmith.envs.backends import load_policy
    from rewardsmith.envs.backends.jax.driver import Arm, RoundConfig, train_round
    from rewardsmith.envs.backends.jax.native_envs import NativeMujocoEnv
    from rewardsmith.envs.backends.jax.policy import NumpyPolicy, PolicyMeta
    from rewardsmith.envs.backends.jax.ppo import PPOConfig
    from rewardsmith.envs.backends.records import TrainingResult

    env = NativeMujocoEnv(task.env_id)
    config = RoundConfig(steps=steps, n_envs=task.train.n_envs, seed=0, ppo=PPOConfig.from_task(task.train.ppo))
    w0 = time.perf_counter()
    result = train_round(env, [Arm(f"seed{s}", "env", seed=s) for s in range(seeds)], config, task.fitness_ref)
    jax_wall = time.perf_counter() - w0
    meta = PolicyMeta(False, env.action_low, env.action_high, len(config.ppo.hidden))
    jax_fit = [heldout(task, NumpyPolicy(arm.params, meta)) for arm in result.arms]
    env.stepper.close()
    outs = [tmp / f"{task.name}-seed{s}" for s in range(seeds)]
    sb3 = sb3_jobs([("env", None, s, str(out)) for s, out in enumerate(outs)], task, steps, workers)
    genv = task.make_env()
    sb3_fit = []
    for out in outs:
        files = TargetFiles(out)
        metrics = read_record(files.metrics, TrainingResult)
        assert metrics.policy is not None, metrics.error
        sb3_fit.append(heldout(task, load_policy(files.policy, metrics.policy, genv.observation_space,
                                                 genv.action_space)))
    return {"jax": jax_fit, "sb3": sb3_fit, "jax_wall_s": jax_wall, "sb3_wall_s": sb3["wall_s"],
            "steps": result.steps_per_arm}


# -- tables --------------------------------------------------------------------------------------
def throughput_table(rows: list[tuple[str, float, dict[str, float], dict[str, float] | None]]) -> str:
    lines = ["| task | raw mj_step env-steps/CPU-s | backend | env-steps | whole round /CPU-s | whole round /wall-s "
             "| compile s | training /CPU-s | cores | share of raw | physics / update / rest (CPU) | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, raw, jx, sb in rows:
        lines.append(f"| {name} | {raw:,.0f} | jax native | {jx['steps']:,.0f} | {jx['sps_cpu']:,.0f} | "
                     f"{jx['sps_wall']:,.0f} | {jx['compile_s']:.1f} | {jx['train_sps_cpu']:,.0f} | {jx['cores']:.2f} | "
                     f"**{jx['train_sps_cpu'] / raw:.0%}** (whole round {jx['sps_cpu'] / raw:.0%}) | "
                     f"{jx['physics_share']:.0%} / {jx['update_share']:.0%} / {jx['rest_share']:.0%} | {jx['load']:.1f} |")
        if sb is not None:
            lines.append(f"| {name} | | sb3 | {sb['steps']:,.0f} | {sb['sps_cpu']:,.0f} | {sb['sps_wall']:,.0f} | – | – | "
                         f"{sb['cpu_s'] / sb['wall_s']:.2f} | {sb['sps_cpu'] / raw:.0%} | – | {sb['load']:.1f} |")
    return "\n".join(lines)


def _spread(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f} [{', '.join(f'{v:.2f}' for v in values)}]"


def parity_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    lines = ["| task | env-steps per seed | jax native: held-out fitness, mean ± std [per seed] | sb3 | "
             "within SB3's spread? | wall s jax / sb3 |", "|---|---|---|---|---|---|"]
    for name, r in rows:
        gap = abs(np.mean(r["jax"]) - np.mean(r["sb3"]))
        within = "yes" if gap <= np.std(r["sb3"]) + np.std(r["jax"]) or np.mean(r["jax"]) >= np.mean(r["sb3"]) else "no"
        lines.append(f"| {name} | {r['steps']:,} | {_spread(r['jax'])} | {_spread(r['sb3'])} | {within} | "
                     f"{r['jax_wall_s']:.0f} / {r['sb3_wall_s']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", default=list(DEFAULT_TASKS))
    parser.add_argument("--steps", type=int, help="env-steps per arm (default: the task file's budget)")
    parser.add_argument("--k", type=int, default=8, help="arms in the round (env, sparse, K-2 candidates)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="SB3 jobs at once")
    parser.add_argument("--no-sb3", action="store_true", help="the jax round and the raw rate only")
    parser.add_argument("--parity", action="store_true", help="learning parity instead of throughput")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per backend for --parity")
    args = parser.parse_args(argv)
    print(f"cores {len(os.sched_getaffinity(0))}, load {os.getloadavg()}", flush=True)
    throughput: list[tuple[str, float, dict[str, float], dict[str, float] | None]] = []
    same: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="rs-native-round-") as tmp:
        for name in args.tasks:
            task = load_task(name)
            steps = args.steps or task.train.steps
            if args.parity:
                same.append((name, parity(task, args.seeds, steps, args.workers, Path(tmp))))
                print(parity_table(same[-1:]), flush=True)
                continue
            before = raw_rate(task)
            jx = jax_round(task, args.k, steps)
            sb = None if args.no_sb3 else sb3_round(task, args.k, steps, args.workers, Path(tmp))
            raw = (before + raw_rate(task)) / 2
            throughput.append((name, raw, jx, sb))
            print(f"[{name}] raw {raw:,.0f}/CPU-s, jax {jx}, sb3 {sb}", flush=True)
    print()
    print(parity_table(same) if args.parity else throughput_table(throughput))
    return 0 if all(math.isfinite(r[1]) for r in throughput) else 1


if __name__ == "__main__":
    raise SystemExit(main())
