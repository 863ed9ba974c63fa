"""The one allocation implementation: halving's rungs and ranking, the bandit's checks and budget, its state."""

from __future__ import annotations

import random

import pytest
from pydantic import TypeAdapter

from rewardsmith.envs.backends.allocation import (
    Allocation,
    AllocationState,
    Allocator,
    HalvingSchedule,
    Point,
    estimate,
)

ROLLOUT = 1000
FULL = 16 * ROLLOUT


def _curve(values: list[float]) -> tuple[Point, ...]:
    """One point per rollout, ten episodes each."""
    return tuple(Point(steps=(i + 1) * ROLLOUT, fitness=v, episodes=10) for i, v in enumerate(values))


def _run(allocator: Allocator, curves: dict[str, list[float]]) -> list[tuple[int, tuple[str, ...]]]:
    """Feed the curves rollout by rollout as a round's program does; the stops at each decision."""
    stops = []
    for r in range(1, FULL // ROLLOUT):
        steps = r * ROLLOUT
        if allocator.due(steps):
            decision = allocator.decide(steps, {k: _curve(curves[k][:r]) for k in allocator.alive})
            stops.append((steps, decision.stopped))
    return stops


def test_the_schedule_plans_rungs_and_what_they_spend() -> None:
    schedule = HalvingSchedule(eta=4, first_rung=1 / 8)
    assert schedule.budgets(FULL, ROLLOUT) == (2 * ROLLOUT, 8 * ROLLOUT, FULL)
    # 16 arms to 1/8, 4 on to 1/2, 1 to the end: what 4 arms at the full budget spend
    assert schedule.spend(16, FULL, ROLLOUT) == 16 * 2 * ROLLOUT + 4 * 6 * ROLLOUT + 8 * ROLLOUT == 4 * FULL
    with pytest.raises(ValueError, match="at least 2"):
        HalvingSchedule(eta=1, first_rung=0.5)


def test_an_estimate_reads_the_recent_curve_not_its_last_point() -> None:
    curve = _curve([1, 1, 1, 1, 5, 6, 7, 30])  # a lucky last rollout
    e = estimate(curve, 8 * ROLLOUT, window=0.5)
    assert e.mean == pytest.approx((5 + 6 + 7 + 30) / 4) and e.points == 4
    assert e.slope > 0 and e.stderr < float("inf")
    assert estimate((), 1000, 0.5).level is None
    few = estimate(_curve([2.0, 4.0]), 2 * ROLLOUT, 0.5)  # too few points for a line: its bounds never stop it
    assert few.level == 4.0 and few.stderr == float("inf")


def test_halving_cuts_at_rung_ends_only_keeping_the_top_quarter_by_recent_fitness() -> None:
    allocation = Allocation(policy="halving", schedule=HalvingSchedule(eta=4, first_rung=1 / 8))
    curves = {f"a{i:02d}": [float(i)] * 16 for i in range(16)}
    curves["a00"] = [0.0, 99.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0] + [50.0] * 8  # one lucky rollout, then nothing
    allocator = Allocator(allocation, list(curves), FULL, ROLLOUT)
    stops = _run(allocator, curves)
    assert [s for s, _ in stops] == [2 * ROLLOUT, 8 * ROLLOUT]
    first, second = allocator.state.decisions
    # at 1/8 the recent half of the curve is its last rollout: the lucky one gets through ...
    assert first.continued == ("a00", "a13", "a14", "a15") and len(first.stopped) == 12
    assert first.fitness["a00"] == 99.0 and first.fitness["a12"] == 12.0
    # ... and at 1/2 it is four rollouts of nothing
    assert second.fitness["a00"] == 0.0 and second.continued == ("a15",)
    assert "ranked below the top 4 of 16" in first.reasons["a01"]
    assert allocator.state.spent + len(allocator.alive) * (FULL - allocator.state.at) == allocator.total == 4 * FULL


def _noisy(level: float, slope: float, seed: int, noise: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [level + slope * r + rng.gauss(0, noise) for r in range(16)]


def test_the_bandit_stops_a_clear_loser_only_after_two_failed_checks_and_spares_a_fast_riser() -> None:
    allocation = Allocation(policy="bandit", schedule=HalvingSchedule(eta=2, first_rung=1 / 2))
    curves = {"best": _noisy(100, 0, 1), "loser": _noisy(10, 0, 2), "riser": _noisy(40, 9, 3),
              "close": _noisy(99, 0, 4)}
    allocator = Allocator(allocation, list(curves), FULL, ROLLOUT)
    for r in range(1, 8):  # before the rung at 8 rollouts: only the bounds can stop an arm
        allocator.decide(r * ROLLOUT, {k: _curve(curves[k][:r]) for k in allocator.alive})
    decisions = allocator.state.decisions
    stopped_at = {k: d.steps for d in decisions for k in d.stopped}
    assert set(stopped_at) == {"loser"}  # the riser is behind but climbs; "close" overlaps the best
    checks = [d.steps for d in decisions if d.steps < stopped_at["loser"] and "loser" in d.entered]
    assert len(checks) >= 2 and "failed" not in decisions[-1].reasons.get("loser", "")
    assert "at 2 checks in a row" in next(d.reasons["loser"] for d in decisions if "loser" in d.stopped)


def test_the_bandit_keeps_more_than_halving_at_a_rung_with_the_budget_its_early_stops_freed() -> None:
    schedule = HalvingSchedule(eta=4, first_rung=1 / 2)
    curves = {f"bad{i}": _noisy(0, 0, i, 0.5) for i in range(5)} | {"good1": _noisy(50, 0, 10), "good2": _noisy(50, 0, 11),
                                                                   "good3": _noisy(49, 0, 12)}
    halving = Allocator(Allocation(policy="halving", schedule=schedule), list(curves), FULL, ROLLOUT)
    bandit = Allocator(Allocation(policy="bandit", schedule=schedule), list(curves), FULL, ROLLOUT)
    _run(halving, curves)
    _run(bandit, curves)
    assert len(halving.alive) == 2
    at_rung = next(d for d in bandit.state.decisions if d.steps == FULL // 2)
    assert at_rung.continued == ("good1", "good2", "good3")  # the bad five left early: room for all three good ones
    assert all(d.steps < FULL // 2 for d in bandit.state.decisions for k in d.stopped if k.startswith("bad"))
    spent = bandit.state.spent + len(bandit.alive) * (FULL - bandit.state.at)
    assert spent <= bandit.total


@pytest.mark.parametrize("seed", range(6))
def test_neither_policy_spends_past_the_plan(seed: int) -> None:
    rng = random.Random(seed)
    curves = {f"a{i}": _noisy(rng.uniform(0, 100), rng.uniform(-3, 6), seed * 100 + i, rng.uniform(0.5, 20))
              for i in range(rng.choice([5, 12, 16]))}
    for policy in ("halving", "bandit"):
        allocator = Allocator(Allocation(policy=policy, schedule=HalvingSchedule(eta=rng.choice([2, 3, 4]),
                                                                                first_rung=rng.choice([0.1, 0.2, 0.3]))),
                              list(curves), FULL, ROLLOUT)
        _run(allocator, curves)
        assert allocator.alive
        assert allocator.state.spent + len(allocator.alive) * (FULL - allocator.state.at) <= allocator.total


def test_a_resumed_allocator_decides_as_the_uninterrupted_one() -> None:
    allocation = Allocation(policy="bandit", schedule=HalvingSchedule(eta=4, first_rung=1 / 8))
    curves = {f"a{i}": _noisy(i * 7.0, i % 3, i, 3.0) for i in range(16)}
    whole = Allocator(allocation, list(curves), FULL, ROLLOUT)
    _run(whole, curves)
    half = Allocator(allocation, list(curves), FULL, ROLLOUT)
    for r in range(1, 6):
        half.decide(r * ROLLOUT, {k: _curve(curves[k][:r]) for k in half.alive})
    saved = TypeAdapter(AllocationState).dump_json(half.state)  # what a segment's end keeps
    resumed = Allocator(allocation, list(curves), FULL, ROLLOUT, TypeAdapter(AllocationState).validate_json(saved))
    for r in range(6, 16):
        resumed.decide(r * ROLLOUT, {k: _curve(curves[k][:r]) for k in resumed.alive})
    assert resumed.state == whole.state
