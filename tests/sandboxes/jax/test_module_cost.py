"""A module's cost at the training batch size, in the checker child (``sandboxes/jax/module_cost.py`` through
``ModuleChecker``), and the child's memory cap: crafted modules (:mod:`tests.sandboxes.jax.crafted`) that are
slow, that never end at that size, that need too much memory, or whose shape assertion fails only there.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

from rewardsmith.sandboxes.jax.module_check import CallInputs, ModuleChecker, ModuleLimits
from tests.sandboxes.jax import crafted
from tests.sandboxes.jax.crafted import COMPONENTS, SPEC

RNG = np.random.default_rng(0)
STATES, ACTIONS = RNG.uniform(0.0, 1.0, size=(300, SPEC.size)), RNG.uniform(-1, 1, size=(300, SPEC.action.dim))


def _inputs(batch: int) -> CallInputs:
    return CallInputs(STATES, ACTIONS, batch)


def test_the_checker_bounds_a_module_at_the_training_batch_size_and_dies_cleanly_at_its_memory_cap() -> None:
    # One child (a child costs a second and a half to start) until the last module runs it out of memory;
    # the limits travel with each check, except the child's address-space headroom, fixed when it starts.
    limits = ModuleLimits(memory_mb=1024)
    plain = crafted.module_bytes("")
    with ModuleChecker(limits) as checker:
        ok = checker.check(plain, SPEC, COMPONENTS, {}, _inputs(2048))
        assert ok.accepted, ok.message
        assert ok.total is not None and ok.total.shape == (300,)
        np.testing.assert_allclose(ok.total, STATES[:, 0], rtol=1e-6)  # its total is the height: every state, once
        assert ok.call_ms is not None and ok.reference_ms is not None and ok.call_ms > 0
        assert checker._proc is not None
        pid = checker._proc.pid
        limits_text = Path(f"/proc/{pid}/limits").read_text()
        soft = next(line for line in limits_text.splitlines() if line.startswith("Max address space")).split()[3]
        assert soft.isdigit() and int(soft) < 16 << 30, limits_text

        # A shape assertion that holds at the probe's batch size and fails at the training one; its text is the
        # module author's, so the message is made safe to print.
        assertion = crafted.module_bytes(crafted.assert_batch_below(1000))
        assert checker.check(assertion, SPEC, COMPONENTS, {}, _inputs(64)).accepted
        failed = checker.check(assertion, SPEC, COMPONENTS, {}, _inputs(2048))
        assert (failed.accepted, failed.reason) == (False, "call_failed"), failed
        assert "batch 2048" in failed.message and "\\x1b]52" in failed.message and "\\u202e" in failed.message
        assert not any(c in failed.message for c in "\x1b\x07\u202e")

        slow = checker.check(crafted.module_bytes(crafted.counted_loop(10_000), "%r#1"), SPEC, COMPONENTS, {},
                             _inputs(2048))
        assert (slow.accepted, slow.reason) == (False, "slow") and "the budget is" in slow.message, slow

        bomb = crafted.module_bytes(crafted.wide_rows(1 << 20), "%r")  # 8 GiB at 1024 states: refused unrun
        refused = checker.check(bomb, SPEC, COMPONENTS, {}, _inputs(1024))
        assert (refused.accepted, refused.reason) == (False, "memory") and "MB" in refused.message, refused
        assert checker._proc is not None and checker._proc.pid == pid  # all refused without losing the child

        # The memory analysis told to let 4 GiB through (512 states): the child's address-space cap stops it,
        # the module is refused, the child ends with that verdict and the next check gets a fresh one.
        checker.limits = dataclasses.replace(limits, max_call_memory_mb=1 << 20)
        oom = checker.check(bomb, SPEC, COMPONENTS, {}, _inputs(512))
        assert (oom.accepted, oom.reason) == (False, "memory") and "out of memory" in oom.message, oom
        assert checker._proc is None
        assert checker.check(plain, SPEC, COMPONENTS, {}, _inputs(8)).accepted


@pytest.mark.slow
def test_a_call_still_running_past_its_bound_is_killed_and_the_next_check_gets_a_fresh_child() -> None:
    with ModuleChecker(ModuleLimits(call_timeout_s=1.0)) as checker:
        endless = checker.check(crafted.module_bytes(crafted.nested_loops(10_000, 10_000), "%or#1"), SPEC,
                                COMPONENTS, {}, _inputs(2048))
        assert (endless.accepted, endless.reason) == (False, "slow") and "still running" in endless.message
        assert checker._proc is None
        assert checker.check(crafted.module_bytes(""), SPEC, COMPONENTS, {}, _inputs(8)).accepted
