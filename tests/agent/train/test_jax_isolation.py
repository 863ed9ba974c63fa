"""A jax round with bad modules beside good ones, on real job processes: the good arms and both baselines finish
``ok`` with their fitness, each bad module is recorded as the culprit with its cause, within a bounded time.

The bad modules (tests/envs/backends/jax/crafted.py) pass the trainer's module check and are cheap on the
probe's one call: one is far too slow for a round's hundreds of calls, one runs for days, one fails at the
round's 8 envs only. tests/agent/train/test_isolation.py checks the same logic in a second with fakes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("jax")

from rewardsmith.agent.records.results import JaxModuleInfo
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.train.backends.jax import JaxBackend
from rewardsmith.agent.train.executors.local import LocalExecutor
from rewardsmith.agent.train.isolation import ISOLATION_BUDGET
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import TrainSettings, TrainTarget
from rewardsmith.envs.evaluation import seed_sets
from rewardsmith.envs.tasks import load_task
from tests.envs.backends.jax import crafted

TIMEOUT_S = 45.0
"""The round's training timeout: a good arm alone compiles and trains 4,096 steps in ~10 s here (2 cores, loaded)."""


def round_targets(store: RunStore, modules: dict[str, bytes]) -> list[TrainTarget]:
    """Candidates with their modules saved as validation would save them, then both baselines."""
    targets = []
    for i, (key, blob) in enumerate(modules.items(), start=1):
        files = store.files(1, i)
        store.save_jax_module(files, blob, JaxModuleInfo(components=("up",), constants={}, export_ms=0.0, sandbox=""))
        targets.append(TrainTarget(key=key, files=files, reward_kind="candidate"))
    return [*targets, TrainTarget(key="human", files=store.baseline_files("human"), reward_kind="env"),
            TrainTarget(key="sparse", files=store.baseline_files("sparse"), reward_kind="sparse")]


def trainer(store: RunStore, timeout_s: float = TIMEOUT_S, steps: int = 4096) -> Trainer:
    selection, heldout = seed_sets(0, 2, 2)
    settings = TrainSettings(steps=steps, seed=0, timeout_s=timeout_s, call_timeout_s=5.0, selection_seeds=selection,
                             heldout_seeds=heldout)
    return Trainer(task=load_task("cartpole"), settings=settings, backend=JaxBackend(), executor=LocalExecutor(2),
                   store=store)


@pytest.mark.slow  # two round timeouts of real jax jobs (~2.5 min on 2 cores)
def test_bad_modules_are_blamed_alone_and_the_good_arms_and_baselines_keep_their_fitness(tmp_path: Path) -> None:
    spec = load_task("cartpole").adapter.spec
    good = crafted.module(crafted.upright, spec)
    modules = {"r01c01": good, "r01c02": good, "r01c03": crafted.module(crafted.slow, spec),
               "r01c04": crafted.module(crafted.hangs, spec),
               "r01c05": crafted.module(crafted.upright, spec, crafted.CRASH_BELOW)}
    store = RunStore(tmp_path)
    targets = round_targets(store, modules)
    started = time.monotonic()
    outcomes = trainer(store).train_and_evaluate(targets, batch=store.round_files(1))
    took = time.monotonic() - started
    for key in ("r01c01", "r01c02", "human", "sparse"):
        training, evaluation = outcomes[key].training, outcomes[key].evaluation
        assert training is not None and training.status == "ok", (key, training)
        assert evaluation is not None and evaluation.selection.mean > 0, key
    failed = store.load_batch_failure(store.round_files(1))
    assert failed is not None and len(failed.keys) == 7  # the whole round failed (crashed: the shape error is first)
    slow, hangs, crash = (outcomes[k].training for k in ("r01c03", "r01c04", "r01c05"))
    for culprit, status in ((slow, "timeout"), (hangs, "timeout"), (crash, "crashed")):
        assert culprit is not None and culprit.error is not None
        # A checker that refuses the module outright (a stricter check_exported) blames it as well, before training.
        refused = culprit.status == "crashed" and culprit.error.startswith("its module was refused")
        assert refused or (culprit.status == status and "trained alone" in culprit.error), culprit
    assert crash is not None and "Error refining shapes" in (crash.error or "")  # the job's last error line
    # The round's one timeout, then one wave of parts on 2 workers: two culprits' timeouts side by side at most.
    assert took < (1 + ISOLATION_BUDGET) * TIMEOUT_S, took
