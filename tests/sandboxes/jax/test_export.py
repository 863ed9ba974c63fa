"""Tracing and exporting a candidate with jax.numpy inside the sandbox (``sandboxes/jax/export.py``).

Each export starts a fresh sandboxed worker (~1 s: jax's import dominates; forked from the zygote
~0.2 s), so the cases here are few. What the bytes may be used for is ``tests/sandboxes/jax/test_module_check.py``'s subject.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("jax")

from rewardsmith.core.errors import SandboxError
from rewardsmith.core.state import ActionSpec, StateField, StateSpec
from rewardsmith.sandboxes import protocol, seccomp
from rewardsmith.sandboxes.isolation import Isolation
from rewardsmith.sandboxes.jax.export import ExportFault, ExportLimits, ExportZygote, export_reward
from rewardsmith.sandboxes.jax.worker import lifted_constant_names

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
    code = "import sys, rewardsmith.sandboxes.jax.export; assert 'jax' not in sys.modules, 'jax imported'"
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


# -- the zygote: one jax import, a fresh forked worker per export ----------------------------------------
SOURCE = """
import numpy as np
W_X = 0.5
def compute_reward(state, action):
    r = W_X * state.x + np.sum(state.q, axis=1)
    return r, {"r": r}
"""


def test_the_zygote_forks_a_fresh_worker_per_export_with_the_lone_workers_results() -> None:
    lone = export_reward(SOURCE, SPEC)
    with ExportZygote(SPEC) as zygote:
        outs = [export_reward(SOURCE, SPEC, zygote=zygote) for _ in range(3)]
        first = zygote._proc.pid if zygote._proc else None
        fault = _fault_via(zygote, "import numpy as np\nX = np.fix\n")  # a candidate's fault: the zygote goes on
        assert fault.kind == "exception" and "np.fix" in fault.message
        assert export_reward(SOURCE, SPEC, zygote=zygote).components == ("r",)
        assert zygote._proc is not None and zygote._proc.pid == first  # one zygote for every export
        zygote._proc.kill()  # a dead zygote is started again with the next export
        zygote._proc.wait()
        assert export_reward(SOURCE, SPEC, zygote=zygote).constants == {"W_X": 0.5}
    assert zygote._proc is None
    for out in outs:
        assert (out.components, out.constants, out.sandbox) == (lone.components, lone.constants, lone.sandbox)
        assert abs(len(out.blob) - len(lone.blob)) < 0.2 * len(lone.blob)  # the same module (its debug locations differ)


def _fault_via(zygote: ExportZygote, source: str) -> ExportFault:
    with pytest.raises(ExportFault) as info:
        export_reward(source, SPEC, zygote=zygote)
    return info.value


def test_a_forked_worker_holds_only_its_own_pipes_and_is_ended_by_the_zygote() -> None:
    # Without a pid namespace the worker's pid is the host's, so its descriptors can be read in /proc.
    with ExportZygote(SPEC, isolation=Isolation("rlimits", seccomp=seccomp.availability() is None)) as zygote:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        pid = zygote.spawn(req_r, resp_w)
        os.close(req_r)
        os.close(resp_w)
        tag, hello = protocol.recv(resp_r, deadline=time.monotonic() + 60)
        assert tag == protocol.HELLO, hello
        fds = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert len(fds) == 5 and {0, 1, 2} <= set(fds), fds  # /dev/null, stderr and its two pipes
        assert fds[0] == fds[1] == "/dev/null", fds
        assert not any(target.startswith("socket:") for target in fds.values()), fds  # not the zygote's socket
        assert zygote.end(pid) == "still running: killed"  # it waited for a candidate that never came: the zygote kills it
        assert not Path(f"/proc/{pid}").exists()
        assert zygote.end(pid) == "unknown"
        os.close(req_w)
        os.close(resp_r)


def test_a_started_zygote_outlives_the_pool_threads_that_export_through_it() -> None:
    # A child dies with the thread that started it (PR_SET_PDEATHSIG): the run starts the zygote itself,
    # so the validation pool's threads come and go without taking it along.
    with ExportZygote(SPEC) as zygote:
        zygote.start()
        for _ in range(2):
            with ThreadPoolExecutor(max_workers=2) as pool:
                assert [o.components for o in pool.map(lambda _: export_reward(SOURCE, SPEC, zygote=zygote), [0, 1])
                        ] == [("r",), ("r",)]
            time.sleep(0.5)
            assert zygote._proc is not None and zygote._proc.poll() is None, "the zygote died with a pool thread"


class _CannotFork(ExportZygote):
    def spawn(self, req_fd: int, resp_fd: int) -> int:
        raise SandboxError("the jax export zygote could not fork a worker (error fork failed)")


def test_an_export_whose_zygote_cannot_fork_gets_a_lone_worker() -> None:
    with _CannotFork(SPEC) as zygote:
        out = export_reward(SOURCE, SPEC, zygote=zygote)
    assert out.components == ("r",) and out.constants == {"W_X": 0.5}


_WARMED = """
import os
from rewardsmith.sandboxes import protocol
from rewardsmith.sandboxes.jax import worker
from jax._src.interpreters import mlir
print("before", mlir.make_ir_context().get_num_threads())
cfg = protocol.ExportWorkerConfig(parent_pid=None, req_fd=-1, resp_fd=-1, fields=(("x", ()),), action_dim=2,
                                  max_components=8, memory_mb=0, seccomp=False, max_bytes=1 << 24)
worker._warm_up(cfg)
print("after", mlir.make_ir_context().get_num_threads())
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: MLIR's pool has one thread anyway")
def test_the_warmed_worker_lowers_on_its_own_thread_so_seccomp_never_sees_a_late_thread() -> None:
    """jax's MLIR thread pool starts threads on demand; one asked for after seccomp (which refuses clone) made
    LLVM abort the worker ("pthread_create failed") on a benign candidate under load. After the warm-up every
    context jax makes is single-threaded."""
    out = subprocess.run([sys.executable, "-c", _WARMED], capture_output=True, text=True, timeout=120, check=True)
    counts = dict(line.split() for line in out.stdout.splitlines() if line.startswith(("before", "after")))
    assert int(counts["before"]) > 1 and counts["after"] == "1", out.stdout
