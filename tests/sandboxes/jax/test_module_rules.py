"""The rules on a module's operations (``sandboxes/jax/module_rules.py``), on modules written as StableHLO text.

Each crafted module (:mod:`tests.sandboxes.jax.crafted`) is what a hostile export sandbox could send; the
accepted ones are the shapes JAX itself gives benign rewards (counted loops, branches on the platform that
compute the same, the composites ``jnp.arcsin`` and the like export as).
"""

from __future__ import annotations

import pytest

pytest.importorskip("jax")

from rewardsmith.sandboxes.jax.module_check import ModuleLimits, ModuleRejected, check_exported
from tests.sandboxes.jax import crafted


def _check(body: str, result: str = "%h", functions: str = "", limits: ModuleLimits | None = None) -> None:
    check_exported(crafted.module_bytes(body, result, functions), crafted.SPEC, 2, crafted.COMPONENTS,
                   limits=limits)


def _refused(body: str, result: str = "%h", functions: str = "", limits: ModuleLimits | None = None
             ) -> ModuleRejected:
    with pytest.raises(ModuleRejected) as info:
        _check(body, result, functions, limits)
    return info.value


@pytest.mark.parametrize(("body", "result"), [
    (crafted.LOOP_UNTIL_DATA, "%r"),
    (crafted.LOOP_TO_DATA_BOUND, "%r"),
    (crafted.counted_loop(2**31 - 1, step=2**30), "%r#1"),  # 0, 2**30, then -2**31: it wraps and never stops
], ids=["float_counter_to_data", "int_counter_to_data", "counter_wraps"])
def test_a_loop_that_stops_on_data_is_refused(body: str, result: str) -> None:
    rejected = _refused(body, result)
    assert rejected.reason == "loop" and "not fixed" in rejected.message


def test_counted_loops_are_accepted_up_to_a_trip_cap() -> None:
    _check(crafted.counted_loop(10), "%r#1")
    _check(crafted.nested_loops(10, 10), "%or#1")
    assert "10001 iterations" in _refused(crafted.counted_loop(10_001), "%r#1").message
    _check(crafted.counted_loop(100), "%r#1", limits=ModuleLimits(max_loop_trips=100))


def test_a_branch_on_data_is_refused() -> None:
    assert _refused(crafted.BRANCH_ON_DATA, "%r").reason == "control_flow"


@pytest.mark.parametrize(("body", "functions"), [
    (crafted.on_platform(crafted.SAME, crafted.DOUBLE), ""),
    (crafted.PLATFORM_PICKS_INDEX + crafted.on_platform(crafted.SAME, crafted.DOUBLE, "%index"), ""),
    (crafted.PLATFORM_AS_NUMBER, ""),
    (crafted.PLATFORM_IN_HELPER, crafted.HELPER),
], ids=["cuda_branch_differs", "through_a_picked_index", "index_as_a_number", "in_a_called_function"])
def test_a_module_whose_cuda_branch_differs_is_refused_on_a_cpu_machine(body: str, functions: str) -> None:
    rejected = _refused(body, "%r", functions)
    assert rejected.reason == "platforms" and "cuda" in rejected.message


def test_platform_branches_that_compute_the_same_are_accepted() -> None:
    _check(crafted.on_platform(crafted.SAME, crafted.SAME), "%r")
    _check(crafted.PLATFORM_PICKS_INDEX + crafted.on_platform(crafted.SAME, crafted.SAME, "%index"), "%r")


def test_random_numbers_are_refused() -> None:
    assert _refused(crafted.RANDOM, "%r").reason == "nondeterministic"


def test_composites_only_of_pure_chlo_math() -> None:
    _check(*crafted.composite("chlo.asin")[:1], "%r", crafted.composite("chlo.asin")[1])
    body, impl = crafted.composite("xla.python_callback")
    assert _refused(body, "%r", impl).reason == "op_not_allowed"


def test_size_caps_on_tensors_and_constants() -> None:
    _check(crafted.wide_rows(1 << 20), "%r")
    assert "per row" in _refused(crafted.wide_rows(1 << 21), "%r").message
    assert "constants" in _refused(crafted.BIG_CONSTANT, "%r").message
    _check(crafted.BIG_CONSTANT, "%r", limits=ModuleLimits(max_constant_elements=1 << 20))
