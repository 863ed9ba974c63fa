"""``rewardsmith export``: a run's best reward as a folder that trains outside RewardSmith, with an SB3 policy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rewardsmith.agent.app.commands.export import export_run
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.envs.backends import load_policy
from rewardsmith.envs.backends.records import policy_config_of
from rewardsmith.envs.gym_reward import RewardSmithReward
from rewardsmith.envs.tasks import load_task

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "scripted_cartpole"
README_STEPS = "STEPS = 50_000"
"""The README example's one budget line; its test runs the code with only this number made small."""


def _cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rewardsmith.agent.app.cli", *args], cwd=cwd, env=dict(os.environ, COLUMNS="200"),
                          text=True, capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, finished CartPole run: one scripted candidate (01_upright.py), 2,048 PPO steps, no baselines."""
    out = tmp_path_factory.mktemp("export_run")
    proc = _cli("run", "cartpole", "--designer", f"scripted:{DATA}", "--rounds", "1", "--samples", "1",
                "--steps", "2048", "--no-baselines", "--final-seeds", "0", "--out", str(out / "runs"), cwd=out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = (out / "runs").iterdir()
    return run


@pytest.fixture(scope="module")
def exported(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exported") / "cartpole-reward"
    proc = _cli("export", str(run_dir), "--out", str(out), cwd=out.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert str(out) in proc.stdout
    return out


def test_the_folder_holds_the_reward_its_fields_the_policy_and_a_readme(run_dir: Path, exported: Path) -> None:
    store = RunStore(run_dir)
    files = store.export_files(exported)
    assert files.reward.read_text() == store.best_reward_file.read_text() == (DATA / "01_upright.py").read_text()
    fields = files.fields.read_text()
    for name in load_task("cartpole").adapter.spec.names:
        assert f"`state.{name}`" in fields
    manifest = json.loads(files.manifest.read_text())
    assert manifest["candidate"] == "r01c01" and manifest["env_id"] == "CartPole-v1"
    assert manifest["components"] == ["upright", "centre"] and manifest["adapter"] == "builtin"
    assert manifest["ppo"]["n_steps"] == 256  # the task's own PPO settings, which policy.zip carries too
    readme = files.readme.read_text()
    assert "works with RewardSmith installed" in readme and "`upright`, `centre`" in readme
    assert not files.adapter.exists()  # a built-in adapter is RewardSmith's, not copied


def test_policy_zip_loads_with_sb3_and_acts_exactly_like_the_evaluators_policy(run_dir: Path, exported: Path) -> None:
    from stable_baselines3 import PPO

    task = load_task("cartpole")
    model = PPO.load(exported / "policy.zip", device="cpu")
    assert model.n_steps == task.train.ppo.n_steps and model.batch_size == task.train.ppo.batch_size
    env = task.make_env()
    store = RunStore(run_dir)
    evaluator = load_policy(store.files(1, 1).policy, policy_config_of(task), env.observation_space, env.action_space)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    observations = [obs, *(rng.normal(scale=0.5, size=(4,)).astype(np.float32) for _ in range(64))]
    for o in observations:
        assert model.predict(o, deterministic=True)[0] == evaluator.predict(o, deterministic=True)[0]
    batch = np.stack(observations)
    assert np.array_equal(model.predict(batch, deterministic=True)[0], evaluator.predict(batch, deterministic=True)[0])
    with np.load(store.files(1, 1).policy, allow_pickle=False) as arrays:
        state = model.policy.state_dict()
        assert all(np.array_equal(arrays[k], state[k].numpy()) for k in arrays.files)
    env.close()


def test_sb3_ppo_trains_a_few_thousand_steps_on_the_exported_reward_outside_any_run(exported: Path,
                                                                                   tmp_path: Path) -> None:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the README advises: several threads spin against the reward worker on few cores
    venv = make_vec_env(lambda: RewardSmithReward(gym.make("CartPole-v1"), exported / "best_reward.py"), n_envs=2)
    try:
        model = PPO("MlpPolicy", venv, n_steps=512, batch_size=256, n_epochs=2, seed=0, device="cpu")
        model.set_logger(configure(str(tmp_path / "log"), []))  # not SB3's default: a new $TMPDIR/SB3-<time> folder
        model.learn(total_timesteps=3000)
        assert model.num_timesteps >= 3000
        assert model.ep_info_buffer is not None
        episodes = list(model.ep_info_buffer)  # Monitor's returns: what PPO was paid, per episode
        assert episodes
        # The env's own reward is 1 per step; the designed one (exp(-(angle/0.1)^2) - 0.1 |x|) is below it.
        assert all(0 < ep["r"] < ep["l"] for ep in episodes)
    finally:
        venv.close()
        torch.set_num_threads(threads)


def test_the_readme_example_runs_as_written(exported: Path, tmp_path: Path) -> None:
    readme = (exported / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 1
    code = blocks[0]
    assert code.count(README_STEPS) == 1 and len(code.strip().splitlines()) <= 15
    script = exported / "example.py"
    script.write_text(code.replace(README_STEPS, "STEPS = 300"))  # the one change: a small budget
    try:
        proc = subprocess.run([sys.executable, script.name], cwd=exported, text=True, capture_output=True,
                              timeout=120, env=dict(os.environ, TMPDIR=str(tmp_path)))  # SB3's logger folder
    finally:
        script.unlink()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"reward \d\.\d{3} \{'reward_upright': [\d.]+, 'reward_centre': -?[\d.]+\}", proc.stdout)


@pytest.mark.parametrize("task_name", ["cartpole", "hopper"])  # discrete; continuous with per-dimension bounds
def test_a_policy_the_jax_backend_trained_becomes_an_sb3_policy_that_acts_the_same(task_name: str,
                                                                                    tmp_path: Path) -> None:
    jax = pytest.importorskip("jax")
    from stable_baselines3 import PPO

    from rewardsmith.agent.app.commands.export import sb3_model_bytes
    from rewardsmith.envs.backends.jax.policy import NumpyPolicy, flatten_params, save_policy
    from rewardsmith.envs.backends.jax.ppo import ActorCritic
    from rewardsmith.envs.backends.records import PolicyConfig

    task = load_task(task_name)
    env = task.make_env()
    space = env.action_space
    discrete = isinstance(space, gym.spaces.Discrete)
    n_actions = int(space.n) if discrete else int(space.shape[0])
    net = ActorCritic(n_actions, discrete, (64, 64), -0.5)
    params = net.init(jax.random.PRNGKey(3), np.zeros(env.observation_space.shape, np.float32))
    # the policy head's init is near zero (orthogonal 0.01): scale it so that the actions differ between observations
    arrays = {k: np.asarray(v) * (100.0 if "pi_out" in k else 1.0) for k, v in flatten_params(params).items()}
    save_policy(tmp_path / "policy.npz", arrays, discrete, space.low if not discrete else 0.0,
                space.high if not discrete else 0.0)
    (tmp_path / "policy.zip").write_bytes(
        sb3_model_bytes(tmp_path / "policy.npz", task, PolicyConfig(use_sde=False, format="jax")))
    model, ours = PPO.load(tmp_path / "policy.zip", device="cpu"), NumpyPolicy.load(tmp_path / "policy.npz")
    obs = np.random.default_rng(0).normal(size=(64, *env.observation_space.shape)).astype(np.float32)
    theirs, mine = model.predict(obs, deterministic=True)[0], ours.predict(obs, deterministic=True)[0]
    assert len(np.unique(mine, axis=0)) > 1  # not a policy that ignores its input
    np.testing.assert_allclose(theirs, mine, atol=1e-5)
    env.close()


def test_export_refuses_what_it_cannot_export(run_dir: Path, tmp_path: Path) -> None:
    not_a_run = tmp_path / "nothing"
    not_a_run.mkdir()
    proc = _cli("export", str(not_a_run), cwd=tmp_path)
    assert proc.returncode == 2 and "is not a RewardSmith run directory" in proc.stderr
    assert "Traceback" not in proc.stderr
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    proc = _cli("export", str(run_dir), "--out", str(taken), cwd=tmp_path)
    assert proc.returncode == 2 and "exists and is not a RewardSmith export" in proc.stderr
    assert (taken / "notes.txt").read_text() == "mine" and len(list(taken.iterdir())) == 1
    proc = _cli("export", str(run_dir), "--candidate", "r09c01", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert proc.returncode == 2 and "has no candidate 'r09c01'" in proc.stderr


def test_a_second_export_replaces_the_first_and_the_default_folder_is_inside_the_run(run_dir: Path,
                                                                                     tmp_path: Path) -> None:
    import shutil

    run = tmp_path / run_dir.name
    shutil.copytree(run_dir, run)
    first = export_run(run)
    assert first.files.dir == RunStore(run).export_files().dir and first.files.dir.parent == run
    second = export_run(run)  # an earlier export is overwritten, not refused
    assert second.files.policy.read_bytes() != b"" and second.manifest == first.manifest


def test_a_custom_adapters_readme_imports_it_from_the_folder(tmp_path: Path) -> None:
    from rewardsmith.agent.app.commands.export import ExportManifest, render_readme

    manifest = ExportManifest(task="left", env_id="MountainCarContinuous-v0", env_kwargs={"max_episode_steps": 200},
                              run_dir="/runs/left", candidate="r02c01", components=("height",), heldout_fitness=None,
                              adapter="adapter.py:LeftAdapter", ppo={}, n_envs=8, train_steps=1000)
    readme = render_readme(RunStore(tmp_path).export_files(tmp_path / "out"), manifest, load_task("mountain-car"))
    (code,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    compile(code, "example.py", "exec")
    assert "from adapter import LeftAdapter" in code
    assert ('RewardSmithReward(gym.make("MountainCarContinuous-v0", max_episode_steps=200), "best_reward.py", '
            "adapter=LeftAdapter())") in code
    assert "`adapter.py` | the task's own state adapter (class `LeftAdapter`)" in readme


def test_a_model_tasks_readme_builds_its_env_from_the_task_file(tmp_path: Path) -> None:
    """A task on a MuJoCo model has no Gymnasium id: the README's env and fields come from its task file."""
    from rewardsmith.agent.app.commands.export import ExportManifest, render_readme

    task = load_task("finger-spin")
    manifest = ExportManifest(task=task.name, env_id=task.env_id, env_kwargs={}, run_dir="/runs/spin",
                              candidate="r01c01", components=("spin",), heldout_fitness=None, adapter="builtin",
                              ppo={}, n_envs=8, train_steps=1000)
    readme = render_readme(RunStore(tmp_path).export_files(tmp_path / "out"), manifest, task)
    (code,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    compile(code, "example.py", "exec")
    assert "gym.make(" not in code and "from rewardsmith.envs.tasks import load_task" in code
    assert f'RewardSmithReward(load_task("{task.source}").make_env(), "best_reward.py", task="{task.source}")' in code
    env = load_task(str(task.source)).make_env()  # what the README builds works
    env.close()
