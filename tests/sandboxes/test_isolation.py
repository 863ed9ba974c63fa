"""Isolation levels: detection, what the bubblewrap wrapper lets a process see, and clean-up."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rewardsmith.core.errors import SandboxError
from rewardsmith.core.state import StateSpec
from rewardsmith.envs.rollout import StateSample
from rewardsmith.sandboxes.client import CandidateFault, RewardProcess, SandboxLimits
from rewardsmith.sandboxes.isolation import (
    ALLOW_WEAK_ENV,
    PROJECT_ROOT,
    Isolation,
    detect_isolation,
    isolation_level,
    try_bubblewrap,
    try_namespaces,
)
from rewardsmith.sandboxes.validate import validate_source

BWRAP = try_bubblewrap()
needs_bwrap = pytest.mark.skipif(BWRAP is None, reason="bubblewrap is not installed or cannot create namespaces here")

HANG_AT_CALL = """import numpy as np

def compute_reward(state, action):
    n = 0
    while n >= 0:
        n += 1
    return np.zeros(1), {}
"""


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(k) for t in os.listdir(f"/proc/{p}/task")
                    for k in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except OSError:
            continue
        found.update(kids)
        todo.extend(kids)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for p in pids:
        try:
            if Path(f"/proc/{p}/stat").read_text().split(")")[-1].split()[0] != "Z":
                alive.add(p)
        except OSError:
            pass
    return alive


def test_descriptions_are_honest() -> None:
    assert Isolation("rlimits").describe().startswith("sandbox: rlimits only")
    assert Isolation("bubblewrap", seccomp=True).describe() == "sandbox: bubblewrap + seccomp + rlimits"
    assert Isolation("namespaces", seccomp=True, note="install bubblewrap for file-system isolation").describe() == \
        "sandbox: namespaces (no network) + seccomp + rlimits — install bubblewrap for file-system isolation"
    assert "install bubblewrap" in Isolation("rlimits", note="install bubblewrap for isolation").describe()


GOOD = "import numpy as np\n\ndef compute_reward(state, action):\n    r = np.cos(state.pole_angle)\n    return r, {'r': r}\n"
WEAK = {
    "rlimits": Isolation("rlimits", note="install bubblewrap for isolation"),
    "namespaces": Isolation("namespaces", ("unshare", "--net", "--"), seccomp=True,
                            note="install bubblewrap for file-system isolation"),
    "bubblewrap without seccomp": Isolation("bubblewrap", ("bwrap", "--"), note="no seccomp: libseccomp is missing"),
}


def test_levels_have_short_labels_for_the_record() -> None:
    assert Isolation("bubblewrap", seccomp=True).label == "bubblewrap+seccomp+rlimits"
    assert Isolation("bubblewrap", seccomp=True).full
    assert [iso.label for iso in WEAK.values()] == ["rlimits", "namespaces+seccomp+rlimits", "bubblewrap+rlimits"]
    assert not any(iso.full for iso in WEAK.values())
    assert isolation_level() == detect_isolation().label


@pytest.mark.parametrize("name", WEAK)
def test_candidate_code_is_refused_below_full_isolation(name: str, spec: StateSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_WEAK_ENV, raising=False)
    iso = WEAK[name]
    proc = RewardProcess(GOOD, spec, isolation=iso)
    with pytest.raises(SandboxError) as info:
        proc.start()
    assert proc._proc is None  # nothing was started
    message = str(info.value)
    assert "\n" not in message and iso.label in message and "--allow-weak-sandbox" in message
    assert ALLOW_WEAK_ENV in message and "missing" in message
    if name == "bubblewrap without seccomp":
        assert "seccomp" in message and "libseccomp is missing" in message
    proc.close()


def test_validation_refuses_weak_isolation_and_runs_with_the_opt_in(spec: StateSpec, sample: StateSample,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_WEAK_ENV, raising=False)
    weak = Isolation("rlimits")
    with pytest.raises(SandboxError, match="weak isolation: found rlimits"):
        validate_source(GOOD, spec, sample.states, sample.actions, isolation=weak)
    report = validate_source(GOOD, spec, sample.states, sample.actions, isolation=weak, allow_weak_isolation=True)
    assert report.accepted and report.sandbox.startswith("sandbox: rlimits only")
    monkeypatch.setenv(ALLOW_WEAK_ENV, "1")  # how the CLI's --allow-weak-sandbox reaches job processes
    assert validate_source(GOOD, spec, sample.states, sample.actions, isolation=weak).accepted
    monkeypatch.setenv(ALLOW_WEAK_ENV, "yes")  # only the documented value opts in
    with pytest.raises(SandboxError):
        validate_source(GOOD, spec, sample.states, sample.actions, isolation=weak)


def test_bubblewrap_is_used_whenever_this_host_allows_it() -> None:
    """If a bare bwrap runs here, our full command line must run too, wherever the checkout lives
    (a CI clone under /tmp once fell back silently, because the private /tmp hid the virtualenv)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bubblewrap is not installed")
    bare = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-all", "--", "/bin/true"], capture_output=True)
    if bare.returncode != 0:
        pytest.skip("this host does not let bubblewrap create namespaces")
    assert BWRAP is not None, "bwrap works here but RewardSmith's bubblewrap command line does not"


def test_detection_picks_the_strongest_working_level() -> None:
    iso = detect_isolation()
    if BWRAP is not None:
        assert iso.level == "bubblewrap"
    elif try_namespaces() is not None:
        assert iso.level == "namespaces"
    else:
        assert iso.level == "rlimits"
    assert iso.describe().startswith("sandbox: ")


@needs_bwrap
def test_bubblewrap_view_of_the_machine(tmp_path: Path) -> None:
    """Run a plain Python script under the worker's wrapper and look around from inside."""
    assert BWRAP is not None
    (tmp_path / "host-secret").write_text("x")
    listener = socket.create_server(("127.0.0.1", 0))
    script = textwrap.dedent(f"""
        import json, os, socket
        out = {{"uid": os.getuid(), "root": sorted(os.listdir("/")), "cwd": os.getcwd()}}
        out["project_visible"] = os.path.exists({str(PROJECT_ROOT / 'envs' / 'fitness.py')!r})
        out["venv_visible"] = os.path.exists({sys.prefix!r})
        out["host_tmp_visible"] = os.path.exists({str(tmp_path / 'host-secret')!r})
        out["modules"] = sorted(os.listdir("/opt/rewardsmith"))
        out["package"] = sorted(os.listdir("/opt/rewardsmith/rewardsmith"))
        out["core"] = sorted(os.listdir("/opt/rewardsmith/rewardsmith/core"))
        try:
            open("/usr/pwned", "w")
            out["usr_writable"] = True
        except OSError:
            out["usr_writable"] = False
        open("/tmp/inside", "w").write("private")
        try:
            socket.create_connection(("127.0.0.1", {listener.getsockname()[1]}), timeout=1)
            out["net_errno"] = 0
        except OSError as e:
            out["net_errno"] = e.errno
        out["caps"] = [l for l in open("/proc/self/status").read().splitlines() if l.startswith("CapEff")] \\
            if os.path.exists("/proc/self/status") else []
        print(json.dumps(out))
    """)
    with listener:
        done = subprocess.run([*BWRAP.prefix, sys.executable, "-c", script], capture_output=True, text=True,
                              env=BWRAP.child_env(), timeout=30, check=True)
    seen = json.loads(done.stdout)
    assert seen["uid"] == 65534 or BWRAP.prefix.count("--unshare-user") == 0
    assert not seen["project_visible"] and not seen["host_tmp_visible"] and not seen["usr_writable"]
    assert seen["venv_visible"] and seen["modules"] == ["rewardsmith"]
    assert seen["package"] == ["__init__.py", "core", "sandboxes"]
    assert seen["core"] == ["__init__.py", "procs.py", "state.py"]
    # The host's listener on 127.0.0.1 is not there: the sandbox has its own, empty network namespace.
    assert seen["net_errno"] in (errno.ECONNREFUSED, errno.ENETUNREACH)
    assert not Path("/tmp/inside").exists() or Path("/tmp/inside").read_text() != "private"
    assert all(line.split()[-1] == "0000000000000000" for line in seen["caps"])


@pytest.mark.parametrize("level", ["detected", "rlimits"])
def test_timeout_kills_the_whole_worker_tree(level: str, spec: StateSpec) -> None:
    iso = detect_isolation() if level == "detected" else Isolation("rlimits")
    proc = RewardProcess(HANG_AT_CALL, spec, SandboxLimits(call_timeout_s=1.0), iso, allow_weak_isolation=True)
    proc.start()
    assert proc._proc is not None
    tree = {proc._proc.pid} | _descendants(proc._proc.pid)
    started = time.monotonic()
    with pytest.raises(CandidateFault) as info:
        proc.call(__import__("numpy").zeros((4, spec.size)), __import__("numpy").zeros((4, 1)))
    assert info.value.kind == "timeout"
    assert time.monotonic() - started < 4.0
    proc.close()
    deadline = time.monotonic() + 2.0
    while _alive(tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(tree) == set()


PARENT = """
import json, sys, time
import numpy as np
from rewardsmith.envs.tasks import load_task
from rewardsmith.sandboxes.client import RewardProcess
from rewardsmith.sandboxes.isolation import Isolation, detect_isolation
spec = load_task("cartpole").adapter.spec
iso = detect_isolation() if sys.argv[1] == "detected" else Isolation("rlimits")
proc = RewardProcess(sys.argv[2], spec, isolation=iso, allow_weak_isolation=True)
proc.start()
print(proc._proc.pid, flush=True)
proc._ctl[0] = 1
from rewardsmith.sandboxes import protocol
protocol.ring(proc._req, protocol.CALL)   # the worker now spins forever
time.sleep(60)
"""


@pytest.mark.parametrize("level", ["detected", "rlimits"])
def test_worker_dies_with_its_parent(level: str) -> None:
    """A spinning worker must not outlive a trainer that was killed outright (SIGKILL, no clean-up)."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, level, HANG_AT_CALL], stdout=subprocess.PIPE, text=True,
                              cwd=PROJECT_ROOT)
    try:
        assert parent.stdout is not None
        wrapper = int(parent.stdout.readline())
        time.sleep(0.3)
        tree = {wrapper} | _descendants(wrapper)
        assert _alive(tree)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5.0
        while _alive(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive(tree) == set()
    finally:
        if parent.poll() is None:
            parent.kill()
