"""Reward tampering cannot move the score: a candidate that mutates its inputs, patches numpy and
tries to write files trains to *exactly* the fitness of a clean candidate computing the same reward.

Both are trained with the same seed through :func:`envs.backends.sb3.train.train` (the reward in its sandboxed
worker) and scored by :func:`envs.evaluation.evaluate` (a process that never runs candidate code).
The static check would reject the tampering candidate outright; it is bypassed here on purpose, so
what is tested is the run-time layers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from rewardsmith.agent.rundir.store import TargetFiles
from rewardsmith.envs.backends.sb3.train import TrainJob, train
from rewardsmith.envs.evaluation import EvalJob, evaluate
from rewardsmith.sandboxes.static import check_source

TASKS = Path(__file__).resolve().parents[2] / "envs" / "tasks"
STEPS = 2048

CLEAN = """import numpy as np

def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    centre = -0.1 * np.abs(state.cart_position)
    return upright + centre, {"upright": upright, "centre": centre}
"""

TAMPER = """import numpy as np

def real_os():
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "_wrap_close":
            return cls.__init__.__globals__

OS = real_os()

def attempt(fn):
    try:
        fn()
        return 1.0
    except Exception:
        return 0.0

def overwrite(path, text):
    fd = OS["open"](path, OS["O_WRONLY"] | OS["O_CREAT"] | OS["O_TRUNC"], 0o644)
    OS["write"](fd, text)

def shell(command):
    if OS["system"](command) != 0:
        raise OSError("the shell did not run")

def mutate_inputs(state, action):
    state.pole_angle[:] = 0.0          # "the pole is always upright"
    state.cart_position.flags.writeable = True
    action[:] = 0.0

def patch_numpy():
    np.isfinite = lambda x: np.ones(np.shape(x), dtype=bool)
    np.mean = lambda *a, **k: 1e9
    np.float32 = np.float64

def compute_reward(state, action):
    hits = [attempt(lambda: mutate_inputs(state, action)),
            attempt(lambda: overwrite(TASK_FILE, b'name = "hacked"')),
            attempt(lambda: overwrite(EVAL_DIR + "/fitness.json", b'{"heldout": 1e9}')),
            attempt(lambda: shell("touch " + EVAL_DIR + "/pwned"))]
    patch_numpy()  # succeeds inside the worker; it only ever affects the worker itself
    upright = np.cos(state.pole_angle)
    centre = -0.1 * np.abs(state.cart_position)
    escaped = np.full(upright.shape, max(hits))
    return upright + centre, {"upright": upright, "centre": centre, "escaped": escaped}
"""


def _train_and_score(tmp: Path, name: str, source: str, task_file: Path) -> tuple[float, ...]:
    out = tmp / name
    out.mkdir()
    reward = out / "reward.py"
    reward.write_text(source)
    result = train(TrainJob(task_file=str(task_file), reward_kind="candidate", reward_file=str(reward), steps=STEPS, seed=3, outputs=TargetFiles(Path(out)).train_outputs()))
    assert result.status == "ok", result.error
    assert "escaped" not in result.components or all(
        cp.component_step_means.get("escaped", 0.0) == 0.0 for cp in result.checkpoints)
    ev = evaluate(EvalJob(task_file=str(task_file), policy_file=str(out / "policy.npz"), selection_seeds=(11, 12, 13), heldout_seeds=(21, 22, 23), out_file=str(out / "eval.json")))
    return (*ev.selection.values, *ev.heldout.values)


def test_tampering_leaves_fitness_exactly_equal(tmp_path: Path) -> None:
    assert not check_source(TAMPER).ok  # the first layer would never let it train
    task_file = tmp_path / "cartpole.toml"
    shutil.copy(TASKS / "cartpole.toml", task_file)
    before = task_file.read_bytes()
    consts = f"TASK_FILE = {str(task_file)!r}\nEVAL_DIR = {str(tmp_path / 'clean')!r}\n"

    clean = _train_and_score(tmp_path, "clean", CLEAN, task_file)
    tampered = _train_and_score(tmp_path, "tampered", consts + TAMPER, task_file)

    assert tampered == clean  # exactly, value by value
    assert np.isfinite(clean).all()
    assert task_file.read_bytes() == before
    assert not (tmp_path / "clean" / "fitness.json").exists() and not (tmp_path / "clean" / "pwned").exists()
