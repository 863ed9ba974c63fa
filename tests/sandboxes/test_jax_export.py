"""Tracing and exporting a candidate with jax.numpy inside the sandbox (``sandboxes/jax_export.py``).

Each export starts a fresh sandboxed worker (~1 s: jax's import and warm-up dominate), so the cases
here are few. What the bytes may be used for is ``tests/envs/test_jax_check.py``'s subject.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("jax")

from rewardsmith.core.state import ActionSpec, StateField, StateSpec
from rewardsmith.sandboxes.jax_export import ExportFault, ExportLimits, export_reward
from rewardsmith.sandboxes.jax_worker import lifted_constant_names

SPEC = StateSpec(
    fields=(StateField(name="x", shape=(), unit="m", doc="position"),
            StateField(name="q", shape=(4,), unit="rad", doc="joint angles")),
    action=ActionSpec(dim=2, doc="torques"),
)


def _fault(source: str, limits: ExportLimits | None = None) -> ExportFault:
    with pytest.raises(ExportFault) as info:
        export_reward(source, SPEC, limits)
    return info.value


def test_constants_are_lifted_and_the_module_comes_back_as_bytes() -> None:
    source = """
import numpy as np
W_X = 0.5
W_Q: float = -2.0
N = 2
name = 3.0
def compute_reward(state, action):
    with np.errstate(divide="ignore"):
        pose = W_Q * np.sum(np.abs(state.q[:, :N]), axis=1)
    return W_X * state.x + pose, {"pose": pose, "x": W_X * state.x}
"""
    out = export_reward(source, SPEC)
    assert isinstance(out.blob, bytes) and 1000 < len(out.blob) < 64 * 1024
    assert out.components == ("pose", "x")
    # N slices an array, so it cannot be a traced value; it stays a fixed number (floats stay lifted).
    assert out.constants == {"W_X": 0.5, "W_Q": -2.0}
    assert "sandbox: " in out.sandbox


def test_the_parent_side_does_not_import_jax() -> None:
    code = "import sys, rewardsmith.sandboxes.jax_export; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_lifted_constant_names_reads_only_module_level_number_literals() -> None:
    source = "A = 1\nB_2 = -0.5\nc = 2.0\nD = 'x'\nE = True\nF = np.pi\nG: int = 3\ndef f():\n    H = 1.0\n"
    assert lifted_constant_names(source) == ["A", "B_2", "G"]


@pytest.mark.parametrize(("body", "advice"), [
    ("    r = np.zeros_like(state.x)\n    r[state.x > 0] = 1.0\n    return r, {'r': r}", "np.where(cond, value, x)"),
    ("    if state.x > 0:\n        return state.x, {}\n    return -state.x, {}", "np.where(cond, a, b) instead of `if`"),
    ("    r = state.x[state.x > 0]\n    return r, {}", "boolean-mask indexing"),
], ids=["inplace_write", "python_if_on_array", "data_dependent_shape"])
def test_jax_rule_violations_become_messages_for_the_designer(body: str, advice: str) -> None:
    fault = _fault(f"import numpy as np\ndef compute_reward(state, action):\n{body}\n")
    assert fault.kind == "not_traceable"
    assert advice in fault.message
    assert fault.message.startswith("line ")  # where in the candidate's code


def test_faults_of_the_module_itself() -> None:
    missing = _fault("import numpy as np\nX = np.fix\n")  # in numpy, not in jax.numpy
    assert missing.kind == "exception" and "np.fix is not available on the jax backend" in missing.message
    assert _fault("import numpy as np\n").message.startswith("the module defines no function compute_reward")
    big = ("import numpy as np\ndef compute_reward(state, action):\n    r = state.x\n"
           "    for i in range(300):\n        r = np.sin(r) + i\n    return r, {}\n")
    assert _fault(big, ExportLimits(max_bytes=8 * 1024)).kind == "too_large"
