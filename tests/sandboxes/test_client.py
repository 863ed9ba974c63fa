"""The parent side treats the worker as untrusted: malformed replies, lies and silence are faults
with bounded waits, never hangs or crashes of the trainer. A scripted fake worker plays the liar."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.core.errors import SandboxError
from rewardsmith.core.state import StateSpec
from rewardsmith.envs.rollout import StateSample
from rewardsmith.sandboxes.client import CandidateFault, RewardProcess, SandboxLimits
from rewardsmith.sandboxes.isolation import Isolation

FAKE = """
import json, os, struct, sys, time
cfg = json.loads(sys.argv[-1])
req, resp = cfg["req_fd"], cfg["resp_fd"]
def frame(tag, payload):
    body = json.dumps(payload).encode()
    os.write(resp, struct.pack("<4sI", tag, len(body)) + body)
mode = sys.argv[1]
if mode == "silent":
    time.sleep(60)
if mode == "no_seccomp":
    frame(b"HELO", {"layers": ["rlimits"]})
    time.sleep(60)
frame(b"HELO", {"layers": ["seccomp", "rlimits"]})
os.read(req, 1 << 16)                                  # LOAD
frame(b"OK  ", {"load_ms": 1.0, "printed": ""})
os.read(req, 1)                                        # the first CALL doorbell
if mode == "garbage":
    os.write(resp, b"\\x00garbage")
elif mode == "huge_frame":
    os.write(resp, struct.pack("<4sI", b"OK  ", 1 << 30))
elif mode == "bad_json":
    os.write(resp, struct.pack("<4sI", b"OK  ", 5) + b"[[[[[")
elif mode == "bad_names":
    frame(b"OK  ", {"components": ["ok", "not an identifier"], "printed": ""})
elif mode == "done_without_names":
    os.write(resp, b"k")
elif mode == "unknown_fault_kind":
    frame(b"ERR ", {"kind": "rootkit", "message": "x" * 100000})
elif mode == "exit":
    sys.exit(3)
os.read(req, 1 << 16)                                  # QUIT (or the end of the pipe)
"""

SOURCE = "import numpy as np\n\ndef compute_reward(state, action):\n    return state.pole_angle, {}\n"


def _fake(tmp_path: Path, mode: str, seccomp: bool = True) -> Isolation:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE)
    # The fake runs instead of the worker: it gets the worker's command line (and its config) as arguments.
    return Isolation("bubblewrap", (sys.executable, str(script), mode), seccomp=seccomp)


def _call(tmp_path: Path, mode: str, spec: StateSpec, sample: StateSample) -> CandidateFault:
    proc = RewardProcess(SOURCE, spec, SandboxLimits(call_timeout_s=1.0, start_timeout_s=5.0), _fake(tmp_path, mode))
    with proc, pytest.raises(CandidateFault) as info:
        proc.call(sample.states[:4], sample.actions[:4])
    return info.value


@pytest.mark.parametrize(("mode", "kind"), [
    ("garbage", "crash"), ("huge_frame", "crash"), ("bad_json", "crash"), ("exit", "crash"),
    ("bad_names", "bad_output"), ("done_without_names", "bad_output"), ("unknown_fault_kind", "exception"),
])
def test_untrusted_replies_become_faults(tmp_path: Path, mode: str, kind: str, spec: StateSpec,
                                         sample: StateSample) -> None:
    started = time.monotonic()
    fault = _call(tmp_path, mode, spec, sample)
    assert fault.kind == kind
    assert len(fault.message) < 5000
    assert time.monotonic() - started < 10.0


def test_a_worker_that_never_says_hello_is_a_sandbox_error(tmp_path: Path, spec: StateSpec) -> None:
    proc = RewardProcess(SOURCE, spec, SandboxLimits(start_timeout_s=1.0), _fake(tmp_path, "silent"))
    with pytest.raises(SandboxError, match="did not start in time"):
        proc.start()
    proc.close()


def test_a_missing_seccomp_layer_is_refused(tmp_path: Path, spec: StateSpec) -> None:
    proc = RewardProcess(SOURCE, spec, SandboxLimits(start_timeout_s=5.0), _fake(tmp_path, "no_seccomp"))
    with pytest.raises(SandboxError, match="seccomp"):
        proc.start()
    proc.close()


def test_calls_round_trip_and_report_names_once(spec: StateSpec, sample: StateSample) -> None:
    src = ("import numpy as np\n\ndef compute_reward(state, action):\n    a = np.cos(state.pole_angle)\n"
           "    b = action[:, 0] * 2.0\n    return a + b, {'a': a, 'b': b}\n")
    with RewardProcess(src, spec) as proc:
        for batch in (1, 7, 64, 7):
            out = proc.call(sample.states[:batch], sample.actions[:batch])
            expect_a = np.cos(sample.states[:batch, 2])
            np.testing.assert_array_equal(out.components["a"], expect_a)
            np.testing.assert_array_equal(out.total, expect_a + sample.actions[:batch, 0] * 2.0)
        with pytest.raises(ValueError, match="outside"):
            proc.call(sample.states[:0], sample.actions[:0])


def test_a_fault_at_one_call_does_not_poison_the_next(spec: StateSpec, sample: StateSample) -> None:
    src = ("import numpy as np\n\ndef compute_reward(state, action):\n    if len(action) == 3:\n"
           "        raise ValueError('three')\n    return np.cos(state.pole_angle), {}\n")
    with RewardProcess(src, spec) as proc:
        with pytest.raises(CandidateFault, match="three"):
            proc.call(sample.states[:3], sample.actions[:3])
        assert proc.call(sample.states[:5], sample.actions[:5]).total.shape == (5,)


@pytest.mark.parametrize("result", [
    "np.array(list(r) + [None])[:-1]",                     # object, inferred: no dtype argument the checker sees
    "np.zeros(len(r), dtype=[('a', 'f8')])",               # structured (the static check would refuse this line)
    "np.zeros(len(r), dtype='V8')",                        # void
    "r.astype('O')",
])
def test_results_that_are_not_plain_numbers_are_refused_at_run_time(result: str, spec: StateSpec,
                                                                     sample: StateSample) -> None:
    """The worker checks every returned array's dtype itself; the static check is bypassed here."""
    for where in ("total", "component"):
        total, comp = (result, "r") if where == "total" else ("r", result)
        src = (f"import numpy as np\n\ndef compute_reward(state, action):\n    r = np.cos(state.pole_angle)\n"
               f"    return {total}, {{'c': {comp}}}\n")
        with RewardProcess(src, spec) as proc, pytest.raises(CandidateFault) as info:
            proc.call(sample.states[:4], sample.actions[:4])
        assert info.value.kind == "bad_output" and "expected real numbers" in info.value.message


def test_candidate_text_reaches_the_parent_escaped(spec: StateSpec, sample: StateSample) -> None:
    src = ("import numpy as np\n\ndef compute_reward(state, action):\n    print('\\x1b[2J\\x1b]52;c;eA==\\x07')\n"
           "    if len(action) == 3:\n        raise ValueError('\\x9b2J\\rsandbox: accepted')\n"
           "    return np.cos(state.pole_angle), {}\n")
    with RewardProcess(src, spec) as proc:
        printed = proc.call(sample.states[:4], sample.actions[:4]).printed
        with pytest.raises(CandidateFault) as info:
            proc.call(sample.states[:3], sample.actions[:3])
    assert "\x1b" not in printed and "\\x1b[2J" in printed
    assert "\x9b" not in info.value.message and "\r" not in info.value.message
    assert "\\x9b2J\\rsandbox: accepted" in info.value.message
