"""A task on a MuJoCo model the repository has never seen: fields derived from the XML, the CLI and the contract on it.

The test writes a small planar walker (a torso on slide x / slide z / hinge y, two legs, a touch sensor) and a task
file next to it, as a user would (docs/your-own-robot.md), and checks what ``model = "walker.xml"`` promises:
the fields with units and sign conventions, values equal to MuJoCo's own, the termination rule, the env's own
reward, ``rewardsmith tasks``/``validate``/``run`` on ``--backend sb3`` (and ``jax``, slow), the contract test, and
one-line errors. The model and task live in tests/support/model_task.py; the jax backend's contract on them in
tests/envs/backends/jax/test_jax_model.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import mujoco
import numpy as np
import pytest

from rewardsmith.agent.app.cli import main
from rewardsmith.core.atomic import read_record
from rewardsmith.core.errors import TaskError
from rewardsmith.envs.backends.records import TrainingResult
from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import Task, load_task
from tests.envs import test_contract as contract
from tests.support.model_task import REWARD, TASK, WALKER_XML, write_task


@pytest.fixture
def task(tmp_path: Path) -> Task:
    return load_task(write_task(tmp_path))


def test_the_fields_come_from_the_model_with_units_and_sign_conventions(task: Task) -> None:
    spec = task.adapter.spec
    fields = {f.name: f for f in spec.fields}
    # a planar root (slides along x and z, a hinge about y): no y fields, no heading
    assert list(fields) == ["x_position", "x_velocity", "torso_height", "z_velocity", "up_vector", "angular_velocity",
                            "joint_pos", "joint_vel", "front_foot_position", "front_foot_height", "front_foot_velocity",
                            "flag_position", "nose_position", "nose_touch", "front_foot_contact",
                            "front_foot_contact_force", "nose_to_flag", "flag_from_nose", "healthy"]
    assert fields["x_velocity"].forward_sign == 1 and "positive = moving forward" in fields["x_velocity"].doc
    assert fields["torso_height"].kind == "height" and fields["torso_height"].unit == "m"
    assert fields["joint_pos"].shape == (2,) and "front_hip, back_hip" in fields["joint_pos"].doc
    assert (fields["joint_pos"].low, fields["joint_pos"].high) == pytest.approx((-np.pi / 4, np.pi / 4))
    assert fields["nose_touch"].unit == "N" and fields["front_foot_contact_force"].unit == "N"
    assert fields["nose_to_flag"].kind == "distance" and fields["nose_to_flag"].target == 0.0
    assert "torso_height < 0.3" in fields["healthy"].doc
    assert spec.action.dim == 2 and (spec.action.low, spec.action.high) == (-1.0, 1.0)
    assert "front, back" in spec.action.doc and "dt = 0.02 s" in spec.notes[0] and "100 steps" in spec.notes[0]


def test_the_fields_read_what_mujoco_computes(task: Task) -> None:
    env = task.make_env()
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(15):
        env.step(env.action_space.sample())
    model, data = env.unwrapped.model, env.unwrapped.data
    mujoco.mj_forward(model, data)  # sensors as of the current qpos/qvel (a step leaves them one substep behind)
    state = task.adapter.spec.unpack(task.adapter.row(data.sensordata)[None])
    torso, foot = model.body("torso").id, model.body("front_foot").id
    assert state.x_position[0] == pytest.approx(data.xpos[torso, 0])
    assert state.x_velocity[0] == pytest.approx(data.qvel[0]) and state.z_velocity[0] == pytest.approx(data.qvel[1])
    assert state.torso_height[0] == pytest.approx(data.xpos[torso, 2])
    np.testing.assert_allclose(state.up_vector[0], data.xmat[torso].reshape(3, 3)[:, 2], atol=1e-12)
    assert state.angular_velocity[0, 1] == pytest.approx(data.qvel[2])  # the pitch rate, about the torso's own y
    np.testing.assert_allclose(state.joint_pos[0], data.qpos[3:5])
    np.testing.assert_allclose(state.front_foot_position[0], data.xpos[foot])
    nose, flag = data.site("nose").xpos, data.site("flag").xpos
    assert state.nose_to_flag[0] == pytest.approx(np.linalg.norm(nose - flag))
    # the flag as seen from the nose: in the nose's own axes (the torso pitches, so they are not the world's)
    np.testing.assert_allclose(state.flag_from_nose[0], (flag - nose) @ data.site("nose").xmat.reshape(3, 3), atol=1e-9)
    touching = any(foot in (model.geom_bodyid[c.geom1], model.geom_bodyid[c.geom2]) for c in data.contact[:data.ncon])
    assert state.front_foot_contact[0] == float(touching)


def test_a_foot_on_the_floor_reads_as_contact_with_its_weight(tmp_path: Path) -> None:
    standing = TASK.replace("reset_noise = 0.05", "reset_noise = 0.0")
    task = load_task(write_task(tmp_path, standing, WALKER_XML.replace('pos="0 0 0.6"', 'pos="0 0 0.59"')))
    env = task.make_env()
    env.reset(seed=0)
    for _ in range(5):
        env.step(np.zeros(2))
    state = task.adapter.spec.unpack(env.unwrapped.state_row[None])
    assert state.front_foot_contact[0] == 1.0 and state.front_foot_contact_force[0] > 1.0


def test_the_rule_ends_the_episode_and_the_env_pays_its_own_reward(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, TASK.replace("torso_height < 0.3 or", "torso_height < 10 or")))
    episode = random_rollout(task, n=4, seed=1, max_episodes=1).episodes[0]
    assert episode.terminated and episode.length == 1 and episode.state.healthy.tolist() == [0.0]
    task = load_task(write_task(tmp_path))
    episode = random_rollout(task, n=8, seed=3, max_episodes=1).episodes[0]
    own = contract._reward_module(tmp_path / "own_reward.py")
    total, _ = own.compute_reward(episode.state, episode.actions)
    np.testing.assert_allclose(episode.env_rewards, total, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("check", [
    contract.test_reset_and_step_give_finite_fields_of_the_declared_shapes,
    contract.test_description_names_every_field_with_shape_and_unit,
    contract.test_fitness_is_computable_from_a_short_random_episode,
    contract.test_reward_wrapper_logs_the_reward_components,
], ids=lambda f: f.__name__.removeprefix("test_"))
def test_the_contract_holds_on_the_written_model(task: Task, check) -> None:
    check(task)


def test_tasks_prints_the_fields_with_units(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task_file = write_task(tmp_path)
    assert main(["tasks", str(task_file)]) == 0
    shown = capsys.readouterr().out
    assert "walker-forward  walker.xml" in shown
    assert "state.torso_height: (B,) float, m — height of the torso body's origin" in shown
    assert "state.joint_vel: (B, 2) float, rad/s" in shown and "state.front_foot_contact_force: (B,) float, N" in shown
    assert main(["tasks", str(task_file), "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)[0]["fields"]
    assert {f["name"]: f["unit"] for f in fields}["x_velocity"] == "m/s"


@pytest.mark.parametrize(("backend", "baselines"), [
    ("sb3", False),
    # native physics; the round compiles a program of three arms (1-2 min on 2 loaded cores), and its human
    # baseline trains on the task's reward file exported in the sandbox (envs/backends/jax/own_reward.py)
    pytest.param("jax", True, marks=pytest.mark.slow),
])
def test_validate_and_a_tiny_run(tmp_path: Path, run_cli, backend: str, baselines: bool) -> None:
    if backend == "jax":
        pytest.importorskip("jax")
    task_file = write_task(tmp_path)
    (tmp_path / "reward.py").write_text(REWARD)
    valid = run_cli("validate", str(task_file), "reward.py", "--backend", backend)
    assert valid.returncode == 0 and "accepted" in valid.stdout, valid.stdout + valid.stderr
    run = run_cli("run", str(task_file), "--rounds", "1", "--samples", "1", "--backend", backend,
                  *(() if baselines else ("--no-baselines",)), "--final-seeds", "0", "--no-video", "--no-screen",
                  "--out", "runs")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    out = next((tmp_path / "runs").glob("walker-forward-*"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] and summary["best_id"] == "r01c01", summary
    # the task file's budget (256) is recorded as the run's: a resume after the file changes keeps it
    assert json.loads((out / "config.json").read_text())["config"]["steps"] == 256
    assert summary["best_heldout_fitness"] is not None and np.isfinite(summary["best_heldout_fitness"])
    if baselines:  # the env's own reward (the reward file) trained the human baseline
        human = read_record(out / "baselines" / "human" / "metrics.json", TrainingResult)
        assert human.status == "ok" and human.checkpoints and np.isfinite(human.checkpoints[-1].env_return)


@pytest.mark.parametrize(("edit", "says"), [
    (lambda t, x: (t, x.replace("</worldbody>", "<worldbody>")), "field 'model': cannot load the model walker.xml"),
    (lambda t, x: (t.replace('bodies = ["front_foot"]', 'bodies = ["front_fot"]'), x),
     "field 'state.bodies': the model has no body named 'front_fot' (did you mean 'front_foot'?)"),
    (lambda t, x: (t.replace("[state]", '[state]\njoints = ["front_hip", "knee"]'), x),
     "field 'state.joints': the model has no joint named 'knee'"),
    (lambda t, x: (t.replace('"torso_height < 0.3 or', '"torso_height < < 0.3 or'), x),
     "field 'physics.terminate_when': 'torso_height < < 0.3 or abs(up_vector[0]) > 0.8' does not parse"),
    (lambda t, x: (t.replace('"torso_height < 0.3', '"torso_hight < 0.3'), x),
     "unknown state field 'torso_hight' (did you mean 'torso_height'?)"),
    (lambda t, x: (t.replace('model = "walker.xml"', 'model = "robot.xml"'), x), "field 'model': model file"),
    (lambda t, x: (t.replace('model = "walker.xml"', 'model = "no_such_package_xyz:robot.xml"'), x),
     "the package 'no_such_package_xyz' is not installed"),
    (lambda t, x: (t, x.replace(' ctrlrange="-1 1"/>\n    <motor name="back"', '/>\n    <motor name="back"')),
     "actuator 'front' has no control range"),
    (lambda t, x: (t.replace("[state]", "[state]\nprogress = \"joint_pos\""), x),
     "field 'state.progress': 'joint_pos' is not a scalar state field"),
    (lambda t, x: (t.replace('model = "walker.xml"', 'env = "Hopper-v5"\nmodel = "walker.xml"'), x),
     "name either env = 'Gymnasium id' or model = 'robot.xml'"),
    (lambda t, x: (t.replace("[physics]", "[physics]\ndamping = { front_hp = 0.1 }"), x),
     "field 'physics.damping': the model has no joint named 'front_hp' (did you mean 'front_hip'?)"),
], ids=["bad-xml", "unknown-body", "unknown-joint", "rule-does-not-parse", "rule-unknown-field", "missing-file",
        "package-missing", "no-ctrlrange", "vector-progress", "env-and-model", "damping-unknown-joint"])
def test_a_bad_model_task_is_one_line_that_names_the_problem(tmp_path: Path, edit, says: str) -> None:
    task, xml = edit(TASK, WALKER_XML)
    path = write_task(tmp_path, task, xml)
    with pytest.raises(TaskError) as err:
        load_task(path)
    message = str(err.value)
    assert says in message and "\n" not in message and message.startswith(str(path)), message


def test_a_task_sets_a_joints_damping_in_the_model_every_backend_builds(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "damped").mkdir()
    plain = load_task(write_task(tmp_path / "plain"))
    damped = load_task(write_task(tmp_path / "damped", TASK.replace("[physics]", "[physics]\ndamping = { front_hip = 2.5 }")))

    def hip(model: mujoco.MjModel) -> float:
        return float(model.dof_damping[model.joint("front_hip").dofadr[0]])

    assert (hip(plain.adapter.built.model), hip(damped.adapter.built.model)) == (0.0, 2.5)
    env = damped.make_env()  # the SB3 backend's env; native physics and MJX copy the same built model
    try:
        assert hip(env.unwrapped.model) == 2.5
    finally:
        env.close()


def test_a_run_on_a_bad_model_stops_before_it_records_anything(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    write_task(tmp_path, TASK.replace('bodies = ["front_foot"]', 'bodies = ["paw"]'))
    runs = tmp_path / "runs"
    (runs / "earlier-run").mkdir(parents=True)  # another run in the same folder is left as it was
    assert main(["run", str(tmp_path / "task.toml"), "--out", str(runs)]) != 0
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "the model has no body named 'paw'" in err
    assert [p.name for p in runs.iterdir()] == ["earlier-run"]


def test_a_batch_of_sensordata_reads_the_same_fields_in_numpy_and_jax(task: Task) -> None:
    # What another physics engine hands back (a batch of sensordata) gives the very fields the SB3 env reads.
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    env = task.make_env()
    env.reset(seed=2)
    env.action_space.seed(2)
    rows, data = [], []
    for _ in range(20):
        env.step(env.action_space.sample())
        rows.append(env.unwrapped.state_row)
        data.append(env.unwrapped.data.sensordata.copy())
    batch = np.stack(data).reshape(4, 5, -1)  # any leading batch shape: (arms, envs, nsensordata)
    expected = task.adapter.spec.unpack(np.stack(rows))
    on_numpy = task.adapter.values(batch)
    on_jax = jax.jit(lambda sd: task.adapter.values(sd, jnp))(jnp.asarray(batch, jnp.float32))  # traceable: one program
    for f in task.adapter.spec.fields:
        want = getattr(expected, f.name).reshape(4, 5, *f.shape)
        np.testing.assert_allclose(on_numpy[f.name], want, rtol=1e-12, atol=1e-12, err_msg=f.name)
        np.testing.assert_allclose(np.asarray(on_jax[f.name]), want, rtol=1e-4, atol=1e-4, err_msg=f.name)


@pytest.mark.parametrize(("description", "motions", "targets", "term"), [
    ("Walk backward as fast as it can.", {"x_velocity": -1}, {}, "x_velocity_progress"),
    ("Walk forward and keep the torso above 0.5 m.", {"x_velocity": 1}, {"torso_height": 0.5}, "torso_height_reached"),
    ("Bring the nose to the flag and hold it there.", {}, {"nose_to_flag": 0.0}, "nose_to_flag_closeness"),
    ("Jump as high as possible.", {}, {}, "torso_height_progress"),
])
def test_the_offline_designer_reads_the_derived_fields_as_the_hand_written_ones(
        task: Task, description: str, motions: dict[str, int], targets: dict[str, float], term: str) -> None:
    from rewardsmith.agent.design.designers.terms import goal_terms
    from rewardsmith.agent.goal.task_goal import read_goal

    goal = read_goal(task.adapter.spec, description)
    assert {m.field: m.sign for m in goal.motions} == motions
    assert {f.name: f.target for f in goal.spec.fields if f.target is not None} == targets
    likely = [e.term.name for e in goal_terms(goal) if e.p >= 0.5]
    assert term in likely, likely
