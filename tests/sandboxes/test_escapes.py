"""Defence in depth: with the static check bypassed, the OS layers still stop escapes at run time.

The candidates here recover the real ``os`` module through the classic dunder walk (which the static
check rejects, so they are fed to :class:`RewardProcess` directly) and report, as reward components,
which attempts succeeded: 1.0 = the attempt worked, 0.0 = it failed. Host-side effects are checked too.
"""

from __future__ import annotations

import select
import socket
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.core.state import StateSpec
from rewardsmith.envs.rollout import StateSample
from rewardsmith.sandboxes.client import RewardProcess
from rewardsmith.sandboxes.isolation import PROJECT_ROOT, Isolation, detect_isolation, try_bubblewrap
from rewardsmith.sandboxes.seccomp import availability as seccomp_missing
from rewardsmith.sandboxes.static import check_source

ESCAPE = '''
import numpy as np

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

def write_host_file():
    fd = OS["open"](WRITE_PATH, OS["O_WRONLY"] | OS["O_CREAT"], 0o644)
    OS["write"](fd, b"pwned")

def read_project_file():
    fd = OS["open"](READ_PATH, OS["O_RDONLY"])
    if not OS["read"](fd, 100):
        raise OSError("empty")

def run_shell():
    if OS["system"]("echo pwned > " + SHELL_PATH) != 0:
        raise OSError("system failed")

def fork():
    if OS["fork"]() == 0:
        OS["_exit"](0)

def connect_loopback():
    ctypes = OS["sys"].modules["ctypes"]
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.socket(2, 1, 0)
    if fd < 0:
        raise OSError("socket failed")
    addr = ctypes.create_string_buffer(b"\\x02\\x00" + PORT.to_bytes(2, "big") + bytes([127, 0, 0, 1]) + bytes(8), 16)
    if libc.connect(fd, addr, 16) != 0:
        raise OSError("connect failed")

def signal_handler():
    signal = OS["sys"].modules["signal"]
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

def raise_memory_limit():
    resource = OS["sys"].modules["resource"]
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

def unlock_inputs():
    STATE[0].pole_angle.flags.writeable = True

def kill_parent():
    OS["kill"](OS["getppid"](), 0)

STATE = []
ATTEMPTS = {"write_host_file": write_host_file, "read_project_file": read_project_file, "run_shell": run_shell,
            "fork": fork, "connect_loopback": connect_loopback, "signal_handler": signal_handler,
            "raise_memory_limit": raise_memory_limit, "unlock_inputs": unlock_inputs, "kill_parent": kill_parent}

def compute_reward(state, action):
    STATE.append(state)
    ones = np.ones(state.pole_angle.shape)
    comps = {name: ones * attempt(fn) for name, fn in ATTEMPTS.items()}
    return np.cos(state.pole_angle), comps
'''


class _Listener:
    """A TCP listener on 127.0.0.1; :meth:`was_contacted` tells whether a connection is waiting."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def was_contacted(self) -> bool:
        return bool(select.select([self.sock], [], [], 0.2)[0])

    def close(self) -> None:
        self.sock.close()


def _run_escape(tmp_path: Path, spec: StateSpec, sample: StateSample, isolation: Isolation) -> dict[str, float]:
    listener = _Listener()
    consts = (f"WRITE_PATH = {str(tmp_path / 'written')!r}\nREAD_PATH = {str(PROJECT_ROOT / 'envs' / 'fitness.py')!r}\n"
              f"SHELL_PATH = {str(tmp_path / 'shell')!r}\nPORT = {listener.port}\n")
    try:
        # The weak levels are tried on purpose here: they need the explicit opt-in like any other caller.
        with RewardProcess(consts + ESCAPE, spec, isolation=isolation, allow_weak_isolation=True) as proc:
            out = proc.call(sample.states[:8], sample.actions[:8])
        contacted = listener.was_contacted()
    finally:
        listener.close()
    results = {name: float(v[0]) for name, v in out.components.items()}
    # The host agrees with what the candidate reported.
    assert results["write_host_file"] == float((tmp_path / "written").exists())
    assert results["run_shell"] == float((tmp_path / "shell").exists())
    assert results["connect_loopback"] == float(contacted)
    return results


def test_the_escape_candidates_are_rejected_statically() -> None:
    assert not check_source(ESCAPE).ok


def test_the_escape_works_without_os_layers(tmp_path: Path, spec: StateSpec, sample: StateSample) -> None:
    """Control: the runtime's restricted builtins alone stop nothing (so the other tests mean something)."""
    results = _run_escape(tmp_path, spec, sample, Isolation("rlimits"))
    assert results["write_host_file"] == 1.0 and results["read_project_file"] == 1.0 and results["fork"] == 1.0
    assert results["unlock_inputs"] == 0.0  # the input memory is read-only whatever the level


@pytest.mark.skipif(seccomp_missing() is not None, reason=f"no seccomp here: {seccomp_missing()}")
def test_seccomp_alone_blocks_every_attempt(tmp_path: Path, spec: StateSpec, sample: StateSample) -> None:
    results = _run_escape(tmp_path, spec, sample, Isolation("rlimits", seccomp=True))
    assert results == dict.fromkeys(results, 0.0)


def test_bubblewrap_alone_hides_files_and_network(tmp_path: Path, spec: StateSpec, sample: StateSample) -> None:
    bwrap = try_bubblewrap()
    if bwrap is None:
        pytest.skip("bubblewrap is not installed or cannot create namespaces here")
    results = _run_escape(tmp_path, spec, sample, bwrap)
    for name in ("write_host_file", "read_project_file", "run_shell", "connect_loopback", "unlock_inputs"):
        assert results[name] == 0.0, name


def test_full_isolation_blocks_every_attempt(tmp_path: Path, spec: StateSpec, sample: StateSample) -> None:
    isolation = detect_isolation()
    if not isolation.seccomp:
        pytest.skip(f"seccomp is not available: {isolation.describe()}")
    results = _run_escape(tmp_path, spec, sample, isolation)
    assert results == dict.fromkeys(results, 0.0)
    assert np.isfinite(list(results.values())).all()


# The numpy object-buffer escape (issue 15): only allow-listed names, so the old static check passed it.
NUMPY_ESCAPE = (Path(__file__).parent / "corpus" / "numpy_object_buffer_reaches_os.py").read_text() + '''

def write_file():
    os_module = real_os()
    fd = os_module.open(PATH, os_module.O_WRONLY | os_module.O_CREAT, 420)
    os_module.write(fd, b"pwned")
    os_module.close(fd)


def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    return upright, {"pid": upright * 0 + float(real_os().getpid()), "wrote": upright * 0 + attempt(write_file)}


def attempt(fn):
    try:
        fn()
        return 1.0
    except Exception:
        return 0.0
'''


def _numpy_escape(tmp_path: Path, spec: StateSpec, sample: StateSample, isolation: Isolation) -> tuple[float, float, int]:
    source = f"PATH = {str(tmp_path / 'written')!r}\n" + NUMPY_ESCAPE
    with RewardProcess(source, spec, isolation=isolation, allow_weak_isolation=True) as proc:
        out = proc.call(sample.states[:4], sample.actions[:4])
        assert proc._proc is not None
        worker_pid = proc._proc.pid
    return float(out.components["pid"][0]), float(out.components["wrote"][0]), worker_pid


def test_the_numpy_escape_is_refused_statically() -> None:
    report = check_source(NUMPY_ESCAPE)
    assert not report.ok and "np.ndarray may only be used as a type" in report.message()


def test_the_numpy_escape_reaches_the_real_os_module(tmp_path: Path, spec: StateSpec, sample: StateSample) -> None:
    """Control: with the static check bypassed, it calls os.getpid() and writes a host file without OS layers —
    which is why running below full isolation needs the explicit opt-in."""
    pid, wrote, worker_pid = _numpy_escape(tmp_path, spec, sample, Isolation("rlimits"))
    assert pid == worker_pid
    assert wrote == 1.0 and (tmp_path / "written").read_bytes() == b"pwned"


def test_full_isolation_contains_the_numpy_escape(tmp_path: Path, spec: StateSpec, sample: StateSample) -> None:
    isolation = detect_isolation()
    if not isolation.full:
        pytest.skip(f"not the full level here: {isolation.describe()}")
    pid, wrote, _ = _numpy_escape(tmp_path, spec, sample, isolation)
    assert pid == 1.0  # the real os module, but inside the sandbox's own pid namespace
    assert wrote == 0.0 and not (tmp_path / "written").exists()
