"""The critique: Eureka-style reflection text and the findings the next round acts on."""

from __future__ import annotations

from agent.analyze import critique
from agent.records import Candidate, CandidateResult, Finding
from envs.evaluation import EvaluationResult, FitnessStats
from envs.train_stats import Checkpoint
from envs.training import PolicyConfig, TrainingResult
from sandboxes.validate import ValidationReport

OK = ValidationReport(True, "probe", "ok", "accepted", ("speed", "alive"))


def _training(checkpoints: list[Checkpoint]) -> TrainingResult:
    return TrainingResult(status="ok", error=None, reward_kind="candidate", steps_done=checkpoints[-1].timesteps, steps_planned=checkpoints[-1].timesteps, wall_s=1.0,
                          components=("speed", "alive"), checkpoints=tuple(checkpoints), policy=PolicyConfig(False))


def _cp(t: int, speed: float, alive: float, fitness: float, ret: float) -> Checkpoint:
    return Checkpoint(timesteps=t, episodes=4, episode_length=100.0, fitness=fitness, env_return=0.0, reward_return=ret, component_returns={"speed": speed * 100, "alive": alive * 100},
                      component_step_means={"speed": speed, "alive": alive})


def _result(cps: list[Checkpoint]) -> CandidateResult:
    stats = FitnessStats(0.5, 0.1, (0.5,), (1,))
    return CandidateResult(candidate=Candidate(id="r01c01", round=1, index=1, code="code", origin="test"), validation=OK, training=_training(cps),
                           evaluation=EvaluationResult(stats, stats, 120.0, 1.0))


def test_reflection_samples_ten_points_with_max_mean_min() -> None:
    cps = [_cp(1000 * i, speed=0.1 * i, alive=0.5, fitness=0.05 * i, ret=10.0 * i) for i in range(1, 41)]
    crit = critique(_result(cps))
    speed = next(s for s in crit.components if s.name == "speed")
    assert len(speed.samples) == 10
    assert speed.max == max(speed.samples) and speed.min == min(speed.samples)
    assert "speed: [" in crit.text and "Max:" in crit.text and "task_fitness" in crit.text
    assert "episode_length" in crit.text
    assert "0.5 on the selection seeds" in crit.text


def test_findings_constant_and_dominant_components() -> None:
    cps = [_cp(1000 * i, speed=10.0 + i, alive=0.5, fitness=0.1 * i, ret=float(i)) for i in range(1, 11)]
    crit = critique(_result(cps))
    assert Finding("constant", "alive") in crit.flags
    assert Finding("dominant", "speed") in crit.flags
    assert crit.shares["speed"] > 0.8
    assert "stayed the same throughout training" in crit.text


def test_finding_reward_up_while_fitness_flat() -> None:
    cps = [_cp(1000 * i, speed=0.1 * i, alive=0.5 + 0.01 * i, fitness=0.2, ret=5.0 * i) for i in range(1, 11)]
    assert Finding("reward_up_fitness_flat") in critique(_result(cps)).flags


def test_no_false_hacking_finding_when_fitness_rises_with_reward() -> None:
    cps = [_cp(1000 * i, speed=0.1 * i, alive=0.5 + 0.01 * i, fitness=0.1 * i, ret=5.0 * i) for i in range(1, 11)]
    assert Finding("reward_up_fitness_flat") not in critique(_result(cps)).flags


def test_rejected_candidate_gets_the_reason() -> None:
    bad = ValidationReport(False, "static", "not_allowed", "line 3: import of 'os' is not allowed")
    crit = critique(CandidateResult(candidate=Candidate(id="r01c02", round=1, index=2, code="import os", origin="test"), validation=bad))
    assert crit.status == "rejected"
    assert "import of 'os' is not allowed" in crit.text
