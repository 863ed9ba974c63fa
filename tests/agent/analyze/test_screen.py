"""The pre-training screen: stored trajectories re-scored by a candidate in the sandbox, ranked against fitness."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rewardsmith.agent.analyze.screen import earlier_rollouts, screen
from rewardsmith.agent.records.results import Candidate
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.envs.adapters.classic import MountainCarContinuousAdapter
from rewardsmith.envs.fitness import Episode
from rewardsmith.envs.outcomes import Rollout, save_rollouts

SPEC = MountainCarContinuousAdapter.spec
ALIGNED = '''import numpy as np

W_POS = 1.0


def compute_reward(state, action):
    height = W_POS * (state.position + 1.2)
    return height, {"height": height}
'''
REVERSED = ALIGNED.replace("W_POS = 1.0", "W_POS = -1.0")
CONSTANT = ALIGNED.replace("(state.position + 1.2)", "(state.position * 0.0 + 1.0)")


def _rollouts(n: int = 8) -> list[Rollout]:
    """Trajectories that climb higher for higher fitness (fitness = highest position reached)."""
    out = []
    for i in range(n):
        pos = np.linspace(-0.5, -0.5 + 0.1 * (i + 1), 50)
        states = np.stack([pos, np.full(50, 0.01), np.sin(3 * pos)], axis=1).astype(np.float32)
        out.append(Rollout(seed=i, fitness=float(pos.max()), states=states, actions=np.zeros((50, 1), np.float32)))
    return out


def test_a_reward_that_ranks_with_the_fitness_passes_and_one_against_it_is_skipped() -> None:
    rollouts = _rollouts()
    good = screen("r02c01", ALIGNED, SPEC, rollouts, sources=2)
    bad = screen("r02c02", REVERSED, SPEC, rollouts, sources=2)
    assert good.status == "pass" and good.spearman is not None and good.spearman > 0.99 and not good.skip
    assert bad.status == "skip" and bad.skip and bad.spearman is not None and bad.spearman < -0.99
    assert bad.trajectories == 8 and "against their fitness" in bad.reason


def test_a_reward_that_cannot_rank_is_skipped_and_too_little_data_is_no_verdict() -> None:
    assert screen("r02c03", CONSTANT, SPEC, _rollouts(), sources=1).status == "skip"
    few = screen("r02c04", ALIGNED, SPEC, _rollouts(3), sources=1)
    assert few.status == "no_data" and not few.skip


def test_a_reward_that_raises_on_stored_states_is_a_fault_not_a_skip() -> None:
    broken = ALIGNED.replace("height = W_POS", "height = state.no_such_field * W_POS")
    verdict = screen("r02c05", broken, SPEC, _rollouts(), sources=1)
    assert verdict.status == "fault" and not verdict.skip and "no_such_field" in verdict.reason


def test_rollouts_round_trip_through_the_store(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    files = store.files(1, 1)
    rows = [np.array([-0.5 + 0.01 * t, 0.01, 0.0]) for t in range(20)]
    ep = Episode.from_rows(SPEC, rows, [np.array([0.5])] * 20, [0.0] * 20, False, True)
    save_rollouts(files.rollouts, SPEC, [(7, 0.25, ep), (8, 0.5, ep)])
    got = store.load_rollouts(files)
    assert [r.seed for r in got] == [7, 8] and [r.fitness for r in got] == [0.25, 0.5]
    assert got[0].states.shape == (20, 3) and got[0].states.dtype == np.float32
    np.testing.assert_allclose(got[0].states[:, 0], [r[0] for r in rows], rtol=1e-6)
    assert store.load_rollouts(store.files(1, 2)) == ()


def test_earlier_rollouts_come_from_earlier_rounds_and_baselines(tmp_path: Path) -> None:
    from rewardsmith.sandboxes.validate import ValidationReport

    store = RunStore(tmp_path)
    rows = [np.array([-0.5, 0.0, 0.0])] * 5
    ep = Episode.from_rows(SPEC, rows, [np.array([0.0])] * 5, [0.0] * 5, False, True)
    for rnd in (1, 2):
        cand = Candidate(id=f"r0{rnd}c01", round=rnd, index=1, code="x", origin="test")
        store.save_sampled(cand, "p", "r")
        store.save_validation(cand, ValidationReport(accepted=True, stage="probe", reason="ok", message=""))
        save_rollouts(store.files_of(cand).rollouts, SPEC, [(rnd, float(rnd), ep)])
    save_rollouts(store.baseline_files("human").rollouts, SPEC, [(0, 9.0, ep)])
    found, sources = earlier_rollouts(store, 2)
    assert sorted(r.fitness for r in found) == [1.0, 9.0] and sources == 2


def test_screened_attaches_verdicts_from_round_two_and_caches_them(tmp_path: Path) -> None:
    from rewardsmith.agent.analyze.screen import screened
    from rewardsmith.agent.records.results import CandidateResult
    from rewardsmith.envs.tasks import load_task
    from rewardsmith.sandboxes.validate import ValidationReport

    task = load_task("mountain-car")
    store = RunStore(tmp_path)
    ok = ValidationReport(accepted=True, stage="probe", reason="ok", message="")
    earlier = Candidate(id="r01c01", round=1, index=1, code=ALIGNED, origin="test")
    store.save_sampled(earlier, "p", "r")
    store.save_validation(earlier, ok)
    episodes = [(r.seed, r.fitness, Episode.from_rows(SPEC, list(r.states.astype(np.float64)),
                                                      list(r.actions.astype(np.float64)), [0.0] * 50, False, True))
                for r in _rollouts()]
    save_rollouts(store.files_of(earlier).rollouts, SPEC, episodes[:5])  # an earlier round's candidate
    save_rollouts(store.baseline_files("human").rollouts, SPEC, episodes[5:])  # and a baseline
    new = [CandidateResult(candidate=Candidate(id=f"r02c0{i}", round=2, index=i, code=code, origin="test"), validation=ok)
           for i, code in ((1, ALIGNED), (2, REVERSED))]
    out = screened(task, new, store, 2)
    assert [r.skipped for r in out] == [False, True] and out[1].status == "skipped"
    assert store.load_screen(new[1].candidate) == out[1].screen
    assert screened(task, new, store, 1) == new  # round 1: nothing stored yet, nothing screened
