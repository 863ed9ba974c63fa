"""The critique: Eureka-style reflection text and the findings the next round acts on."""

from __future__ import annotations

from agent.analyze import critique
from agent.records import Candidate, CandidateResult
from envs.evaluation import EvaluationResult, FitnessStats
from envs.train_stats import Checkpoint
from envs.training import PolicyConfig, TrainingResult
from sandboxes.validate import ValidationReport

OK = ValidationReport(True, "probe", "ok", "accepted", ("speed", "alive"))


def _training(checkpoints: list[Checkpoint]) -> TrainingResult:
    return TrainingResult("ok", None, "candidate", checkpoints[-1].timesteps, checkpoints[-1].timesteps, 1.0,
                          ("speed", "alive"), tuple(checkpoints), PolicyConfig(False))


def _cp(t: int, speed: float, alive: float, fitness: float, ret: float) -> Checkpoint:
    return Checkpoint(t, 4, 100.0, fitness, 0.0, ret, {"speed": speed * 100, "alive": alive * 100},
                      {"speed": speed, "alive": alive})


def _result(cps: list[Checkpoint]) -> CandidateResult:
    stats = FitnessStats(0.5, 0.1, (0.5,), (1,))
    return CandidateResult(Candidate("r01c01", 1, 1, "code", "test"), OK, _training(cps),
                           EvaluationResult(stats, stats, 120.0, 1.0))


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
    assert "constant:alive" in crit.flags
    assert "dominant:speed" in crit.flags
    assert crit.shares["speed"] > 0.8
    assert "stayed the same throughout training" in crit.text


def test_finding_reward_up_while_fitness_flat() -> None:
    cps = [_cp(1000 * i, speed=0.1 * i, alive=0.5 + 0.01 * i, fitness=0.2, ret=5.0 * i) for i in range(1, 11)]
    assert "reward_up_fitness_flat" in critique(_result(cps)).flags


def test_no_false_hacking_finding_when_fitness_rises_with_reward() -> None:
    cps = [_cp(1000 * i, speed=0.1 * i, alive=0.5 + 0.01 * i, fitness=0.1 * i, ret=5.0 * i) for i in range(1, 11)]
    assert "reward_up_fitness_flat" not in critique(_result(cps)).flags


def test_rejected_candidate_gets_the_reason() -> None:
    bad = ValidationReport(False, "static", "not_allowed", "line 3: import of 'os' is not allowed")
    crit = critique(CandidateResult(Candidate("r01c02", 1, 2, "import os", "test"), bad))
    assert crit.status == "rejected"
    assert "import of 'os' is not allowed" in crit.text
