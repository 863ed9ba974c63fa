"""An executor without processes, for tests of what is trained, resumed and charged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rewardsmith.agent.train.executors.base import ExecutorEvent, Pipeline, StepOutcome
from rewardsmith.core.atomic import read_record, write_bytes, write_json
from rewardsmith.envs.backends.jax.job import JaxRoundJob
from rewardsmith.envs.backends.records import Checkpoint, PolicyConfig, TrainingResult
from rewardsmith.envs.backends.sb3.train import TrainJob
from rewardsmith.envs.evaluation import EvalJob, EvaluationResult, FitnessStats


class FakeExecutor:
    """Satisfies :class:`agent.train.executors.base.Executor` without processes: each step writes what a real job would.

    Fitness grows with the training budget, at a rate given per candidate, so the ranking is known.
    """

    def __init__(self, rate: dict[str, float]) -> None:
        self.rate = rate
        self.train_jobs: list[TrainJob] = []
        self.jax_jobs: list[JaxRoundJob] = []

    def run(self, pipelines: list[Pipeline], on_event: Callable[[ExecutorEvent], None] | None = None
            ) -> dict[str, list[StepOutcome]]:
        done: dict[str, list[StepOutcome]] = {}
        for pipe in pipelines:
            steps_done = 0
            for step in pipe.steps:
                if isinstance(step.spec, TrainJob):
                    job = step.spec
                    self.train_jobs.append(job)
                    before, earlier = 0, ()
                    if job.resume_from is not None:  # a real job would fail without it
                        previous = read_record(Path(job.resume_from.metrics_file), TrainingResult)
                        before, earlier = previous.steps_done, previous.checkpoints
                        assert Path(job.resume_from.checkpoint_file).is_file()
                    steps_done = job.steps
                    write_bytes(Path(job.outputs.policy_file), b"weights")
                    if job.outputs.checkpoint_file:
                        write_bytes(Path(job.outputs.checkpoint_file), b"state")
                    # the training curve: the fitness of the episodes it finished grows at the target's rate
                    curve = (*earlier, Checkpoint(timesteps=job.steps, episodes=1, episode_length=1.0,
                                                  fitness=self.rate.get(pipe.key, 0.0) * job.steps, env_return=None,
                                                  reward_return=None))
                    write_json(Path(job.outputs.metrics_file), TrainingResult(
                        status="ok", error=None, reward_kind=job.reward_kind, steps_done=job.steps,
                        steps_planned=job.planned_steps or job.steps, wall_s=1.0, components=(), checkpoints=curve,
                        policy=PolicyConfig(use_sde=False), resumed_from_steps=before))
                elif isinstance(step.spec, JaxRoundJob):  # every arm's result, as the round's job writes them
                    self.jax_jobs.append(step.spec)
                    for arm in step.spec.arms:
                        write_bytes(Path(arm.outputs.policy_file), b"weights")
                        write_json(Path(arm.outputs.metrics_file), TrainingResult(
                            status="ok", error=None, reward_kind=arm.reward_kind, steps_done=step.spec.steps,
                            steps_planned=step.spec.steps, wall_s=1.0, components=arm.components, checkpoints=(),
                            policy=PolicyConfig(use_sde=False, format="jax")))
                elif isinstance(step.spec, EvalJob):
                    value = self.rate.get(pipe.key, 0.0) * steps_done
                    stats = FitnessStats.of([value], (1,))
                    write_json(Path(step.spec.out_file), EvaluationResult(stats, stats, 10.0, 0.1))
                done.setdefault(pipe.key, []).append(StepOutcome(step.kind, "ok", 1.0, cpu_s=2.0))
        return done
