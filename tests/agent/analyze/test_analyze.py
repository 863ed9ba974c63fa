"""The critique: Eureka-style reflection, per-component diagnosis, hacking detectors and failure causes."""

from __future__ import annotations

import numpy as np

from rewardsmith.agent.analyze.critique import critique
from rewardsmith.agent.records.results import Candidate, CandidateResult, Finding, ScreenVerdict
from rewardsmith.envs.adapters.classic import CartPoleAdapter, MountainCarContinuousAdapter
from rewardsmith.envs.backends.records import Checkpoint, PolicyConfig, TrainingResult
from rewardsmith.envs.evaluation import EvaluationResult, FitnessStats
from rewardsmith.envs.fitness import Episode
from rewardsmith.envs.outcomes import EpisodeOutcome, outcome_of
from rewardsmith.sandboxes.validate import ValidationReport

OK = ValidationReport(accepted=True, stage="probe", reason="ok", message="accepted", components=("speed", "alive"))
CART = CartPoleAdapter.spec
CAR = MountainCarContinuousAdapter.spec


def _training(checkpoints: list[Checkpoint]) -> TrainingResult:
    return TrainingResult(status="ok", error=None, reward_kind="candidate", steps_done=checkpoints[-1].timesteps,
                          steps_planned=checkpoints[-1].timesteps, wall_s=1.0, components=("speed", "alive"),
                          checkpoints=tuple(checkpoints), policy=PolicyConfig(False))


def _cp(t: int, speed: float, alive: float, fitness: float, ret: float, length: float = 100.0) -> Checkpoint:
    return Checkpoint(timesteps=t, episodes=4, episode_length=length, fitness=fitness, env_return=0.0, reward_return=ret,
                      component_returns={"speed": speed * length, "alive": alive * length},
                      component_step_means={"speed": speed, "alive": alive})


def _result(cps: list[Checkpoint], episodes: tuple[EpisodeOutcome, ...] = ()) -> CandidateResult:
    stats = FitnessStats(0.5, 0.1, (0.5,), (1,))
    return CandidateResult(candidate=Candidate(id="r01c01", round=1, index=1, code="code", origin="test"), validation=OK,
                           training=_training(cps), evaluation=EvaluationResult(stats, stats, 120.0, 1.0, episodes))


def _steady(n: int = 10) -> list[Checkpoint]:
    return [_cp(1000 * i, speed=0.1 * i, alive=0.5 + 0.01 * i, fitness=0.1 * i, ret=5.0 * i) for i in range(1, n + 1)]


# -- the reflection and the first findings ---------------------------------------------------------
def test_reflection_samples_ten_points_with_max_mean_min() -> None:
    cps = [_cp(1000 * i, speed=0.1 * i, alive=0.5, fitness=0.05 * i, ret=10.0 * i) for i in range(1, 41)]
    crit = critique(_result(cps))
    speed = next(s for s in crit.components if s.name == "speed")
    assert len(speed.samples) == 10
    assert speed.max == max(speed.samples) and speed.min == min(speed.samples)
    assert "speed: [" in crit.text and "Max:" in crit.text and "task_fitness" in crit.text
    assert "episode_length" in crit.text
    assert "0.5 on the selection seeds" in crit.text


def test_findings_constant_and_dominant_components_with_evidence_and_one_suggestion() -> None:
    cps = [_cp(1000 * i, speed=10.0 + i, alive=0.5, fitness=0.1 * i, ret=float(i)) for i in range(1, 11)]
    crit = critique(_result(cps))
    assert Finding("constant", "alive") in crit.flags
    assert Finding("dominant", "speed") in crit.flags
    assert crit.shares["speed"] > 0.8
    line = next(line for line in crit.text.splitlines() if "`alive` stayed at 0.5 per step" in line)
    assert line.count("Suggestion:") == 1
    dominant = next(f for f in crit.flags if f.kind == "dominant")
    assert dominant.value is not None and dominant.value > 0.8


def test_finding_reward_up_while_fitness_flat() -> None:
    cps = [_cp(1000 * i, speed=0.1 * i, alive=0.5 + 0.01 * i, fitness=0.2, ret=5.0 * i) for i in range(1, 11)]
    flags = critique(_result(cps)).flags
    assert Finding("reward_up_fitness_flat") in flags
    assert Finding("improved_not_fitness", "speed") in flags  # the component the policy raised instead


def test_no_false_hacking_finding_when_fitness_rises_with_reward() -> None:
    kinds = {f.kind for f in critique(_result(_steady())).flags}
    assert not kinds & {"reward_up_fitness_flat", "component_up_fitness_down", "improved_not_fitness", "length_farming"}


def test_rejected_candidate_gets_the_reason() -> None:
    bad = ValidationReport(accepted=False, stage="static", reason="not_allowed", message="line 3: import of 'os' is not allowed")
    crit = critique(CandidateResult(candidate=Candidate(id="r01c02", round=1, index=2, code="import os", origin="test"),
                                    validation=bad))
    assert crit.status == "rejected"
    assert "import of 'os' is not allowed" in crit.text


# -- per-component diagnosis over training -----------------------------------------------------------
def test_component_growing_while_fitness_falls_and_correlation_sign() -> None:
    cps = [_cp(1000 * i, speed=0.1 * i, alive=0.5, fitness=1.0 - 0.08 * i, ret=5.0 * i) for i in range(1, 11)]
    crit = critique(_result(cps))
    assert Finding("component_up_fitness_down", "speed") in crit.flags
    assert Finding("against_fitness", "speed") not in crit.flags  # said already: one finding, one suggestion
    speed = next(d for d in crit.diagnosis if d.name == "speed")
    assert speed.fitness_corr is not None and speed.fitness_corr < -0.9
    assert speed.trend is not None and speed.trend > 0.9 and speed.gain > 0
    assert "fell by" in crit.text


def test_saturated_term_stuck_at_its_bound() -> None:
    speed = [0.1 * i for i in range(1, 9)] + [1.0] * 8
    cps = [_cp(1000 * i, speed=s, alive=0.3 + 0.02 * i, fitness=0.05 * i, ret=float(i)) for i, s in enumerate(speed, 1)]
    crit = critique(_result(cps))
    assert Finding("saturated", "speed") in crit.flags
    assert Finding("saturated", "alive") not in crit.flags


def test_length_farming_during_training() -> None:
    cps = [_cp(1000 * i, speed=0.01, alive=1.0, fitness=0.3, ret=100.0 * i, length=100.0 * i) for i in range(1, 11)]
    flags = critique(_result(cps)).flags
    farmed = next(f for f in flags if f.kind == "length_farming")
    assert farmed.component == "alive" and "per step" in farmed.evidence
    assert Finding("constant", "alive") not in flags  # an alive term is constant by design; farming says more


# -- failure causes from the evaluation episodes -------------------------------------------------------
def _cart_episode(seed: int, fall_at: int | None) -> EpisodeOutcome:
    """CartPole: the pole tips over at ``fall_at`` (its angle leaves the range, the spin grows 10×)."""
    rng = np.random.default_rng(seed)
    steps = fall_at or 500
    rows = [np.array([0.01 * rng.standard_normal(), 0.1 * rng.standard_normal(), 0.01 * rng.standard_normal(),
                      0.1 + 0.05 * rng.standard_normal()]) for _ in range(steps)]
    if fall_at is not None:
        rows[-1] = np.array([0.05, 0.3, 0.25, 2.0])
    actions = [np.array([float(i % 2)]) for i in range(steps)]
    ep = Episode.from_rows(CART, rows, actions, [1.0] * steps, terminated=fall_at is not None, truncated=fall_at is None)
    return outcome_of(ep, CART, seed, "heldout", float(steps))


def test_early_termination_names_the_field_and_its_range_in_the_tasks_units() -> None:
    episodes = (*(_cart_episode(s, 40 + s) for s in range(9)), _cart_episode(9, None))
    crit = critique(_result(_steady(), episodes), spec=CART)
    found = next(f for f in crit.flags if f.kind == "early_termination")
    assert found.component == "pole_angle"
    assert "9 of 10 held-out episodes were ended by the environment (median step 44)" in found.evidence
    assert "`pole_angle` was outside its range [-0.2095, 0.2095] rad in 9 of 9" in found.evidence
    assert "`pole_angular_velocity` was" in found.evidence and "its usual magnitude" in found.evidence
    assert crit.failure is not None and crit.failure.terminated == 9 and not crit.failure.success_end
    assert "keeps `pole_angle` inside its healthy range" in crit.text
    assert "Held-out episodes: 9 of 10 ended by the environment" in crit.text


def test_without_the_spec_no_episode_analysis() -> None:
    episodes = tuple(_cart_episode(s, 40) for s in range(5))
    crit = critique(_result(_steady(), episodes))
    assert crit.failure is None and not any(f.kind == "early_termination" for f in crit.flags)


def _car_episode(seed: int, positions: np.ndarray, actions: np.ndarray) -> EpisodeOutcome:
    rows = [np.array([p, 0.0, np.sin(3 * p)]) for p in positions]
    reached = bool(positions[-1] >= 0.45)
    ep = Episode.from_rows(CAR, rows, list(actions.reshape(-1, 1)), [0.0] * len(rows), terminated=reached,
                           truncated=not reached)
    return outcome_of(ep, CAR, seed, "heldout", float(np.clip((positions.max() + 0.5) / 0.95, 0, 1)))


def test_standing_still_when_the_task_asks_for_motion() -> None:
    t = np.arange(999)
    episodes = tuple(_car_episode(s, -0.52 + 1e-4 * np.sin(t / 7.0 + s), np.zeros(999)) for s in range(10))
    flags = critique(_result(_steady(), episodes), spec=CAR).flags
    assert Finding("motionless", "position") in flags
    missed = next(f for f in flags if f.kind == "goal_missed")
    assert missed.component == "position" and "in 0 of 10 held-out episodes" in missed.evidence


def test_oscillating_in_place_and_action_chatter() -> None:
    t = np.arange(999)
    swing = -0.5 + 0.4 * np.sin(t / 15.0)
    chatter = np.where(t % 2 == 0, 1.0, -1.0)
    episodes = tuple(_car_episode(s, swing, chatter) for s in range(10))
    flags = critique(_result(_steady(), episodes), spec=CAR).flags
    assert Finding("oscillating", "position") in flags
    assert Finding("action_chatter") in flags
    assert Finding("motionless", "position") not in flags


def test_going_the_wrong_way_is_named_and_judged_by_the_tasks_own_direction() -> None:
    from rewardsmith.agent.goal.task_goal import goal_spec

    back = np.linspace(-0.5, -1.1, 200)  # a steady drive away from the flag, towards the left wall
    episodes = tuple(_car_episode(s, back, -np.ones(200)) for s in range(10))
    flags = critique(_result(_steady(), episodes), spec=CAR).flags
    wrong = next(f for f in flags if f.kind == "wrong_direction")
    assert wrong.component == "position" and "in 10 of 10 held-out episodes the body went the wrong way" in wrong.evidence
    assert not {f.kind for f in flags} & {"motionless", "oscillating"}
    # The same episodes for a task that asks for that direction are no longer wrong.
    leftward = goal_spec(CAR, "Drive the car backward, to the left, as far as it can go.")
    assert next(f for f in leftward.fields if f.name == "position").forward_sign == -1
    assert "wrong_direction" not in {f.kind for f in critique(_result(_steady(), episodes), spec=leftward).flags}
    assert goal_spec(CAR, "Drive the car up the hill and reach the flag.") == CAR


def test_reaching_the_goal_is_not_a_failure() -> None:
    path = np.concatenate([-0.5 - 0.4 * np.sin(np.linspace(0, np.pi, 60)), np.linspace(-0.5, 0.46, 60)])
    episodes = tuple(_car_episode(s, path, np.sign(np.diff(path, prepend=path[0]))) for s in range(10))
    crit = critique(_result(_steady(), episodes), spec=CAR)
    assert crit.failure is not None and crit.failure.success_end and crit.failure.terminated == 10
    assert not {f.kind for f in crit.flags} & {"early_termination", "goal_missed", "oscillating", "motionless"}


def test_length_farming_at_evaluation_on_an_alive_term() -> None:
    cps = [_cp(1000 * i, speed=0.01 * (i % 3), alive=1.0, fitness=0.3, ret=1000.0, length=999.0) for i in range(1, 11)]
    t = np.arange(999)
    episodes = tuple(_car_episode(s, -0.5 + 0.3 * np.sin(t / 20.0), 0.5 * np.sin(t / 20.0)) for s in range(10))
    farmed = next(f for f in critique(_result(cps, episodes), spec=CAR).flags if f.kind == "length_farming")
    assert farmed.component == "alive" and "ran to the time limit (999 steps)" in farmed.evidence


def test_a_screened_out_candidate_says_why() -> None:
    verdict = ScreenVerdict(candidate_id="r02c01", status="skip", spearman=-0.4, threshold=0.0, trajectories=30,
                            sources=6, reason="ranked against")
    result = CandidateResult(candidate=Candidate(id="r02c01", round=2, index=1, code="c", origin="test"), validation=OK,
                             screen=verdict)
    assert result.skipped and result.status == "skipped"
    crit = critique(result)
    assert Finding("screened_out") in crit.flags and crit.screen == verdict and crit.status == "skipped"
    assert "Spearman -0.40 < +0.00" in crit.text and "not trained" in crit.text


def test_a_candidate_stopped_by_halving_is_never_reported_or_selected_as_fully_trained() -> None:
    from dataclasses import replace

    from rewardsmith.agent.records.train import EarlyStop
    from rewardsmith.agent.review.feedback import select_best

    cps = [_cp(2048 * (i + 1), 1.0, 0.1, 10.0 + i, 50.0) for i in range(4)]
    full = replace(_result(cps), candidate=Candidate(id="r01c02", round=1, index=2, code="code", origin="test"))
    stopped = replace(_result(cps), early_stop=EarlyStop(rung=0, steps_done=8192, steps_planned=73728,
                                                          selection_fitness=0.9, cutoff_fitness=1.2))
    stopped = replace(stopped, evaluation=replace(stopped.evaluation, selection=FitnessStats(9.0, 0.0, (9.0,), (1,))))
    assert stopped.status == "stopped" and full.status == "ok"
    assert select_best([stopped, full]) is full  # the higher (partial) fitness does not win
    text = critique(stopped, CART).text
    assert "Stopped early by successive halving" in text and "8,192 of 73,728 steps" in text
