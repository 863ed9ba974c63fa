"""The trainer's checks of exported reward modules: crafted modules are refused, a good one is callable.

Crafted modules are exported here, in the test process, the way a hostile sandbox could build them
(e.g. a custom call with JAX's own export-time check switched off, then the record of that removed).
The good module comes from the real sandbox (``sandboxes.jax.export``) and must give the numbers the
numpy worker gives on the same inputs. Then the adversarial corpus goes through ``validate_source_jax``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from jax import export  # noqa: E402

from rewardsmith.core.state import ActionSpec, StateField, StateSpec  # noqa: E402
from rewardsmith.sandboxes.client import RewardProcess, SandboxLimits  # noqa: E402
from rewardsmith.sandboxes.jax.export import ExportedReward, export_reward  # noqa: E402
from rewardsmith.sandboxes.jax.module_check import (  # noqa: E402
    CallInputs,
    ModuleChecker,
    ModuleLimits,
    ModuleRejected,
    call_exported,
    check_exported,
    check_in_subprocess,
)
from rewardsmith.sandboxes.jax.validate import JaxValidation, validate_source_jax  # noqa: E402

SPEC = StateSpec(
    fields=(StateField(name="height", shape=(), unit="m", doc="torso height", low=0.0, high=2.0),
            StateField(name="joint_vel", shape=(3,), unit="rad/s", doc="joint velocities")),
    action=ActionSpec(dim=2, doc="torques", low=-1.0, high=1.0),
)
GOOD = """
import numpy as np

W_HEIGHT = 2.0
W_CALM = 0.1
N_JOINTS = 3

def compute_reward(state, action):
    height = W_HEIGHT * np.tanh(state.height)
    calm = -W_CALM * np.sum(np.square(state.joint_vel[:, :N_JOINTS]), axis=1) / N_JOINTS
    effort = -0.01 * np.linalg.norm(action, axis=1)
    return height + calm + effort, {"height": height, "calm": calm, "effort": effort}
"""
COMPONENTS = ["height", "calm", "effort"]


def _inputs(n: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, SPEC.size)), rng.uniform(-1, 1, size=(n, SPEC.action.dim))


@pytest.fixture(scope="module")
def good() -> ExportedReward:
    return export_reward(GOOD, SPEC)


def _craft(fn, *, state_batch: object = None, disabled: tuple = (), param_names: tuple[str, ...] = ()):
    (b,) = export.symbolic_shape("b")
    batch = b if state_batch is None else state_batch
    f32 = jnp.float32
    state = {"height": jax.ShapeDtypeStruct((batch,), f32), "joint_vel": jax.ShapeDtypeStruct((batch, 3), f32)}
    params = {n: jax.ShapeDtypeStruct((batch,), f32) for n in param_names}
    action = jax.ShapeDtypeStruct((batch, 2), f32)
    return export.export(jax.jit(fn), platforms=("cpu", "cuda"), disabled_checks=list(disabled))(params, state, action)


def _plain(params, state, action):
    h = jnp.tanh(state["height"])
    return h, {"height": h, "calm": -state["joint_vel"].sum(axis=1), "effort": -action.sum(axis=1)}


def _callback_target(params, state, action):
    # What jax.pure_callback lowers to on CPU: a custom call into the Python interpreter of the caller.
    h = jax.ffi.ffi_call("xla_ffi_python_cpu_callback", jax.ShapeDtypeStruct(state["height"].shape, jnp.float32))(
        state["height"])
    return h, {"height": h, "calm": h, "effort": h}


def _refused(blob: bytes, reason: str, limits: ModuleLimits | None = None) -> str:
    with pytest.raises(ModuleRejected) as info:
        check_exported(blob, SPEC, 2, COMPONENTS, limits=limits)
    assert info.value.reason == reason, info.value
    return info.value.message


def test_good_module_is_accepted_and_gives_the_numpy_rewards_numbers(good: ExportedReward) -> None:
    assert good.components == tuple(COMPONENTS)
    assert good.constants == {"W_HEIGHT": 2.0, "W_CALM": 0.1}  # N_JOINTS slices an array: it stays fixed
    exported = check_exported(good.blob, SPEC, 2, good.components, list(good.constants))
    states, actions = _inputs()
    total, comps = call_exported(exported, SPEC, good.constants, states, actions)
    with RewardProcess(GOOD, SPEC, SandboxLimits()) as proc:
        ref = proc.call(states, actions)
    np.testing.assert_allclose(total, ref.total, rtol=1e-5, atol=1e-6)
    for name in COMPONENTS:
        np.testing.assert_allclose(comps[name], ref.components[name], rtol=1e-5, atol=1e-6)
    # Constants are a per-env input: another weight changes the numbers without a new trace.
    doubled, _ = call_exported(exported, SPEC, {**good.constants, "W_HEIGHT": 4.0}, states, actions)
    np.testing.assert_allclose(doubled - total, comps["height"], rtol=1e-5, atol=1e-6)


def test_a_custom_call_to_the_cpu_callback_target_is_refused() -> None:
    target = "xla_ffi_python_cpu_callback"
    honest = _craft(_callback_target, disabled=(export.DisabledSafetyCheck.custom_call(target),))
    assert "disables safety checks" in _refused(honest.serialize(), "safety_checks")
    # A hostile sandbox drops the record of the disabled check: the op walk still finds the call.
    hidden = dataclasses.replace(honest, disabled_safety_checks=())
    assert target in _refused(hidden.serialize(), "custom_call")
    assert not check_in_subprocess(hidden.serialize(), SPEC, COMPONENTS, {}).accepted


def test_a_wrong_output_tree_is_refused() -> None:
    def extra(params, state, action):
        total, comps = _plain(params, state, action)
        return total, {**comps, "bonus": total}

    assert "outputs" in _refused(_craft(extra).serialize(), "schema")
    assert "outputs" in _refused(_craft(lambda p, s, a: _plain(p, s, a)[1]).serialize(), "schema")


def test_wrong_dtypes_and_shapes_are_refused() -> None:
    def as_int(params, state, action):
        total, comps = _plain(params, state, action)
        return total.astype(jnp.int32), comps

    def per_joint(params, state, action):
        total, comps = _plain(params, state, action)
        return total, {**comps, "calm": state["joint_vel"]}

    assert "int32" in _refused(_craft(as_int).serialize(), "schema")
    assert "output" in _refused(_craft(per_joint).serialize(), "schema")
    assert "expected float32('b'" in _refused(_craft(_plain, state_batch=8).serialize(), "schema")


def test_effects_devices_and_vjp_are_refused() -> None:
    exported = _craft(_plain)
    assert _refused(dataclasses.replace(exported, nr_devices=2).serialize(), "devices")
    assert _refused(exported.serialize(vjp_order=1), "vjp")
    assert _refused(dataclasses.replace(exported, platforms=("cuda",)).serialize(), "platforms")


def test_size_and_op_caps_and_garbage() -> None:
    blob = _craft(_plain).serialize()
    check_exported(blob, SPEC, 2, COMPONENTS)
    _refused(blob, "too_large", ModuleLimits(max_bytes=len(blob) - 1))
    _refused(blob, "too_many_ops", ModuleLimits(max_ops=10))
    _refused(b"\x00" * 64, "malformed")
    _refused(blob[: len(blob) // 2], "malformed")


def test_the_validator_subprocess_accepts_the_good_module_and_evaluates_it(good: ExportedReward) -> None:
    states, actions = _inputs(8)
    verdict = check_in_subprocess(good.blob, SPEC, good.components, good.constants, CallInputs(states, actions, 8))
    assert verdict.accepted, verdict.message
    assert verdict.total is not None and verdict.total.shape == (8,)


def test_one_checker_child_serves_many_modules(good: ExportedReward) -> None:
    states, actions = _inputs(4)
    hidden = dataclasses.replace(_craft(_callback_target, disabled=(
        export.DisabledSafetyCheck.custom_call("xla_ffi_python_cpu_callback"),)), disabled_safety_checks=())
    with ModuleChecker(timeout_s=60.0) as checker:
        first = checker.check(good.blob, SPEC, good.components, good.constants, CallInputs(states, actions, 4))
        pid = checker._proc.pid if checker._proc else None
        refused = checker.check(hidden.serialize(), SPEC, COMPONENTS, {})
        again = checker.check(good.blob, SPEC, good.components, good.constants, CallInputs(states, actions, 4))
        assert first.accepted and again.accepted and not refused.accepted and refused.reason == "custom_call"
        assert checker._proc is not None and checker._proc.pid == pid  # the same child, not one per module
        np.testing.assert_array_equal(first.total, again.total)
    assert checker._proc is None  # closed with the block


class _Fake(ModuleChecker):
    """A checker whose child reads one request and then does ``then`` (crash, hang), then is a real one."""

    def __init__(self, then: str, timeout_s: float) -> None:
        super().__init__(timeout_s=timeout_s)
        self.then, self.started = then, 0

    def command(self) -> list[str]:
        self.started += 1
        if self.started > 1:
            return super().command()
        return [sys.executable, "-c", f"import sys, time; sys.stdin.readline(); {self.then}"]


@pytest.mark.parametrize(("then", "says"), [("sys.exit(7)", "died (exit code 7)"),
                                            ("time.sleep(60)", "took longer than 2 s")])
def test_a_child_that_dies_or_hangs_on_a_module_refuses_it_and_the_next_check_gets_a_new_child(
        good: ExportedReward, then: str, says: str) -> None:
    with _Fake(then, timeout_s=2.0) as checker:
        verdict = checker.check(good.blob, SPEC, good.components, good.constants)
        assert not verdict.accepted and verdict.reason == "malformed" and says in verdict.message, verdict
        checker.timeout_s = 60.0
        assert checker.check(good.blob, SPEC, good.components, good.constants).accepted
        assert checker.started == 2


# -- the adversarial corpus on the jax backend --------------------------------------------------------
CORPUS = Path(__file__).resolve().parents[2] / "sandboxes" / "corpus"
OPTIONS = JaxValidation(limits=SandboxLimits(load_timeout_s=4.0, call_timeout_s=2.0))
# One of each kind the numpy probe refuses, plus static refusals, a good one and a jax-only refusal.
FAST = ["import_os", "syntax_error", "nan_reward", "wrong_shape_scalar", "infinite_loop_at_call",
        "hidden_counter_nondeterministic", "good_simple"]


def _header(path: Path) -> tuple[str, str]:
    for line in path.read_text().splitlines():
        if line.startswith("# expect:"):
            stage, reason = line.split(":", 1)[1].split()
            return stage, reason
    raise AssertionError(f"{path.name} has no '# expect:' line")


def _cases(names: list[str] | None) -> list[Path]:
    paths = sorted(CORPUS.glob("*.py"))
    return [p for p in paths if names is None or p.stem in names]


@pytest.fixture(scope="module")
def sample():
    from rewardsmith.envs.rollout import random_rollout
    from rewardsmith.envs.tasks import load_task

    task = load_task("cartpole")
    return task.adapter.spec, random_rollout(task, n=256, seed=0)


def _check_case(path: Path, sample) -> None:
    spec, rollout = sample
    stage, reason = _header(path)
    report = validate_source_jax(path.read_text(), spec, rollout.states, rollout.actions, OPTIONS)
    if reason != "ok":  # every refusal is the numpy backend's verdict
        assert (report.stage, report.reason) == (stage, reason), report.message
        assert not report.accepted
    elif not report.accepted:  # accepted with numpy; jax may refuse only for its own rules
        assert report.reason in {"not_traceable", "bad_module", "backend_mismatch", "too_large"}, report.message
        assert report.message.strip()


@pytest.mark.parametrize("path", _cases(FAST), ids=lambda p: p.stem)
def test_corpus_fast_subset_gets_the_numpy_verdicts(path: Path, sample) -> None:
    _check_case(path, sample)


@pytest.mark.slow
@pytest.mark.parametrize("path", _cases(None), ids=lambda p: p.stem)
def test_corpus_gets_the_numpy_verdicts(path: Path, sample) -> None:
    _check_case(path, sample)


def test_jax_rules_are_explained_to_the_designer(sample) -> None:
    spec, rollout = sample
    report = validate_source_jax((CORPUS / "good_full_featured.py").read_text(), spec, rollout.states,
                                 rollout.actions, OPTIONS)
    assert (report.accepted, report.reason) == (False, "not_traceable")
    assert "np.where" in report.message and "line 16" in report.message
