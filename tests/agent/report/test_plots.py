"""PNG plots: training curves per candidate, a round overlaid, fitness per round, written through the store."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from rewardsmith.agent.report import plots
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.envs.backends.records import Checkpoint, TrainingResult
from tests.support.runs import copy_run


def _training(slope: float, components: tuple[str, ...] = ("speed", "flag")) -> TrainingResult:
    cps = tuple(Checkpoint(timesteps=1000 * i, episodes=3, episode_length=200.0 - 10 * i, fitness=slope * i,
                           env_return=float(i), reward_return=2.0 * i,
                           component_returns={c: float(i + j) for j, c in enumerate(components)},
                           component_step_means={c: 0.1 for c in components}) for i in range(1, 9))
    return TrainingResult(status="ok", error=None, reward_kind="candidate", steps_done=8000, steps_planned=8000,
                          wall_s=1.0, components=components, checkpoints=cps, policy=None)


def _image(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_training_plot_draws_components_fitness_and_length_on_their_own_axes() -> None:
    png = plots.training_png(plots.Curve(label="r01c01", training=_training(1.0)),
                             [("human", _training(2.0, ("env",)))])
    img = _image(png)
    assert img.shape[0] > img.shape[1] * 0.8  # three stacked panels
    red = (img[..., 0] > 200) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert red.sum() > 100, "the fitness curve (red) is drawn"


def test_compare_and_fitness_per_round_plots_render() -> None:
    curves = [plots.Curve(label=f"r01c0{i}", training=_training(float(i))) for i in (1, 2, 3)]
    assert _image(plots.compare_png(curves)).size > 0
    pts = [plots.RoundPoints(round=1, fitness=(("r01c01", 1.0), ("r01c02", 3.0)), best=3.0),
           plots.RoundPoints(round=2, fitness=(("r02c01", 4.0),), best=4.0)]
    assert _image(plots.fitness_rounds_png(pts, [("human", 5.0), ("sparse", 0.5)])).size > 0
    assert _image(plots.fitness_rounds_png([])).size > 0  # an empty run still gets a figure


def test_the_orchestrator_writes_a_rounds_plots_through_the_store(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    store = RunStore(run)
    written = plots.write_round_plots(store, 1)
    trained = [r for r in store.round_results(1) if r.training is not None and r.training.checkpoints]
    assert trained
    for r in trained:
        assert str(store.files_of(r.candidate).training_plot) in written
        _image(store.files_of(r.candidate).training_plot.read_bytes())
    _image(store.round_plot(1).read_bytes())
    _image(store.fitness_plot.read_bytes())
