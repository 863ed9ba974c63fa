"""The path a run takes: a candidate's numpy-style reward exported by the sandbox, checked by the trainer, and
trained by the JAX round through the exported module's ``call`` (the trainer never runs candidate Python)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from rewardsmith.envs.backends.jax.driver import Arm, RoundConfig, train_round
from rewardsmith.envs.backends.jax.policy import NumpyPolicy, PolicyMeta
from rewardsmith.envs.backends.jax.ppo import PPOConfig
from rewardsmith.envs.backends.jax.registry import make_jax_env
from rewardsmith.sandboxes.jax.export import export_reward
from rewardsmith.sandboxes.jax.module_check import check_exported

SOURCE = '''import numpy as np

W_PUSH = 1.0


def compute_reward(state, action):
    push = W_PUSH * action[:, 0] + 0.0 * state.position
    return push, {"push": push}
'''


def test_an_exported_candidate_trains_in_the_round_with_its_lifted_constants() -> None:
    env = make_jax_env("MountainCarContinuous-v0")
    exported = export_reward(SOURCE, env.spec)
    module = check_exported(exported.blob, env.spec, env.spec.action.dim, exported.components,
                            tuple(exported.constants))
    assert exported.constants == {"W_PUSH": 1.0}
    arms = [Arm("right", "candidate", module.call, exported.constants),
            Arm("left", "candidate", module.call, {"W_PUSH": -1.0})]  # same module, a constant tuned without re-tracing
    config = RoundConfig(steps=2 * 4 * 64, n_envs=4, seed=0,
                         ppo=PPOConfig(n_steps=64, batch_size=64, n_epochs=4, learning_rate=3e-3))
    result = train_round(env, arms, config, "flag_progress")
    assert [a.status for a in result.arms] == ["ok", "ok"] and result.arms[0].components == ("push",)
    for arm in result.arms:  # each arm's own reward went up (W_PUSH · action > 0 for both)
        assert arm.checkpoints[-1].component_step_means["push"] > arm.checkpoints[0].component_step_means["push"]
    meta = PolicyMeta(env.discrete, env.action_low, env.action_high, 2)
    actions = [float(NumpyPolicy(a.params, meta).predict(np.array([-0.5, 0.0], np.float32))[0][0]) for a in result.arms]
    assert actions[0] > 0 > actions[1]
