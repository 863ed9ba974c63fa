"""Inside the jax round's program, what should a stopped arm's slot become: shrink the program, or freeze the arm?

One round of K candidate arms plus the env's own reward, successive halving of the candidates (``--eta``,
``--first-rung``), trained three times in this process with :attr:`RoundConfig.shrink` = ``always`` (recompile the
program for the arms left at each cut), ``never`` (keep the program; the stopped arms stay in it, frozen) and
``auto`` (recompile when the time it saves beats the compile, both measured on the round). The candidates are
simple rewards written here (each weighs the task's first state field and an action cost differently), so the
measurement is of the program, not of a designer. Reported: wall time, compile time (all compiles), training time,
compiles, the env-steps the program ran, and whether the three took the same decisions (they must: an arm's
training never depends on which others share its program).

    python bench/allocation_program.py cartpole --k 16
    python bench/allocation_program.py hopper --k 16 --steps 40960
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax.numpy as jnp
import numpy as np

from rewardsmith.envs.backends.allocation import Allocation, HalvingSchedule
from rewardsmith.envs.backends.jax.driver import Arm, RoundConfig, RoundResult, train_round
from rewardsmith.envs.backends.jax.ppo import PPOConfig
from rewardsmith.envs.backends.jax.registry import make_jax_env
from rewardsmith.envs.tasks import load_task


def candidate(field: str, weight: float, cost: float) -> Any:
    def reward(params: dict[str, Any], state: dict[str, Any], action: Any) -> tuple[Any, dict[str, Any]]:
        main = weight * state[field].reshape(state[field].shape[0], -1)[:, 0]
        effort = -cost * jnp.sum(jnp.square(action), axis=1)
        return main + effort, {"main": main, "effort": effort}
    return reward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--eta", type=int, default=4)
    parser.add_argument("--first-rung", type=float, default=1 / 8)
    parser.add_argument("--modes", nargs="+", default=["always", "never", "auto"])
    opts = parser.parse_args()
    task = load_task(opts.task)
    env = make_jax_env(task.env_id)
    field = task.adapter.spec.fields[0].name if opts.task != "hopper" else "x_velocity"
    rng = np.random.default_rng(0)
    arms = [Arm("human", "env")] + [Arm(f"c{i:02d}", "candidate", candidate(field, float(rng.uniform(-1, 2)),
                                                                            float(rng.uniform(0, 0.1))))
                                    for i in range(opts.k)]
    allocation = Allocation(policy="halving", schedule=HalvingSchedule(eta=opts.eta, first_rung=opts.first_rung))
    results: dict[str, RoundResult] = {}
    print("| task | K | shrink | wall s | compile s | train s | compiles | env-steps run | steps/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in opts.modes:
        config = RoundConfig(steps=opts.steps or task.train.steps, n_envs=task.train.n_envs, seed=0,
                             ppo=PPOConfig.from_task(task.train.ppo), shrink=mode)  # type: ignore[arg-type]
        started = time.perf_counter()
        result = train_round(env, arms, config, task.fitness_ref, allocation=allocation)
        wall = time.perf_counter() - started
        results[mode] = result
        print(f"| {opts.task} | {opts.k} | {mode} | {wall:.1f} | {result.compile_s:.1f} | {result.run_s:.1f} | "
              f"{result.compiles} | {result.env_steps:,} | {result.env_steps / result.run_s:,.0f} |", flush=True)
    # The same decisions and stops whatever the program's shape: an arm's training does not depend on the others
    # (float rounding differs between program shapes, and PPO amplifies it over a long training: curves drift).
    first = next(iter(results.values()))
    for mode, result in results.items():
        assert first.allocation is not None and result.allocation is not None
        same = ([(d.steps, d.continued, d.stopped) for d in first.allocation.decisions]
                == [(d.steps, d.continued, d.stopped) for d in result.allocation.decisions])
        print(f"{mode}: the same decisions as {next(iter(results))}: {same}")


if __name__ == "__main__":
    main()
