"""A task on a MuJoCo model the repository has never seen, on the jax backend.

The contract test puts the native env (MuJoCo's C engine under the program) and the SB3 backend's Gymnasium env
(:class:`~envs.adapters.model_env.ModelEnv`) in the same qpos/qvel, steps both with the same actions and compares
every state field, the observation, the env's own reward (its reward file, exported in the sandbox) and the
end of the episode; MJX does the same in a ``slow`` test, and refuses a model with a sensor it lacks in one line.
The others check the reset, the human baseline's failure when the reward file cannot be traced and the backend's
rules; ``validate`` and a tiny ``run`` on ``--backend jax`` are in tests/envs/test_model_tasks.py (``slow``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from rewardsmith.agent.records.config import RunConfig  # noqa: E402
from rewardsmith.agent.rundir.store import TargetFiles  # noqa: E402
from rewardsmith.agent.train.backends import jax as jax_backend  # noqa: E402
from rewardsmith.agent.train.backends import resolve_backend  # noqa: E402
from rewardsmith.agent.train.backends.sb3 import SB3Backend  # noqa: E402
from rewardsmith.core.atomic import read_record  # noqa: E402
from rewardsmith.core.errors import ConfigError  # noqa: E402
from rewardsmith.envs.backends.jax.envs import JaxEnv  # noqa: E402
from rewardsmith.envs.backends.jax.job import JaxArm, JaxRoundJob, run_round  # noqa: E402
from rewardsmith.envs.backends.jax.model_rules import ModelRules  # noqa: E402
from rewardsmith.envs.backends.jax.native_envs import NativeMujocoEnv  # noqa: E402
from rewardsmith.envs.backends.jax.own_reward import export_own_reward  # noqa: E402
from rewardsmith.envs.backends.jax.policy import NumpyPolicy, save_policy  # noqa: E402
from rewardsmith.envs.backends.jax.registry import make_task_env, physics_refusal, task_physics  # noqa: E402
from rewardsmith.envs.backends.records import TrainingResult  # noqa: E402
from rewardsmith.envs.tasks import Task, load_task  # noqa: E402
from tests.support.model_task import TASK, WALKER_XML, write_task  # noqa: E402
from tests.support.mujoco_states import actions  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
ON_THE_FLOOR = {1: -0.06}
"""qpos offsets (the root's z slide): the walker a little lower, so its feet meet the floor (contact fields)."""
FALLEN = {1: -0.4}
"""The torso below the rule's 0.3 m: the episode ends on the first step."""
NO_CONTACTS = TASK.replace('contacts = ["front_foot"]\n', "")
"""The task without its contact fields (MuJoCo contact sensors on a body, which MJX does not implement)."""


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Task:
    return load_task(write_task(tmp_path_factory.mktemp("walker")))


def _with_own_reward(env: JaxEnv, task: Task) -> JaxEnv:
    rules = env.rules  # type: ignore[attr-defined]
    assert isinstance(rules, ModelRules) and task.adapter.reward_file is not None  # type: ignore[attr-defined]
    rules.own_reward = export_own_reward(task.adapter.reward_file, task.adapter.spec)  # type: ignore[attr-defined]
    return env


def _start(task: Task, offsets: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    model = task.adapter.built.model  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    qpos = model.qpos0 + rng.uniform(-0.02, 0.02, model.nq)
    for i, dv in offsets.items():
        qpos[i] += dv
    return qpos, rng.uniform(-0.2, 0.2, model.nv)


class _Jitted:
    """An env's step, fields and batch reward, compiled once for a test's comparisons."""

    def __init__(self, env: JaxEnv) -> None:
        self.env, self.step, self.fields = env, jax.jit(env.step), jax.jit(env.fields)
        self.pay = jax.jit(env.batch_env_reward)


def _compare(task: Task, run: _Jitted, start: tuple[np.ndarray, np.ndarray], steps: int,
             tol: float) -> list[dict[str, Any]]:
    """Step the Gymnasium env and ``run.env`` from ``start``; assert both agree on everything; each step's fields."""
    spec, env = task.adapter.spec, run.env
    genv = task.make_env()
    assert env.spec is spec and env.obs_dim == genv.observation_space.shape[0]
    assert env.max_steps == task.model.physics.max_steps == genv._max_episode_steps  # type: ignore[union-attr]
    genv.reset(seed=0)
    genv.unwrapped.set_state(*start)
    state = env.state_from(*start)  # type: ignore[attr-defined]
    seen = []
    for t, action in enumerate(actions(env.action_low, env.action_high, env.n_actions, steps)):
        obs, reward, terminated, _, _ = genv.step(action)
        expected = spec.unpack(genv.unwrapped.state_row[None]).as_dict()
        out = run.step(jax.random.PRNGKey(0), state, jnp.asarray(action, jnp.float32))
        state = out.state
        got = run.fields(state)
        assert set(got) == set(spec.names)
        for name, value in expected.items():
            np.testing.assert_allclose(np.asarray(got[name]), value[0], rtol=tol, atol=tol, err_msg=f"{name} @ {t}")
        np.testing.assert_allclose(np.asarray(out.obs), obs, rtol=tol, atol=tol, err_msg=f"obs @ {t}")
        paid = run.pay({k: v[None] for k, v in got.items()}, jnp.asarray(action, jnp.float32)[None],
                       out.env_reward[None])
        assert float(paid[0]) == pytest.approx(reward, rel=tol, abs=tol)
        assert bool(out.terminated) == terminated
        seen.append({name: value[0] for name, value in expected.items()} | {"terminated": terminated})
        if terminated:
            break
    genv.close()
    return seen


def _same_reset(task: Task, env: JaxEnv, tol: float) -> None:
    """A reset's state and first observation are the Gymnasium env's at the same qpos/qvel."""
    state, obs = jax.jit(env.reset)(jax.random.PRNGKey(3))
    m = task.adapter.built.model  # type: ignore[attr-defined]
    if isinstance(env, NativeMujocoEnv):  # the float64 state the program carries in two float32 halves
        x = np.asarray(state.hi, np.float64) + np.asarray(state.lo, np.float64)
        qpos, qvel = x[:m.nq], x[m.nq:m.nq + m.nv]
    else:
        qpos, qvel = np.asarray(state.data.qpos, np.float64), np.asarray(state.data.qvel, np.float64)
    assert np.all(np.abs(qpos - m.qpos0) <= task.model.physics.reset_noise + 1e-6)  # type: ignore[union-attr]
    genv = task.make_env()
    genv.reset(seed=0)
    genv.unwrapped.set_state(qpos, qvel)
    np.testing.assert_allclose(np.asarray(obs), genv.unwrapped._observe(), rtol=tol, atol=tol)
    genv.close()


# -- native physics (the CPU's) ----------------------------------------------------------------------
def test_native_physics_gives_the_gymnasium_envs_fields_obs_reward_and_end(task: Task) -> None:
    env = _with_own_reward(make_task_env(task, "native"), task)
    run = _Jitted(env)
    seen = _compare(task, run, _start(task, ON_THE_FLOOR), steps=3, tol=2e-5)
    assert max(s["front_foot_contact"] for s in seen) == 1.0  # the case reads a contact sensor touching the floor
    fallen = _compare(task, run, _start(task, FALLEN), steps=1, tol=2e-5)
    assert fallen[-1]["terminated"] and fallen[-1]["healthy"] == 0.0
    _same_reset(task, env, tol=2e-5)
    env.stepper.close()  # type: ignore[attr-defined]


def test_a_reset_is_the_models_pose_plus_the_task_noise_with_unit_quaternions() -> None:
    # the crawler has a free joint: its quaternion takes noise too, and MuJoCo's env normalises it (mj_normalizeQuat)
    task = load_task(REPO / "examples/my-robot/crawler-forward.toml")
    rules = ModelRules(task.adapter)  # type: ignore[arg-type]
    m, noise = task.adapter.built.model, rules.noise  # type: ignore[attr-defined]
    qpos0, qvel0 = np.asarray(m.qpos0, np.float32), np.zeros(m.nv, np.float32)
    draw = jax.jit(jax.vmap(lambda i: rules.reset_qpos_qvel(jax.random.fold_in(jax.random.PRNGKey(0), i), qpos0, qvel0)))
    qpos, qvel = (np.asarray(a) for a in draw(np.arange(256)))  # one compiled call (eager draws compile op by op)
    np.testing.assert_allclose(np.linalg.norm(qpos[:, 3:7], axis=1), 1.0, atol=1e-6)
    others = np.r_[0:3, 7:m.nq]
    assert np.all(np.abs(qpos[:, others] - m.qpos0[others]) <= noise + 1e-6)
    assert np.abs(qpos[:, others] - m.qpos0[others]).max() > 0.9 * noise  # uniform over the whole ±noise
    assert 0.8 * noise < np.std(qvel) < 1.2 * noise  # normal noise of that size on qvel


def test_a_reward_file_that_cannot_be_traced_is_the_human_baselines_own_failure(tmp_path: Path) -> None:
    task_file = write_task(tmp_path)
    (tmp_path / "own_reward.py").write_text(
        "import numpy as np\n\n\ndef compute_reward(state, action):\n    r = np.zeros(len(state.x_velocity))\n"
        "    if state.x_velocity[0] > 0:\n        r = r + 1.0\n    return r, {'r': r}\n")
    human = JaxArm(key="human", reward_kind="env", outputs=TargetFiles(tmp_path / "human").train_outputs())
    job = JaxRoundJob(task_file=str(task_file), arms=(human,), steps=128, seed=0,
                      progress_file=str(tmp_path / "progress.json"), stats_file=str(tmp_path / "stats.json"))
    assert run_round(job) is None  # no arm left to train: nothing compiled
    result = read_record(Path(human.outputs.metrics_file), TrainingResult)
    assert result.status == "crashed" and result.error is not None and "\n" not in result.error
    assert result.error.startswith("the env's own reward file own_reward.py cannot run on the jax backend: ")
    assert "np.where" in result.error and "--backend sb3" in result.error


def test_actuators_with_different_ranges_act_each_in_its_own_range(tmp_path: Path) -> None:
    xml = WALKER_XML.replace('joint="back_hip" gear="30" ctrlrange="-1 1"', 'joint="back_hip" gear="30" ctrlrange="-2 0.5"')
    task = load_task(write_task(tmp_path, xml=xml))
    env, genv = make_task_env(task, "native"), task.make_env()
    np.testing.assert_array_equal(env.action_low, genv.action_space.low)  # the Gymnasium env's box, per actuator
    np.testing.assert_array_equal(env.action_high, genv.action_space.high)
    obs_dim, hidden = env.obs_dim, 4
    params = {"params/pi_0/kernel": np.zeros((obs_dim, hidden), np.float32), "params/pi_0/bias": np.zeros(hidden, np.float32),
              "params/pi_out/kernel": np.zeros((hidden, 2), np.float32), "params/pi_out/bias": np.array([5.0, 5.0], np.float32),
              "params/log_std": np.zeros(2, np.float32)}
    save_policy(tmp_path / "policy.npz", params, False, env.action_low, env.action_high)
    action, _ = NumpyPolicy.load(tmp_path / "policy.npz").predict(np.zeros(obs_dim, np.float32))
    np.testing.assert_array_equal(action, [1.0, 0.5])  # the evaluator's policy clips each dimension to its range
    env.stepper.close()  # type: ignore[attr-defined]


# -- the backend ---------------------------------------------------------------------------------------
def test_the_jax_backend_takes_a_task_on_a_model_with_native_physics_on_a_cpu(task: Task) -> None:
    backend = jax_backend.JaxBackend()
    config = RunConfig(task=str(task.source), backend="jax")
    backend.check(task, config)
    assert backend.auto_refusal(task, config) is None
    assert "native physics" in backend.auto_reason(task) and task_physics(task, "cpu") == "native"


def test_mjx_refuses_a_model_with_a_sensor_it_lacks_in_one_line(task: Task, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mujoco.mjx")
    reason = physics_refusal(task, "gpu")
    assert reason is not None and "\n" not in reason
    assert reason.startswith("MJX cannot run the model walker.xml: Contact sensor with body matching"), reason
    monkeypatch.setattr(jax_backend, "platform", lambda: "gpu")
    backend, config = jax_backend.JaxBackend(), RunConfig(task=str(task.source), backend="jax")
    assert backend.auto_refusal(task, config) == reason
    _, chosen, line = resolve_backend(task, RunConfig(task=str(task.source), backend="auto"))
    assert isinstance(chosen, SB3Backend) and line == f"backend: sb3 (auto: {reason})"  # auto says why
    with pytest.raises(ConfigError, match=r"^--backend jax: MJX cannot run the model walker\.xml: .*--backend sb3"):
        backend.check(task, config)
    assert physics_refusal(task, "cpu") is None


def test_native_physics_refuses_a_field_that_reads_the_simulation_time(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, xml=WALKER_XML.replace("<sensor>", '<sensor><clock name="time"/>')))
    reason = physics_refusal(task, "cpu")
    assert reason == ("native physics does not carry the simulation time the field 'time' of walker.xml reads (a "
                      "clock sensor); leave it out of [state] sensors")
    with pytest.raises(ConfigError, match=r"^--backend jax: native physics does not carry .* \(use --backend sb3\)$"):
        jax_backend.JaxBackend().check(task, RunConfig(task=str(task.source), backend="jax"))


@pytest.mark.slow  # each compiles its step and exports its reward file (~10 s)
@pytest.mark.parametrize("ref", ["quadruped-walk", "finger-spin", "fish-swim", "examples/my-robot/crawler-forward.toml"])
def test_native_physics_on_every_model_task_gives_its_gymnasium_envs_fields_obs_and_reward(ref: str) -> None:
    task = load_task(REPO / ref if ref.endswith(".toml") else ref)
    env = _with_own_reward(make_task_env(task, "native"), task)
    _compare(task, _Jitted(env), _start(task, {}), steps=3, tol=2e-5)
    _same_reset(task, env, tol=2e-5)
    env.stepper.close()  # type: ignore[attr-defined]


# -- slow: MJX on a CPU --------------------------------------------------------------------------
@pytest.mark.slow  # MJX compiles its step for ~1 min on a CPU
def test_mjx_gives_the_gymnasium_envs_fields_obs_reward_and_end(tmp_path: Path) -> None:
    pytest.importorskip("mujoco.mjx")
    task = load_task(write_task(tmp_path, NO_CONTACTS))
    assert physics_refusal(task, "gpu") is None
    env = _with_own_reward(make_task_env(task, "mjx"), task)
    run = _Jitted(env)
    _compare(task, run, _start(task, ON_THE_FLOOR), steps=3, tol=1e-4)
    fallen = _compare(task, run, _start(task, FALLEN), steps=1, tol=1e-4)
    assert fallen[-1]["terminated"]
    _same_reset(task, env, tol=1e-4)
