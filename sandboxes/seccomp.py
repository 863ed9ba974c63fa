"""A seccomp allow-list for the reward worker, installed through libseccomp (``libseccomp.so.2``).

The worker installs it after it has imported numpy (and ``numpy.linalg``/``random``/``fft``),
mapped its shared memory and limited its resources, and before it executes any candidate code. From
then on the process may only compute, allocate memory and talk over the pipes it already holds:
opening files, creating sockets, forking, executing programs, sending signals, changing resource
limits or tracing other processes all fail with ``EPERM`` (the candidate sees an ``OSError``).

libseccomp is bound with :mod:`ctypes` directly (six functions) instead of a PyPI wrapper: it is part
of every Debian/Ubuntu base system (apt depends on it), it resolves syscall names for the running
architecture, and loading it needs no ``ldconfig`` subprocess inside the sandbox.
"""

from __future__ import annotations

import ctypes
import errno
from functools import cache
from pathlib import Path

LIBRARY = "libseccomp.so.2"

SCMP_ACT_ALLOW = 0x7FFF0000


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


# What numpy arithmetic, Python's allocator and the worker's pipe protocol need once everything is
# imported. Found with ``strace -f`` on a worker running the probe over the corpus of good rewards
# (tests/sandboxes/corpus); tests/sandboxes/test_escapes.py shows what the filter blocks.
# Names the running kernel/architecture does not know (e.g. ``mmap2`` on x86_64) are skipped.
ALLOWED_SYSCALLS: tuple[str, ...] = (
    # the pipes to the parent (the shared memory is already mapped)
    "read", "write", "readv", "writev", "close",
    # memory: numpy's and Python's allocators
    "mmap", "munmap", "mremap", "brk", "madvise", "mprotect",
    # clocks (usually answered by the vDSO without a syscall) and identity
    "clock_gettime", "clock_getres", "gettimeofday", "getpid", "gettid",
    # locks inside the one thread there is (thread creation needs clone, which is not allowed)
    "futex", "sched_yield",
    # returning from a signal and masking signals; *installing* handlers is not allowed
    "rt_sigreturn", "rt_sigprocmask",
    "exit", "exit_group",
)


class SeccompUnavailable(Exception):
    """libseccomp or kernel support for seccomp filters is missing on this machine."""


def _lib() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
    except OSError as exc:
        raise SeccompUnavailable(f"{LIBRARY} not found (install the libseccomp2 package)") from exc
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.restype = ctypes.c_int
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.restype = ctypes.c_int
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.restype = None
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def kernel_supports_seccomp() -> bool:
    """True when the kernel reports seccomp for this process (``Seccomp:`` in /proc/self/status)."""
    try:
        return any(line.startswith("Seccomp:") for line in Path("/proc/self/status").read_text().splitlines())
    except OSError:
        return False


@cache
def availability() -> str | None:
    """``None`` when a filter can be installed here, else why not (one line, for the user)."""
    if not kernel_supports_seccomp():
        return "the kernel does not offer seccomp"
    try:
        _lib()
    except SeccompUnavailable as exc:
        return str(exc)
    return None


def install(extra_allowed: tuple[str, ...] = ()) -> int:
    """Install the allow-list filter on the calling process (irreversible); return the rule count.

    Everything not allowed fails with ``EPERM``. libseccomp sets ``no_new_privs`` itself, so the
    filter cannot be shed by executing a set-uid program, and it is inherited by any child.
    """
    lib = _lib()
    ctx = lib.seccomp_init(_errno_action(errno.EPERM))
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    try:
        rules = 0
        for name in (*ALLOWED_SYSCALLS, *extra_allowed):
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:  # not a syscall on this architecture
                continue
            rc = lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)
            if rc < 0:
                raise SeccompUnavailable(f"seccomp_rule_add({name}) failed: {errno.errorcode.get(-rc, rc)}")
            rules += 1
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            raise SeccompUnavailable(f"seccomp_load failed: {errno.errorcode.get(-rc, rc)}")
        return rules
    finally:
        lib.seccomp_release(ctx)
