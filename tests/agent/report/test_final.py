"""Honest headline numbers: the best reward retrained on fresh seeds, an HNS only when the baselines differ."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from rewardsmith.agent.display import ProgressView
from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.records.results import FinalArm, JaxModuleInfo, RunCost, RunSummary, Usage
from rewardsmith.agent.report.final import final_seeds, fresh_seeds, score
from rewardsmith.agent.report.text import hns_line
from rewardsmith.agent.rundir.store import CandidateFiles, RunStore
from rewardsmith.agent.train.backends import SB3Backend
from rewardsmith.agent.train.executors.base import ExecutorEvent, Pipeline, StepOutcome
from rewardsmith.agent.train.executors.local import LocalExecutor
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import TrainSettings
from rewardsmith.core.atomic import write_text
from rewardsmith.envs.backends.jax.job import JaxRoundJob
from rewardsmith.envs.tasks import load_task
from tests.support.executors import FakeExecutor

UPRIGHT = """
import numpy as np
def compute_reward(state, action):
    up = np.exp(-np.square(state.pole_angle / 0.1))
    return up, {"up": up}
"""


def arm(name: str, values: list[float]) -> FinalArm:
    import numpy as np

    return FinalArm(arm=name, seeds=(1, 2, 3), status=("ok",) * 3, heldout=tuple(values),  # type: ignore[arg-type]
                    mean=float(np.mean(values)), std=float(np.std(values)))


def test_baselines_within_their_seed_spread_make_the_hns_not_meaningful() -> None:
    failed = score((1, 2, 3), 5000, arm("designed", [1.0, 0.79, 0.9]), arm("human", [0.0, 0.06, 0.0]),
                   arm("sparse", [0.0, 0.0, 0.03]))
    assert failed.hns is not None and not failed.hns_meaningful
    assert "not meaningful" in failed.note and "3 training seeds" in failed.note
    good = score((1, 2, 3), 5000, arm("designed", [1.0, 0.8, 0.9]), arm("human", [0.5, 0.55, 0.6]),
                 arm("sparse", [0.0, 0.0, 0.03]))
    assert good.hns_meaningful and good.hns_std is not None and good.hns_std > 0


def test_the_demo_headline_gives_a_verdict_per_baseline_and_no_upside_down_hns() -> None:
    """The demo's numbers (issue 26, item 3): a reward perfect on every seed, the env's own reward below sparse."""
    demo = score((1, 2, 3), 151_552, arm("designed", [1.0, 1.0, 1.0]), arm("human", [0.0327, 0.0337, 0.0346]),
                 arm("sparse", [0.27, 0.78, 0.846]), fitness_doc="Progress towards the flag: 1 = reached it")
    assert [(v.baseline, v.verdict) for v in demo.verdicts] == [("human", "better"), ("sparse", "better")]
    assert not demo.hns_meaningful and "trained worse than the sparse reward" in demo.note
    assert demo.hns_std is not None and demo.hns_std > 0.1  # the baselines' spread counts, not "± 0"
    assert demo.fitness_doc.startswith("Progress towards the flag")
    sparse = demo.verdicts[1]
    assert sparse.difference == pytest.approx(1.0 - 0.632, abs=1e-3) and sparse.margin == pytest.approx(0.26, abs=0.01)


def test_a_verdict_is_tied_within_the_seeds_spread_and_worse_beyond_it() -> None:
    tied = score((1, 2, 3), 5000, arm("designed", [0.5, 0.6, 0.7]), arm("human", [0.55, 0.6, 0.65]), None)
    assert [(v.baseline, v.verdict) for v in tied.verdicts] == [("human", "tied")] and tied.hns is None
    worse = score((1, 2, 3), 5000, arm("designed", [0.1, 0.12, 0.11]), arm("human", [0.5, 0.55, 0.6]),
                  arm("sparse", [0.0, 0.01, 0.0]))
    assert [v.verdict for v in worse.verdicts] == ["worse", "better"] and worse.hns_meaningful
    missing = score((1, 2, 3), 5000, FinalArm(arm="designed", seeds=(1, 2, 3), status=("nan",) * 3,
                                              heldout=(None,) * 3, mean=None, std=None), arm("human", [0.5] * 3), None)
    assert [v.verdict for v in missing.verdicts] == ["unknown"]


def _summary(**kw: object) -> RunSummary:
    base: dict[str, object] = dict(task="cartpole", designer="offline", sandbox="full", finished=True, rounds=(),
                                   best_id="r01c01", best_reward_file=None, best_selection_fitness=1.0,
                                   best_heldout_fitness=1.0, best_heldout_std=0.0, baselines=(), hns=31.0,
                                   hns_note="x", wall_s=1.0)
    base.update(kw)
    return RunSummary(**base)  # type: ignore[arg-type]


def test_the_terminal_summary_says_not_meaningful_and_shows_seed_spread_and_cost() -> None:
    final = score((1, 2, 3), 5000, arm("designed", [1.0, 0.79, 0.9]), arm("human", [0.0, 0.06, 0.0]),
                  arm("sparse", [0.0, 0.0, 0.03]))
    s = _summary(final=final, hns=final.hns, hns_note=final.note, hns_meaningful=False,
                 cost=RunCost(env_steps=1_228_800, train_s=600.0, cpu_s=900.0,
                              usage=Usage(tokens_in=1000, tokens_out=200, cost=0.0123, calls=2)))
    assert "31" not in hns_line(s) and "not meaningful" in hns_line(s)
    out = io.StringIO()
    ProgressView(Console(file=out, width=250), live=False).summary(s, "runs/x")
    text = out.getvalue()
    assert "retrained on 3 fresh seeds" in text and "0.8967 ± 0.086" in text
    assert "1,228,800 env-steps" in text and "15.0 CPU-min" in text and "$0.0123" in text


def test_the_terminal_summary_quotes_a_verdict_per_baseline_and_what_the_fitness_means() -> None:
    final = score((1, 2, 3), 5000, arm("designed", [1.0, 1.0, 1.0]), arm("human", [0.0327, 0.0337, 0.0346]),
                  arm("sparse", [0.6, 0.62, 0.64]), fitness_doc="Progress towards the flag: 1 = reached it")
    s = _summary(final=final, hns=final.hns, hns_note=final.note, hns_meaningful=final.hns_meaningful)
    out = io.StringIO()
    ProgressView(Console(file=out, width=250), live=False).summary(s, "runs/x")
    text = out.getvalue()
    assert "vs the env's own reward: BETTER — designed 1 ± 0 against 0.03367 ± 0.00078 over 3 training seeds" in text
    assert "vs the sparse fitness reward: BETTER" in text and "larger than the two spreads added" in text
    assert "fitness: Progress towards the flag: 1 = reached it" in text
    assert "trained worse than the sparse reward" in text  # the HNS's scale points the wrong way: said, not quoted


@pytest.mark.slow  # ~30 s: four PPO trainings on two cores
def test_final_seeds_retrains_the_best_reward_on_fresh_seeds(tmp_path: Path) -> None:
    task = load_task("cartpole")
    store = RunStore(tmp_path)
    best = store.files(1, 1)
    write_text(best.reward, UPRIGHT)
    settings = TrainSettings.for_run(task, RunConfig(task=str(task.source), seed=0), steps=2048)
    trainer = Trainer(task=task, settings=settings, backend=SB3Backend(), executor=LocalExecutor(2), store=store)
    assert final_seeds(trainer, best, 0) is None
    result = final_seeds(trainer, best, 2, baselines=False)
    assert result is not None and result.seeds == fresh_seeds(0, 2) == (1, 2)
    assert result.designed.status == ("ok", "ok") and result.designed.std is not None
    assert result.human is None and result.hns is None and not result.hns_meaningful
    for s in (1, 2):
        assert store.final_files("designed", s).fitness.is_file()


# -- on the jax backend: the fresh seeds are arms of one program, each on its own seed ----------------------------
class KilledAfter(FakeExecutor):
    """Dies (as the orchestrator would be killed) after ``evaluations`` evaluation jobs."""

    def __init__(self, evaluations: int) -> None:
        super().__init__({})
        self.left = evaluations

    def run(self, pipelines: list[Pipeline], on_event: Callable[[ExecutorEvent], None] | None = None
            ) -> dict[str, list[StepOutcome]]:
        if pipelines and pipelines[0].steps[0].kind == "evaluate":
            pipelines = pipelines[:self.left]
            super().run(pipelines, on_event)
            raise KeyboardInterrupt
        return super().run(pipelines, on_event)


def _jax_trainer(store: RunStore, executor: FakeExecutor) -> tuple[Trainer, CandidateFiles]:
    pytest.importorskip("jax")
    from rewardsmith.agent.train.backends.jax import JaxBackend

    task = load_task("cartpole")
    best = store.files(1, 2)  # the selected candidate: its source and its checked module
    write_text(best.reward, UPRIGHT)
    store.save_jax_module(best, b"module", JaxModuleInfo(components=("up",), constants={"W": 1.0}, export_ms=0.0,
                                                         sandbox=""))
    settings = TrainSettings.for_run(task, RunConfig(task=str(task.source), seed=4), steps=2048)
    return Trainer(task=task, settings=settings, backend=JaxBackend(), executor=executor, store=store), best


def test_on_jax_the_fresh_seeds_are_arms_of_one_program_each_on_its_own_seed(tmp_path: Path) -> None:
    store, fake = RunStore(tmp_path), FakeExecutor({})
    trainer, best = _jax_trainer(store, fake)
    result = final_seeds(trainer, best, 3)
    assert result is not None and result.seeds == (5, 6, 7)
    assert all(arm is not None and arm.status == ("ok",) * 3 for arm in (result.designed, result.human, result.sparse))
    (job,) = fake.jax_jobs  # one program, no SB3 training
    assert fake.train_jobs == [] and job.seed == 4
    arms = {a.key: a for a in job.arms}
    assert set(arms) == {f"{arm} seed {s}" for arm in ("designed", "human", "sparse") for s in (5, 6, 7)}
    for key, a in arms.items():
        assert a.seed == int(key.rsplit(" ", 1)[1])  # its own fresh seed, not the run's
        assert a.outputs.metrics_file == str(store.final_files(key.split()[0], a.seed).metrics)
    designed = arms["designed seed 6"]  # the best candidate's checked module, with its constants
    assert designed.module_file == str(best.jax_module) and designed.constants == {"W": 1.0}
    assert arms["sparse seed 6"].module_file is None and arms["sparse seed 6"].reward_kind == "sparse"
    assert Path(job.stats_file).parent == tmp_path / "final"  # the program's own files beside the arms' folders


def test_a_killed_final_comparison_resumes_without_redoing_what_finished(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    trainer, best = _jax_trainer(store, KilledAfter(evaluations=4))
    with pytest.raises(KeyboardInterrupt):
        final_seeds(trainer, best, 3)
    evaluated = [t for arm in ("designed", "human", "sparse") for s in (5, 6, 7)
                 if (t := store.final_files(arm, s)).fitness.is_file()]
    assert len(evaluated) == 4
    fake = FakeExecutor({})
    result = final_seeds(trainer.with_(executor=fake), best, 3)
    assert result is not None and fake.jax_jobs == [] and fake.train_jobs == []  # every arm had trained: none again
    assert all(arm is not None and arm.status == ("ok",) * 3 for arm in (result.designed, result.human, result.sparse))


class CrashesWith(FakeExecutor):
    """Runs jax round jobs as the fake does, except that a program holding ``culprit`` crashes."""

    def __init__(self, culprit: str) -> None:
        super().__init__({})
        self.culprit = culprit

    def run(self, pipelines: list[Pipeline], on_event: Callable[[ExecutorEvent], None] | None = None
            ) -> dict[str, list[StepOutcome]]:
        crashing = [p for p in pipelines if isinstance(p.steps[0].spec, JaxRoundJob)
                    and self.culprit in {a.key for a in p.steps[0].spec.arms}]
        done = super().run([p for p in pipelines if p not in crashing], on_event)
        for p in crashing:
            self.jax_jobs.append(p.steps[0].spec)
            done[p.key] = [StepOutcome("jax_round", "crashed", 1.0, detail="exit code 1: the seed-6 arm broke")]
        return done


def test_a_failed_final_program_blames_its_culprit_alone_and_every_part_keeps_its_arms_seeds(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    fake = CrashesWith("designed seed 6")
    trainer, best = _jax_trainer(store, fake)
    result = final_seeds(trainer, best, 3)
    assert result is not None and result.designed.status == ("ok", "crashed", "ok")
    assert result.human is not None and result.human.status == ("ok",) * 3
    whole, *parts = fake.jax_jobs
    assert len(whole.arms) == 9
    # The baselines together, each designed seed alone: every arm on its own seed, in every part.
    assert sorted(len(job.arms) for job in parts) == [1, 1, 1, 6]
    for job in parts:
        assert all(a.seed == int(a.key.rsplit(" ", 1)[1]) for a in job.arms)
    training = store.outcome(store.final_files("designed", 6)).training
    assert training is not None and "trained alone" in (training.error or "")
