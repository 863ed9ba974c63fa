"""The jax backend's validation of whole candidates (``sandboxes/jax/validate.py``) on CartPole: what trains is
what was validated (numpy and jax agree off the probe's states too), hostile trace errors stay text, and the
benign functions the numpy path accepts are accepted here (or refused by name).

The validations share one export zygote and one checker child, as a run's do (``JaxBackend.session``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("jax")

from rewardsmith.agent.records.results import Candidate
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.envs.rollout import StateSample
from rewardsmith.envs.tasks import Task
from rewardsmith.sandboxes.jax.export import ExportZygote
from rewardsmith.sandboxes.jax.module_check import ModuleChecker
from rewardsmith.sandboxes.jax.validate import JaxValidation, validate_source_jax
from rewardsmith.sandboxes.validate import ValidationReport

CONTROL = "\x1b\x07\u202e"


@pytest.fixture(scope="module")
def options(cartpole: Task) -> Iterator[JaxValidation]:
    with ExportZygote(cartpole.adapter.spec) as zygote, ModuleChecker() as checker:
        zygote.start()
        checker.start()
        yield JaxValidation(zygote=zygote, checker=checker, batch=cartpole.train.n_envs)


def _validate(source: str, cartpole: Task, sample: StateSample, options: JaxValidation) -> ValidationReport:
    return validate_source_jax(source, cartpole.adapter.spec, sample.states, sample.actions, options)


TELLS_THE_BACKENDS_APART = """
import numpy as np

def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    traced = str(state.cart_position)[:1] != "["  # "[...]" with numpy, "VmapTracer(...)" with jax.numpy
    far = state.cart_position > 2.0  # in the documented range, never on the recorded random rollouts
    bonus = np.where(far & traced, BONUS, 0.0)
    return upright + bonus, {"upright": upright, "bonus": bonus}
"""


@pytest.mark.parametrize("bonus", ["100.0", "np.nan"], ids=["plus_100", "nan"])
def test_a_reward_that_tells_the_backends_apart_off_the_probe_is_refused(
        bonus: str, cartpole: Task, sample: StateSample, options: JaxValidation) -> None:
    assert float(abs(sample.states[:, 0]).max()) < 2.0  # the recorded states never take the other path
    report = _validate(TELLS_THE_BACKENDS_APART.replace("BONUS", bonus), cartpole, sample, options)
    assert (report.accepted, report.reason) == (False, "backend_mismatch"), report.message
    assert "drawn across the fields' ranges" in report.message and "cart_position=" in report.message


HOSTILE_TRACE_ERROR = """
import numpy as np

def compute_reward(state, action):
    if str(state.pole_angle)[:1] != "[":  # only while jax traces it: the numpy probe passes
        raise ValueError("\\x1b]52;c;aGk=\\x07\\x1b[2J\\u202e gotcha")
    r = np.cos(state.pole_angle)
    return r, {"r": r}
"""


def test_a_hostile_trace_error_is_escaped_in_the_report_the_cli_and_validation_json(
        cartpole: Task, sample: StateSample, options: JaxValidation, tmp_path: Path, run_cli) -> None:
    report = _validate(HOSTILE_TRACE_ERROR, cartpole, sample, options)
    assert not report.accepted and "gotcha" in report.message, report.message
    assert "\\x1b]52" in report.message and "\\u202e" in report.message
    assert not any(c in report.message for c in CONTROL)

    store = RunStore(tmp_path / "run")
    candidate = Candidate(id="r01c01", round=1, index=1, code=HOSTILE_TRACE_ERROR, origin="test")
    store.save_sampled(candidate, "p", "r")
    store.save_validation(candidate, report)
    stored = store.files_of(candidate).validation.read_text()
    assert "gotcha" in stored and not any(c in stored for c in CONTROL)

    reward = tmp_path / "hostile.py"
    reward.write_text(HOSTILE_TRACE_ERROR)
    shown = run_cli("validate", "cartpole", str(reward), "--backend", "jax")
    assert shown.returncode == 1, shown.stderr
    assert "gotcha" in shown.stdout and not any(c in shown.stdout + shown.stderr for c in CONTROL)


BENIGN = """
import numpy as np
from numpy.linalg import norm

def compute_reward(state, action):
    a = np.clip(state.pole_angle, -0.5, 0.5)
    b = 1.0 + np.abs(a)
    trig = (np.arcsin(a) + np.arccos(a) + np.arcsinh(a) + np.arccosh(b) + np.arctanh(a) + np.asin(a) + np.acos(a)
            + np.asinh(a) + np.acosh(b) + np.atanh(a) + np.sinh(a) + np.cosh(a))
    m = np.stack([np.stack([b, a], axis=1), np.stack([a, b], axis=1)], axis=1)
    lin = np.linalg.det(m) + norm(m, axis=(1, 2)) + np.linalg.norm(action, axis=1)
    return trig + lin, {"trig": trig, "lin": lin}
"""


def test_the_benign_functions_the_numpy_path_accepts_are_accepted(
        cartpole: Task, sample: StateSample, options: JaxValidation) -> None:
    report = _validate(BENIGN, cartpole, sample, options)
    assert report.accepted, report.message
    assert f"module_call_ms_b{cartpole.train.n_envs}" in report.timings_ms  # costed at the training batch size


def test_linalg_the_jax_backend_cannot_take_is_refused_by_name(
        cartpole: Task, sample: StateSample, options: JaxValidation) -> None:
    source = BENIGN.replace("np.linalg.det(m)", "np.linalg.solve(m, m[:, :, :1])[:, 0, 0]")
    report = _validate(source, cartpole, sample, options)
    assert not report.accepted
    assert "np.linalg.solve is not available on the jax backend" in report.message
    assert "the jax backend has np.linalg.norm" in report.message
