"""Tune a reward's named constants with Optuna, apart from its structure (issue 13).

The constants (:mod:`agent.tune.constants`) become the search space; TPE searches it, seeded with the
designer's own values through an enqueued first trial; successive halving stops poor settings early, by
the rule a round's allocation uses (:meth:`envs.backends.allocation.HalvingSchedule.continuing`). Each trial rung is an ordinary training run through :meth:`agent.train.pipelines.Trainer.train_and_evaluate`
(its files from :class:`agent.rundir.store.TuneFiles`), at ``steps / eta^(rungs-1-r)`` env-steps on rung ``r``,
and its selection-seed fitness drives the search. Trials are asked for in batches (Optuna's ask-and-tell,
TPE with the constant liar for a batch): each rung of a batch is one training call, so on the jax
backend a batch's settings train together in one compiled program, each arm with its own exported
module (the same structure, its own constants). The chosen constants are then judged on the
held-out seeds against the untuned reward trained with the same budget and seed, and the tuned
reward (the same code with new constants) is written beside a diff.

The Optuna study lives in the run directory (SQLite, ``study.db``): a tune killed mid-study resumes
without redoing finished trials; a trial that was running when it was killed is run again with the
same constants, and its rungs that had finished are not trained again (their files are kept).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import optuna
from optuna.trial import TrialState

from rewardsmith.agent.records.results import CandidateResult, JobFailure
from rewardsmith.agent.records.train import HalvingSchedule
from rewardsmith.agent.rundir.store import CandidateFiles, RoundFiles, RunLock, RunStore, TargetFiles, TuneFiles
from rewardsmith.agent.train.backends import CodeCheck
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import TrainTarget
from rewardsmith.agent.tune.constants import ParamRange, code_diff, reward_constants, rewrite, search_space
from rewardsmith.core.atomic import read_record, write_json, write_text
from rewardsmith.core.errors import ConfigError
from rewardsmith.envs.backends.records import TrainingResult
from rewardsmith.envs.rollout import StateSample, random_rollout

STUDY_NAME = "constants"


@dataclass(frozen=True, kw_only=True)
class TuneSettings:
    """How a study is run."""

    trials: int = 12
    """Trials in all (a resumed study only runs the ones still missing)."""
    rungs: int = 2
    """Rungs of the successive-halving ladder; the last one trains with the full ``steps``."""
    eta: int = 3
    """Reduction factor: each rung trains ``eta`` times longer than the one before, and about 1/eta go on."""
    seed: int = 0
    """TPE's seed (the training seed is the settings' own)."""
    overrides: dict[str, str] = field(default_factory=dict)
    """Per-constant ranges, ``NAME -> "LOW:HIGH" | "fixed"`` (:func:`agent.tune.constants.search_space`)."""
    batch: int = 1
    """Trials asked for together; each rung of a batch trains in one call (one program on the jax backend)."""

    @property
    def halving(self) -> HalvingSchedule:
        """The successive-halving schedule of the study's trials (the one rounds use): ``rungs`` rungs, each
        ``eta`` times longer than the one before."""
        return HalvingSchedule(eta=self.eta, first_rung=float(self.eta) ** (1 - self.rungs))

    def rung_steps(self, steps: int) -> tuple[int, ...]:
        """Env-steps at the end of each rung (the last is ``steps``)."""
        return self.halving.budgets(steps, rollout=1) if self.rungs > 1 else (steps,)


@dataclass(frozen=True, kw_only=True)
class TrialRecord:
    number: int
    state: str
    values: dict[str, float]
    fitness: float | None
    """Selection-seed fitness at the highest rung it reached."""
    rung: int
    """The highest rung trained (0-based)."""


@dataclass(frozen=True, kw_only=True)
class TuneResult:
    """``tune.json``: what the study found and how the tuned reward did on held-out seeds."""

    source: str
    """Where the reward came from: a candidate id or a file path."""
    space: tuple[ParamRange, ...]
    trials: tuple[TrialRecord, ...]
    best_values: dict[str, float]
    untuned_values: dict[str, float]
    untuned_selection: float | None
    tuned_selection: float | None
    untuned_heldout: float | None
    tuned_heldout: float | None
    tuned_heldout_std: float | None
    untuned_heldout_std: float | None
    improved: bool
    """The tuned constants beat the untuned ones on the held-out seeds."""
    env_steps: int
    """Env-steps trained by every rung of every trial (the held-out checks included)."""
    train_wall_s: float
    wall_s: float
    steps: int
    tuned_file: str
    diff: str


@dataclass(frozen=True, kw_only=True)
class TrialRun:
    """One trial's training at one rung."""

    code: str
    """The reward with the trial's constants."""
    files: TargetFiles
    """Where this rung's training and evaluation go."""
    module: CandidateFiles
    """The trial's own folder (its exported module on the jax backend, shared by its rungs)."""


Evaluate = Callable[[list[TrialRun], int, RoundFiles], None]
"""Train and evaluate a batch of trial rungs for ``steps`` env-steps each (the batch's own files in the
``RoundFiles``); each run's outcome is left in its files, where the Tuner reads it (as it does on resume)."""


class TrialFailed(Exception):
    """A trial's training or evaluation produced no fitness (it crashed, timed out or went non-finite)."""


def values_key(values: dict[str, float]) -> str:
    """A short stable hash of a setting of the constants (names trial folders, so a re-run trial reuses them)."""
    text = json.dumps({k: float(f"{v:.6g}") for k, v in sorted(values.items())})
    return hashlib.sha256(text.encode()).hexdigest()[:10]


class Tuner:
    """One study over one reward's constants, in ``files.dir``."""

    def __init__(self, code: str, source: str, store: RunStore, label: str, steps: int, settings: TuneSettings,
                 evaluate: Evaluate) -> None:
        self.code = code
        self.source = source
        self.store = store
        self.files = store.tune_files(label)
        self.steps = steps
        self.settings = settings
        self.evaluate = evaluate
        constants = {c.name: c for c in reward_constants(code)}
        self.space = search_space(tuple(constants.values()), settings.overrides)
        if not self.space:
            raise ConfigError("the reward has no named numeric constants to tune (write weights as NAME = value)")
        self.untuned = {p.name: constants[p.name].value for p in self.space}
        self.rungs = settings.rung_steps(steps)

    # -- the study --------------------------------------------------------------------------------
    def study(self) -> optuna.Study:
        self.files.dir.mkdir(parents=True, exist_ok=True)
        optuna.logging.set_verbosity(logging.WARNING)
        storage = optuna.storages.RDBStorage(f"sqlite:///{self.files.study}",
                                             engine_kwargs={"connect_args": {"timeout": 30}})
        study = optuna.create_study(
            study_name=STUDY_NAME, storage=storage, direction="maximize", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=self.settings.seed, n_startup_trials=min(5, self.settings.trials),
                                               constant_liar=self.settings.batch > 1),
            pruner=optuna.pruners.NopPruner())  # rungs are decided by the rounds' halving rule (_continues)
        if not study.trials:  # seed TPE with the designer's values (trial 0)
            study.enqueue_trial(self._params(self.untuned), user_attrs={"origin": "designer"})
        for t in study.trials:  # left RUNNING by a killed tune: run those constants again
            if t.state == TrialState.RUNNING:
                study.tell(t.number, state=TrialState.FAIL)
                if set(t.params) == {p.name for p in self.space}:  # killed while suggesting: nothing to re-run
                    study.enqueue_trial(t.params, user_attrs={"origin": f"re-run of trial {t.number} (interrupted)"})
        return study

    def run(self, on_trial: Callable[[TrialRecord], None] | None = None) -> TuneResult:
        started = time.monotonic()
        write_text(self.files.source, self.code)
        with RunLock(self.files.lock_file):
            study = self.study()
            done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
            waiting = sum(t.state == TrialState.WAITING for t in study.trials)
            remaining = max(self.settings.trials - done, waiting if done < self.settings.trials else 0)
            while remaining > 0:
                size = min(self.settings.batch, remaining)
                self._run_batch(study, [study.ask() for _ in range(size)], on_trial)
                remaining -= size
            result = self._finish(study, started)
        return result

    def _run_batch(self, study: optuna.Study, trials: list[optuna.Trial],
                   on_trial: Callable[[TrialRecord], None] | None) -> None:
        """Every rung for a batch of trials: the rung trains them together, the pruner decides who goes on."""

        def tell(trial: optuna.Trial, value: float | None = None, state: TrialState = TrialState.COMPLETE) -> None:
            study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
            if on_trial is not None:
                on_trial(self._record(study.trials[trial.number]))

        alive: list[tuple[optuna.Trial, str, str]] = []
        for trial in trials:
            values = self._suggest(trial)
            key = values_key(values)
            trial.set_user_attr("key", key)
            alive.append((trial, rewrite(self.code, values), key))
        last = len(self.rungs) - 1
        for rung, steps in enumerate(self.rungs):
            scores = self._train([(code, key) for _, code, key in alive], rung, steps)
            going_on = []
            for (trial, code, key), score in zip(alive, scores, strict=True):
                if score is None:
                    tell(trial, state=TrialState.FAIL)
                    continue
                trial.set_user_attr("rung", rung)
                if rung == last:
                    tell(trial, score.selection)
                    continue
                trial.report(score.selection, step=steps)
                going_on.append((trial, code, key))
            alive = [entry for entry in going_on if self._continues(study, entry[0], steps)]
            for entry in going_on:
                if entry not in alive:
                    tell(entry[0], state=TrialState.PRUNED)

    def _continues(self, study: optuna.Study, trial: optuna.Trial, steps: int) -> bool:
        """Successive halving over the study: a trial goes on when it is among the top ``1/eta`` (at least one)
        of every trial that reached this rung so far, its batch included (:meth:`HalvingSchedule.continuing`)."""
        at_rung = {str(t.number): t.intermediate_values[steps] for t in study.get_trials(deepcopy=False)
                   if steps in t.intermediate_values}
        return str(trial.number) in self.settings.halving.continuing(at_rung)

    def _train(self, settings: list[tuple[str, str]], rung: int, steps: int) -> list[_Scores | None]:
        """Train ``(code, key)`` settings at one rung, in one call; None for one that produced no fitness.

        A rung trained before (by a killed session, or the same constants proposed again) is not trained again."""
        runs = []
        for code, key in settings:
            files = self.files.trial(key, rung)
            if not files.reward.is_file():
                write_text(files.reward, code)
            runs.append(TrialRun(code=code, files=files, module=self.files.trial_module(key)))
        # The same constants twice in one call (the held-out check when the designer's values won) train once.
        todo = list({r.files.dir: r for r in runs if not self.store.is_finished(r.files)}.values())
        if todo:
            batch = self.files.batch(rung, [r.files.dir.parent.name for r in todo])
            self.evaluate(todo, steps, batch)
        scores: list[_Scores | None] = []
        for r in runs:
            ev = self.store.outcome(r.files).evaluation
            scores.append(None if ev is None else
                          _Scores(selection=ev.selection.mean, heldout=ev.heldout.mean, heldout_std=ev.heldout.std))
        return scores

    def _suggest(self, trial: optuna.Trial) -> dict[str, float]:
        out = {}
        for p in self.space:
            if p.integer:
                mag: float = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
            else:
                mag = trial.suggest_float(p.name, p.low, p.high, log=p.log)
            out[p.name] = p.value(mag)
        return out

    def _params(self, values: dict[str, float]) -> dict[str, float]:
        """Optuna's parameters (magnitudes for sign-kept constants) for a setting of the constants."""
        return {p.name: (round(p.magnitude(values[p.name])) if p.integer else p.magnitude(values[p.name]))
                for p in self.space}

    def _values(self, params: dict[str, float]) -> dict[str, float]:
        return {p.name: p.value(float(params[p.name])) for p in self.space if p.name in params}

    def _record(self, t: optuna.trial.FrozenTrial) -> TrialRecord:
        rung = int(t.user_attrs.get("rung", -1))
        fitness = t.value if t.state == TrialState.COMPLETE else (
            t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None)
        return TrialRecord(number=t.number, state=t.state.name.lower(), values=self._values(t.params) if t.params else {},
                           fitness=fitness, rung=rung)

    # -- the held-out check -----------------------------------------------------------------------
    def _finish(self, study: optuna.Study, started: float) -> TuneResult:
        """The held-out check of the chosen constants against the designer's; ``started``: the study's start
        (``time.monotonic()``), so its wall time includes the check's trainings."""
        complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
        if not complete:
            raise TrialFailed("no trial finished its last rung; nothing to choose from")
        best = max(complete, key=lambda t: t.value if t.value is not None else float("-inf"))
        best_values = self._values(best.params)
        last, full = len(self.rungs) - 1, self.rungs[-1]
        # Both at the full budget, same training seed: the designer's values (trained here unless trial 0 reached the
        # last rung) and the chosen ones; the evaluation job scores both seed sets, the held-out ones are reported.
        untuned, tuned = self._train([(rewrite(self.code, self.untuned), values_key(self.untuned)),
                                      (rewrite(self.code, best_values), values_key(best_values))], last, full)
        if untuned is None or tuned is None:
            raise TrialFailed(f"the held-out check at {full:,} steps trained no {'untuned' if untuned is None else 'tuned'} "
                              f"policy")
        tuned_code = rewrite(self.code, best_values)
        diff = code_diff(self.code, tuned_code, f"{self.source} (designer's constants)", f"{self.source} (tuned)")
        write_text(self.files.tuned, tuned_code)
        write_text(self.files.diff, diff)
        env_steps, train_wall = self._compute(study)
        result = TuneResult(
            source=self.source, space=self.space, trials=tuple(self._record(t) for t in study.trials),
            best_values=best_values, untuned_values=self.untuned, untuned_selection=untuned.selection,
            tuned_selection=tuned.selection, untuned_heldout=untuned.heldout, tuned_heldout=tuned.heldout,
            tuned_heldout_std=tuned.heldout_std, untuned_heldout_std=untuned.heldout_std,
            improved=tuned.heldout > untuned.heldout, env_steps=env_steps, train_wall_s=round(train_wall, 1),
            wall_s=round(time.monotonic() - started, 1), steps=full, tuned_file=str(self.files.tuned), diff=diff)
        write_json(self.files.result, result)
        return result

    def _compute(self, study: optuna.Study) -> tuple[int, float]:
        """Env-steps trained and training-job seconds of every rung trained for this study, read from the rungs'
        folders (so work of an earlier, killed session counts once, and a reused rung is not counted twice;
        a jax program's wall time is shared by its trials, not counted once per trial)."""
        keys = {t.user_attrs["key"] for t in study.trials if "key" in t.user_attrs} | {values_key(self.untuned)}
        steps, wall = 0, 0.0
        for key in sorted(keys):
            for rung in range(len(self.rungs)):
                files = self.files.trial(key, rung)
                if files.metrics.is_file():
                    steps += read_record(files.metrics, TrainingResult).steps_done
                    wall += self.store.compute_of(files).train_wall_s
        return steps, wall


@dataclass(frozen=True)
class _Scores:
    selection: float
    heldout: float
    heldout_std: float


def trainer_evaluate(trainer: Trainer) -> Evaluate:
    """Each batch of trial rungs as one training call through the trainer (its executor and backend).

    A backend that trains from a validated artifact (jax: the exported module) gets each trial's reward
    validated once, in the sandbox like a candidate, into the trial's folder; a batch then trains in
    one call (one compiled program on jax). A trial whose validation is refused is recorded as failed."""
    task, backend, store = trainer.task, trainer.backend, trainer.store

    @functools.cache
    def sample() -> StateSample:  # recorded states to validate on, taken when a trial needs validating
        return random_rollout(task, n=256, seed=0)

    def evaluate(runs: list[TrialRun], steps: int, batch: RoundFiles) -> None:
        rung = trainer.with_(settings=replace(trainer.settings, steps=steps))
        targets = []
        with backend.session(task) as session:  # one zygote and checker for the batch's exports (jax)
            for r in runs:
                label = f"trial {r.module.dir.name[6:]}@{steps}"
                if not backend.has_artifact(store, r.module):
                    report = backend.validate(CodeCheck(task=task, code=r.code, sample=sample(), store=store,
                                                        files=r.module,
                                                        allow_weak_sandbox=trainer.settings.allow_weak_sandbox),
                                              session)
                    if not report.accepted:
                        store.save_failures(r.files, (JobFailure(kind="train", status="crashed", wall_s=0.0,
                                                                 detail=f"export refused: {report.message}",
                                                                 reward_kind="candidate"),))
                        continue
                targets.append(TrainTarget(key=label, files=r.files, reward_kind="candidate", artifact=r.module))
        rung.train_and_evaluate(targets, batch=batch)

    return evaluate


def load_result(files: TuneFiles) -> TuneResult | None:
    return read_record(files.result, TuneResult) if files.result.is_file() else None


def tune_label(path: Path) -> str:
    """A study label for a reward file: its content hash, so the same file and task resume the same study."""
    return "reward-" + hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def tune_stage(trainer: Trainer, best: CandidateResult | None, trials: int, seed: int = 0) -> TuneResult | None:
    """``--tune``: tune the round's selected reward between rounds (``tune/<id>/``); its tuned version joins
    the next round as candidate ``K+2`` (:func:`agent.next_round.tuned_entry`). A finished study is not redone."""
    if best is None or best.candidate.code is None or best.fitness is None:
        return None
    store = trainer.store
    files = store.tune_files(best.candidate.id)
    done = load_result(files)
    if done is not None:
        return done
    try:
        tuner = Tuner(best.candidate.code, best.candidate.id, store, best.candidate.id, trainer.settings.steps,
                      TuneSettings(trials=trials, seed=seed, batch=trainer.backend.tune_batch(trials)),
                      trainer_evaluate(trainer))
        return tuner.run()
    except (ConfigError, TrialFailed):
        return None  # nothing to tune (no named constants) or nothing trained: the run goes on without it
