"""Which operating-system isolation the reward workers get on this machine.

Detected once per process by *trying* each mechanism, strongest first, so the level shown to the user
is the one actually in force:

1. ``bubblewrap`` — the worker runs in new user, pid, network, ipc, uts and cgroup namespaces as
   uid 65534, sees only read-only binds of the system libraries, the Python installation and the two
   project modules it needs (``sandboxes/``, ``core/state.py``, ``core/procs.py``), a private ``/tmp`` and a minimal
   ``/dev``; it dies with its parent. No network, no project files, no run directories.
2. ``namespaces`` (``unshare``) — new network, ipc and uts namespaces only: no network, but the
   file system is the host's (seccomp is then what keeps files out of reach).
3. ``rlimits`` — a separate process with resource limits and parent-enforced timeouts only.

Independently, the worker installs a seccomp allow-list (:mod:`sandboxes.seccomp`) when libseccomp
and the kernel offer it, and always sets rlimits. :meth:`Isolation.describe` is the honest one-line
summary shown at start-up and recorded in the run; :func:`isolation_level` the short form.

Only the full level (bubblewrap + seccomp + rlimits) runs candidate code by default. Below it the
static check is all that stands between a candidate and the user's files (a numpy memory-reinterpretation
escape once got through it), so :func:`require_full_isolation` refuses with a :class:`SandboxError`
unless the caller opts in (``allow_weak_isolation=True``, or ``REWARDSMITH_ALLOW_WEAK_SANDBOX=1`` in the
environment, which is how the CLI's ``--allow-weak-sandbox`` reaches job processes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import rewardsmith
from rewardsmith.core.errors import SandboxError
from rewardsmith.sandboxes import seccomp

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The folder holding ``sandboxes/`` and ``core/``: the checkout's root, or ``site-packages/rewardsmith``."""
PACKAGE_INIT = Path(rewardsmith.__file__).resolve()
"""``rewardsmith/__init__.py``: the one file of the package above ``sandboxes/`` that the worker imports."""
IMPORT_ROOT = PACKAGE_INIT.parent.parent
"""The folder holding the ``rewardsmith`` package: the checkout's root, or ``site-packages``."""
SANDBOX_ROOT = "/opt/rewardsmith"
"""Where the worker's own modules appear inside a bubblewrap sandbox (as ``rewardsmith.sandboxes``, ...)."""

Level = Literal["bubblewrap", "namespaces", "rlimits"]
_LABEL = {"bubblewrap": "bubblewrap", "namespaces": "namespaces (no network)", "rlimits": "rlimits only"}
_PROBE_TIMEOUT_S = 10.0
ALLOW_WEAK_ENV = "REWARDSMITH_ALLOW_WEAK_SANDBOX"
"""Set to ``1`` to let candidate code run below the full isolation level (the CLI's ``--allow-weak-sandbox``)."""


@dataclass(frozen=True)
class Isolation:
    """How worker processes are started and confined.

    Attributes:
        level: the process-level wrapper in force.
        prefix: the wrapper's command line, put before the worker's.
        seccomp: whether the worker installs the seccomp allow-list before loading candidate code.
        module_root: the directory that holds the ``rewardsmith`` package as the worker sees it.
        note: why a stronger layer is missing, shown to the user (empty when nothing is missing).
    """

    level: Level
    prefix: tuple[str, ...] = ()
    seccomp: bool = False
    module_root: str = str(IMPORT_ROOT)
    note: str = ""

    @property
    def in_pid_namespace(self) -> bool:
        """The worker's parent is then the wrapper, not the process that started it."""
        return self.level == "bubblewrap"

    def wrap(self, argv: list[str]) -> list[str]:
        return [*self.prefix, *argv]

    def child_env(self) -> dict[str, str]:
        """A minimal, explicit environment: no secrets, single-threaded math libraries."""
        return {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
                "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8",
                # The worker imports our own (trusted) modules from here, nothing else of the project.
                "PYTHONPATH": self.module_root}

    @property
    def layers(self) -> tuple[str, ...]:
        out = [] if self.level == "rlimits" else [_LABEL[self.level]]
        if self.seccomp:
            out.append("seccomp")
        out.append("rlimits")
        return tuple(out)

    @property
    def full(self) -> bool:
        """Whether this is the full level: bubblewrap and seccomp (rlimits are always on)."""
        return self.level == "bubblewrap" and self.seccomp

    @property
    def label(self) -> str:
        """The level as a short string for records: ``bubblewrap+seccomp+rlimits``, ``rlimits``, ..."""
        return "+".join(self.layers).replace("namespaces (no network)", "namespaces")

    def missing(self) -> tuple[str, ...]:
        """What the full level has and this one lacks, in words."""
        out = []
        if self.level != "bubblewrap":
            out.append("bubblewrap (file-system, user and pid isolation)")
        if not self.seccomp:
            out.append("seccomp (the system-call filter)")
        return tuple(out)

    def describe(self) -> str:
        """E.g. ``sandbox: bubblewrap + seccomp + rlimits`` or ``sandbox: rlimits only — install bubblewrap…``."""
        text = "sandbox: " + (" + ".join(self.layers) if self.level != "rlimits" or self.seccomp else "rlimits only")
        return f"{text} — {self.note}" if self.note else text


def _run_ok(argv: list[str]) -> bool:
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=_PROBE_TIMEOUT_S,
                              env={"PATH": "/usr/bin:/bin"}, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _system_binds() -> list[str]:
    args: list[str] = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        p = Path(top)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            args += ["--ro-bind", top, top]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def _python_binds() -> list[str]:
    """The interpreter, its standard library and the environment holding numpy, read-only.

    An installed RewardSmith lies inside that environment; its folder is then covered by an empty
    tmpfs, so the worker sees only what :func:`_project_binds` puts back."""
    import numpy

    dirs = {Path(sys.base_prefix), Path(sys.base_exec_prefix), Path(sys.prefix), Path(sys.exec_prefix),
            Path(numpy.__file__).parent.parent}
    exe = Path(sys.executable)
    dirs.add(exe.parent)
    dirs.add(exe.resolve().parent.parent)
    keep: list[Path] = []
    for d in sorted({p.resolve() for p in dirs} | dirs, key=lambda p: len(p.parts)):
        if d == Path("/") or d == PROJECT_ROOT or not d.exists():
            continue
        if any(d.is_relative_to(k) for k in keep) or d.is_relative_to("/usr"):
            continue
        keep.append(d)
    args: list[str] = []
    for d in keep:
        args += ["--ro-bind", str(d), str(d)]
    if any(PROJECT_ROOT.is_relative_to(k) for k in keep) or PROJECT_ROOT.is_relative_to("/usr"):
        args += ["--tmpfs", str(PROJECT_ROOT)]
    return args


def _project_binds() -> list[str]:
    """Only what the worker imports: ``rewardsmith/__init__.py``, ``sandboxes/``, ``core/state.py`` and
    ``core/procs.py`` (never tasks, fitness functions or the rest of ``core``)."""
    pkg = f"{SANDBOX_ROOT}/rewardsmith"
    binds = ["--ro-bind", str(PACKAGE_INIT), f"{pkg}/__init__.py",
             "--ro-bind", str(PROJECT_ROOT / "sandboxes"), f"{pkg}/sandboxes"]
    for name in ("__init__.py", "state.py", "procs.py"):
        binds += ["--ro-bind", str(PROJECT_ROOT / "core" / name), f"{pkg}/core/{name}"]
    return binds


def bubblewrap_prefix(user_namespace: bool = True) -> tuple[str, ...]:
    """The ``bwrap`` command line for a worker (``user_namespace=False`` for hosts that forbid them)."""
    bwrap = shutil.which("bwrap") or "bwrap"
    ns = ["--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534"] if user_namespace else \
        ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    # No --new-session: the client already starts the wrapper in a new session without a controlling
    # terminal (so TIOCSTI has nothing to inject into), and keeping one process group lets a single
    # killpg() reach the wrapper and the worker at once. --as-pid-1: the worker (which never forks)
    # is the namespace's init itself; bwrap's own reaper would be orphaned at exit and left a zombie
    # wherever the host's init does not reap (containers, some VMs).
    # The private /tmp comes before the binds: a virtualenv or checkout under /tmp (a CI clone) is then
    # bound on top of it instead of being hidden by it.
    return (bwrap, *ns, "--as-pid-1", "--die-with-parent", "--hostname", "sandbox",
            "--dev", "/dev", "--tmpfs", "/tmp",
            *_system_binds(), *_python_binds(), *_project_binds(), "--chdir", "/tmp", "--")


def try_bubblewrap() -> Isolation | None:
    """A working bubblewrap isolation, or ``None`` when bwrap is missing or cannot create namespaces."""
    if shutil.which("bwrap") is None:
        return None
    for userns in (True, False):
        prefix = bubblewrap_prefix(userns)
        if _run_ok([*prefix, sys.executable, "-S", "-c", ""]):
            return Isolation("bubblewrap", prefix, module_root=SANDBOX_ROOT)
    return None


def try_namespaces() -> Isolation | None:
    """New network/ipc/uts namespaces through ``unshare`` (a user namespace too when not root)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    prefix = (unshare, "--net", "--ipc", "--uts", *(() if os.geteuid() == 0 else ("--user", "--map-root-user")), "--")
    if _run_ok([*prefix, sys.executable, "-S", "-c", ""]):
        return Isolation("namespaces", prefix)
    return None


def with_seccomp(isolation: Isolation) -> Isolation:
    """``isolation`` with the seccomp layer when this machine offers it (else a note saying why not)."""
    missing = seccomp.availability()
    if missing is None:
        return Isolation(isolation.level, isolation.prefix, True, isolation.module_root, isolation.note)
    note = "; ".join(n for n in (isolation.note, f"no seccomp: {missing}") if n)
    return Isolation(isolation.level, isolation.prefix, False, isolation.module_root, note)


@cache
def detect_isolation() -> Isolation:
    """The strongest isolation that works here (tried once per process), with seccomp when available."""
    best = try_bubblewrap()
    if best is None:
        best = try_namespaces()
        if best is not None:
            best = Isolation(best.level, best.prefix, note="install bubblewrap for file-system isolation")
    if best is None:
        best = Isolation("rlimits", note="install bubblewrap for isolation")
    return with_seccomp(best)


def weak_isolation_allowed(allow_weak_isolation: bool = False) -> bool:
    """The explicit opt-in: the argument, or ``REWARDSMITH_ALLOW_WEAK_SANDBOX=1`` in the environment."""
    return allow_weak_isolation or os.environ.get(ALLOW_WEAK_ENV, "").strip() == "1"


def require_full_isolation(isolation: Isolation | None = None, allow_weak_isolation: bool = False) -> Isolation:
    """``isolation`` (default: the detected one) if it may run candidate code; else a one-line SandboxError.

    Below the full level candidate code runs only with the explicit opt-in (see :func:`weak_isolation_allowed`).
    """
    iso = isolation if isolation is not None else detect_isolation()
    if iso.full or weak_isolation_allowed(allow_weak_isolation):
        return iso
    notes = [n for n in iso.note.split("; ") if n and not n.startswith("install bubblewrap")]
    why = f" ({'; '.join(notes)})" if notes else ""
    raise SandboxError(
        f"refusing to run candidate code under weak isolation: found {iso.label}, missing "
        f"{' and '.join(iso.missing())}{why}; install bubblewrap and libseccomp (scripts/setup-system.sh), "
        f"or pass --allow-weak-sandbox ({ALLOW_WEAK_ENV}=1) to run it anyway")


def isolation_level() -> str:
    """The level reward workers get on this machine, as a short string to record with every run."""
    return detect_isolation().label
