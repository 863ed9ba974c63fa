"""Allocation inside the jax round's program: stopped arms keep their partial training, survivors train on as if
alone (shrunk or frozen in place), and a round killed mid-program continues from its last finished segment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from rewardsmith.envs.backends.allocation import Allocation, HalvingSchedule  # noqa: E402
from rewardsmith.envs.backends.jax.driver import Arm, RoundConfig, RoundResult, train_round  # noqa: E402
from rewardsmith.envs.backends.jax.ppo import PPOConfig  # noqa: E402
from rewardsmith.envs.backends.jax.registry import make_jax_env  # noqa: E402
from rewardsmith.envs.backends.jax.segments import SegmentFile  # noqa: E402

ROLLOUT = 2 * 16  # n_envs × n_steps
HALVING = Allocation(policy="halving", schedule=HalvingSchedule(eta=2, first_rung=0.25))  # rungs at 2 and 4 rollouts


def _upright(weight: float) -> Any:
    def reward(params: dict[str, Any], state: dict[str, Any], action: Any) -> tuple[Any, dict[str, Any]]:
        up = weight * jnp.exp(-jnp.square(state["pole_angle"] / 0.1)) + 0.0 * action[:, 0]
        return up, {"up": up}
    return reward


ARMS = [Arm("human", "env")] + [Arm(f"c{i}", "candidate", _upright(w)) for i, w in enumerate((1.0, -1.0, 0.5, 2.0))]


def _config(shrink: str) -> RoundConfig:
    return RoundConfig(steps=8 * ROLLOUT, n_envs=2, seed=0, rollouts_per_call=2, shrink=shrink,  # type: ignore[arg-type]
                       ppo=PPOConfig(n_steps=16, batch_size=32, n_epochs=1, hidden=(8,)))


class Killed(Exception):
    """What a kill -9 does to the job: nothing after this point runs."""


def _round(shrink: str, segments: SegmentFile | None = None, kill_after: int | None = None) -> RoundResult:
    calls = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        if kill_after is not None and len(calls) == kill_after:
            raise Killed

    return train_round(make_jax_env("CartPole-v1"), ARMS, _config(shrink), "balance_steps", progress=progress,
                       allocation=HALVING, segments=segments)


@pytest.mark.slow  # two rounds, four compiles (~60 s on the loaded 2-core machine)
def test_a_killed_round_continues_from_its_last_segment_with_its_decisions_and_stopped_arms(tmp_path: Path) -> None:
    segments = SegmentFile(tmp_path / "carry.npz", "job-1")
    with pytest.raises(Killed):
        _round("never", segments, kill_after=2)  # killed after its 2nd segment (4 rollouts: both rungs decided)
    assert segments.path.is_file()
    assert SegmentFile(segments.path, "another job").load() is None  # another job's file is never resumed from

    result = _round("never", segments)
    record = result.allocation
    assert record is not None and record.budgets == (2 * ROLLOUT, 4 * ROLLOUT, 8 * ROLLOUT)
    assert [(d.steps, len(d.entered), len(d.continued)) for d in record.decisions] == [(64, 4, 2), (128, 2, 1)]
    arms = {a.name: a for a in result.arms}
    (winner,) = record.decisions[1].continued
    for name in ("c0", "c1", "c2", "c3"):
        arm = arms[name]
        stop = next((d.steps for d in record.decisions if name in d.stopped), None)
        assert arm.stopped == (stop is not None) and arm.status == "ok"
        assert arm.steps_done == (stop or 8 * ROLLOUT) and len(arm.checkpoints) == arm.steps_done // ROLLOUT
        assert arm.resumed_from_steps == min(arm.steps_done, 4 * ROLLOUT)  # nothing before the kill trained again
        assert arm.params["params/pi_out/kernel"].shape == (8, 2)
    assert arms[winner].steps_done == 8 * ROLLOUT and arms["human"].steps_done == 8 * ROLLOUT  # baselines: all of it
    # halving ranked the rung's recent training fitness: the winner had the best of those left at rung 2
    assert record.decisions[1].fitness[winner] == max(v for v in record.decisions[1].fitness.values() if v is not None)
    # the stopped arms did not run in the program after their stop... but, frozen in place, their slots did
    assert result.env_steps == 5 * 8 * ROLLOUT


@pytest.mark.slow  # three rounds, six compiles (~100 s on the loaded 2-core machine)
def test_survivors_train_as_if_alone_whether_the_program_shrinks_or_freezes_the_stopped_arms() -> None:
    shrunk, frozen = _round("always"), _round("never")
    plain = train_round(make_jax_env("CartPole-v1"), ARMS, _config("never"), "balance_steps")
    assert shrunk.compiles == 3 and frozen.compiles == 1  # the full program, then one per rung's cut
    assert shrunk.allocation == frozen.allocation
    assert shrunk.env_steps == 5 * 2 * ROLLOUT + 3 * 2 * ROLLOUT + 2 * 4 * ROLLOUT < frozen.env_steps
    for a, b, c in zip(shrunk.arms, frozen.arms, plain.arms, strict=True):
        assert (a.name, a.steps_done, a.stopped) == (b.name, b.steps_done, b.stopped)
        # common random numbers: an arm's training never depends on which others share its program
        for x, y, z in zip(a.checkpoints, b.checkpoints, c.checkpoints, strict=False):
            assert x.episodes == y.episodes == z.episodes
            assert x.episode_length == pytest.approx(y.episode_length) == pytest.approx(z.episode_length)
        if not a.stopped:
            np.testing.assert_allclose(a.params["params/pi_out/kernel"], c.params["params/pi_out/kernel"], rtol=1e-3,
                                       atol=1e-5)


def _carry(k: int, fill: float) -> Any:
    from rewardsmith.envs.backends.jax.program import Carry

    arr = lambda *shape: np.full(shape, fill, np.float32)  # noqa: E731
    return Carry(params={"w": arr(k, 3, 2), "b": arr(k, 2)}, opt=({"mu": arr(k, 3)}, np.full(k, 7, np.int32)),
                 env=arr(k, 2, 4), obs=arr(k, 2, 4), key=np.full((1, 2), 5, np.uint32), alive=np.ones(k, bool),
                 streak=np.zeros(k, np.int32), nonfinite=np.full(k, 2, np.int32), died_at=np.full(k, -1, np.int32),
                 timestep=np.int32(96), ep_len=np.zeros((k, 2), np.int32), env_ret=arr(k, 2), total_ret=arr(k, 2),
                 comp_ret=arr(k, 1, 2), fit={}, first=np.ones((k, 2), bool))


def test_a_segment_keeps_the_carried_state_and_the_ledger_and_refuses_what_does_not_fit(tmp_path: Path) -> None:
    from rewardsmith.envs.backends.allocation import AllocationState
    from rewardsmith.envs.backends.jax.arms import Window
    from rewardsmith.envs.backends.jax.ledger import Ledger, Left

    ledger = Ledger(ARMS[:3], [("env_reward",), ("up",), ("up",)], n_rollouts=4, rollout_steps=ROLLOUT)
    window = Window(*(np.full((2, 3), 2.0) for _ in range(6)), np.ones((2, 3, 1)), np.ones((2, 3, 1)))
    ledger.record(window, np.ones((2, 3), bool), {"entropy": np.full((2, 3), 0.5)}, members=(0, 1, 2))
    ledger.leave(2, Left({"params/w": np.ones(3)}, nonfinite=1, died_at=-1, alive=True, steps=2 * ROLLOUT))
    state = AllocationState(alive=("c0",), at=2 * ROLLOUT, spent=4 * ROLLOUT, strikes={"c0": 1})
    segments = SegmentFile(tmp_path / "carry.npz", "job")
    segments.save(_carry(2, 3.0), ledger, (0, 1), state)

    saved = segments.load()
    assert saved is not None and saved.members == (0, 1) and saved.allocation == state
    carry = saved.into(_carry(2, 0.0))
    assert carry is not None and float(carry.params["w"][1, 2, 0]) == 3.0 and int(carry.timestep) == 96
    assert float(carry.env[0, 0, 0]) == 0.0  # the envs are not carried: a resumed round starts fresh episodes
    assert saved.into(_carry(3, 0.0)) is None  # another program's shapes

    again = Ledger(ARMS[:3], [("env_reward",), ("up",), ("up",)], n_rollouts=4, rollout_steps=ROLLOUT)
    again.restore(saved.ledger_arrays, saved.ledger_meta)
    assert (again.done, again.resumed_at, set(again.left)) == (2, 2, {2})
    assert again.curve(1) == ledger.curve(1) and len(again.curve(1)) == 2
    np.testing.assert_array_equal(again.left[2].params["params/w"], np.ones(3))
    assert SegmentFile(segments.path, "another job").load() is None
    segments.path.write_bytes(b"half a file")  # never: the file is written atomically; but a torn disk is refused
    assert segments.load() is None
