"""Validation of one candidate: the static check, then a probe run in an isolated worker.

The probe feeds the reward recorded states plus edge cases (the reset state, all-zero state, the
ends of each field's range, a batch of one, a large batch) and checks what the training loop
relies on: shapes, real dtype, values finite *in float32* (the dtype SB3 trains in: 1e300 is a
finite float64 and an infinite float32), determinism, no state kept between calls, variation across
states, and speed. Its verdict is a :class:`ValidationReport`; its message is written for the
designer that has to fix the code, and (like the warnings) has every terminal control character
escaped by :func:`core.text.printable`: the candidate controls its exception text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rewardsmith.core.state import StateSpec
from rewardsmith.core.text import printable
from rewardsmith.sandboxes.client import CandidateFault, RewardOutput, RewardProcess, SandboxLimits
from rewardsmith.sandboxes.faults import Fault
from rewardsmith.sandboxes.isolation import Isolation
from rewardsmith.sandboxes.static import check_source

Stage = Literal["extract", "static", "probe"]
RejectReason = Literal[
    "ok",
    # extraction (agent/design/extract.py)
    "empty", "no_code", "syntax", "no_function",
    # static check
    "not_allowed",
    # probe run
    "exception", "timeout", "crash", "bad_output", "non_finite", "nondeterministic", "stateful", "constant", "slow",
    # a reviewer's locked / forbidden components
    "reviewer_constraint",
    # the JAX backend: tracing and export in the sandbox, the trainer-side module check
    "not_traceable", "too_large", "bad_module", "backend_mismatch",
]


@dataclass(frozen=True, kw_only=True)
class ValidationReport:
    """Whether a candidate may be trained, and if not, why (for the designer and the person)."""

    accepted: bool
    stage: Stage
    reason: RejectReason
    """Short machine-readable cause (the closed set is :data:`RejectReason`)."""
    message: str
    """What is wrong, line-numbered where possible, worded for the designer."""
    components: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    sandbox: str = ""


@dataclass(frozen=True)
class ProbeBudget:
    """Speed limits a reward must meet to be trainable."""

    max_call_ms_b64: float = 5.0
    """Median time of one call on a batch of 64 states."""
    max_call_ms_large: float = 200.0
    """Time of one call on the large batch."""
    large_batch: int = 4096
    warn_magnitude: float = 1e4
    """A total reward above this (in absolute value) on recorded states gets a warning."""


def validate_source(source: str, spec: StateSpec, states: np.ndarray, actions: np.ndarray,
                    limits: SandboxLimits | None = None, isolation: Isolation | None = None,
                    budget: ProbeBudget | None = None, allow_weak_isolation: bool = False) -> ValidationReport:
    """Static check, then probe. ``states (N, D)`` / ``actions (N, A)`` are recorded inputs (N >= 64).

    Raises :class:`~core.errors.SandboxError` (before any candidate code runs) when the isolation is
    below the full level and neither ``allow_weak_isolation`` nor ``REWARDSMITH_ALLOW_WEAK_SANDBOX=1``
    allows it; a candidate's faults are never raised, they are the report.
    """
    return probe_source(source, spec, states, actions, limits, isolation, budget, allow_weak_isolation)[0]


def probe_source(source: str, spec: StateSpec, states: np.ndarray, actions: np.ndarray,
                 limits: SandboxLimits | None = None, isolation: Isolation | None = None,
                 budget: ProbeBudget | None = None, allow_weak_isolation: bool = False,
                 compare: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> tuple[ValidationReport, RewardOutput | None]:
    """:func:`validate_source`, and for an accepted reward its output (what another backend's numbers are
    compared with) on ``compare = (states (M, D), actions (M, A))``, or by default on the first ``min(64, N)``
    recorded states. The outputs on ``compare`` are returned as they are (non-finite values included: the
    other backend must give the same); a fault on them refuses the reward."""
    started = time.perf_counter()
    static = check_source(source)
    static_ms = (time.perf_counter() - started) * 1e3
    warnings = tuple(printable(str(w)) for w in static.warnings)
    if not static.ok:
        reason: RejectReason = "syntax" if static.errors[0].message.startswith("syntax error") else "not_allowed"
        return ValidationReport(accepted=False, stage="static", reason=reason, message=printable(static.message()),
                                components=(), warnings=warnings, timings_ms={"static_ms": static_ms}), None
    probe = _Probe(source, spec, states, actions, limits or SandboxLimits(), isolation, budget or ProbeBudget(),
                   allow_weak_isolation, compare)
    report = probe.run()
    timings = {"static_ms": static_ms, **report.timings_ms}
    return ValidationReport(accepted=report.accepted, stage="probe", reason=report.reason, message=printable(report.message), components=report.components,
                            warnings=warnings + tuple(printable(w) for w in report.warnings), timings_ms=timings,
                            sandbox=report.sandbox), probe.reference if report.accepted else None


class _Reject(Fault[RejectReason]):
    """The probe's own verdict on a candidate that ran (bad output, too slow, …)."""


class _Probe:
    def __init__(self, source: str, spec: StateSpec, states: np.ndarray, actions: np.ndarray,
                 limits: SandboxLimits, isolation: Isolation | None, budget: ProbeBudget,
                 allow_weak_isolation: bool, compare: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.source, self.spec, self.limits, self.budget = source, spec, limits, budget
        self.compare = compare
        self.isolation, self.allow_weak_isolation = isolation, allow_weak_isolation
        self.states = np.ascontiguousarray(states, dtype=np.float64)
        self.actions = np.ascontiguousarray(actions, dtype=np.float64)
        self.components: tuple[str, ...] = ()
        self.warnings: list[str] = []
        self.reference: RewardOutput | None = None
        """The output on ``compare`` (by default the first ``min(64, N)`` recorded states)."""

    def run(self) -> ValidationReport:
        started = time.perf_counter()
        proc = RewardProcess(self.source, self.spec, self.limits, self.isolation, self.allow_weak_isolation)
        timings: dict[str, float] = {}
        try:
            proc.start()
            timings["load_ms"] = proc.load_ms
            if proc.load_printed:
                self.warnings.append("the module prints when it loads; output is discarded during training")
            timings.update(self._checks(proc))
            reason: RejectReason = "ok"
            message, accepted = "accepted", True
        except CandidateFault as fault:
            reason, message, accepted = fault.kind, fault.message, False
        except _Reject as rej:
            reason, message, accepted = rej.kind, rej.message, False
        finally:
            proc.close()
        timings["probe_ms"] = (time.perf_counter() - started) * 1e3
        return ValidationReport(accepted=accepted, stage="probe", reason=reason, message=message,
                                components=self.components, warnings=tuple(self.warnings), timings_ms=timings,
                                sandbox=proc.isolation.describe())

    def _checked(self, out: RewardOutput, what: str) -> RewardOutput:
        names = tuple(out.components)
        if not self.components:
            self.components = names
        elif names != self.components:
            raise _Reject("bad_output", f"the component names changed between calls: {list(self.components)} "
                                        f"then {list(names)}")
        named = [*((f"component {n!r}", v) for n, v in out.components.items()), ("total reward", out.total)]
        for name, values in named:
            bad = ~finite_in_training(values)
            if bad.any():
                i = int(np.argmax(bad))
                where = f"on {what} (state {self._describe_row(i)})"
                if np.isfinite(values[i]):
                    raise _Reject("non_finite", f"{name} is {values[i]:.3g} {where}: that is infinite in float32, the "
                                                f"dtype training uses (largest {_F32_MAX:.3g}); scale the reward down")
                raise _Reject("non_finite", f"{name} is {values[i]} {where}")
        if out.printed:
            self.warnings.append("the reward prints; output is discarded during training")
        return out

    def _describe_row(self, i: int) -> str:
        return describe_state(self.spec, self._current_states[i])

    def _checks(self, proc: RewardProcess) -> dict[str, float]:
        self._proc = proc
        n = min(64, len(self.states))
        a_states, a_actions = self.states[:n], self.actions[:n]
        b_states, b_actions = self.states[n: 2 * n], self.actions[n: 2 * n]
        first = self.reference = self._run("the recorded states", a_states, a_actions)
        again = self._run("the recorded states (second call)", a_states, a_actions)
        if not _same(first, again):
            raise _Reject("nondeterministic", "the reward gave different values for the same states twice; "
                                              "it must be a deterministic function of (state, action)")
        # Only a clearly slow reward is named slow this early (two calls can both be preempted on a
        # busy machine); the median of 20 calls below applies the budget itself.
        self._check_speed(len(a_states), min(first.call_us, again.call_us) / 1e3, self.budget.max_call_ms_b64, slack=4.0)
        if len(b_states):
            self._run("other states", b_states, b_actions)
            third = self._run("the recorded states (after other states)", a_states, a_actions)
            if not _same(first, third):
                raise _Reject("stateful", "the reward for the same states changed after it saw other states; "
                                          "it must not keep state between calls")
        for what, (s, a) in self._edge_cases().items():
            self._run(what, s, a)
        if np.ptp(first.total) == 0.0 and np.ptp(self._run("varied states", *self._spread()).total) == 0.0:
            raise _Reject("constant", f"the total reward is {first.total[0]:g} for every state, so it gives the "
                                      "policy nothing to learn from")
        self._check_sum(first)
        self._check_magnitude(first)
        timings = self._timing(a_states, a_actions)
        if self.compare is not None:
            self.reference = self._outputs(*self.compare)
        return timings

    def _outputs(self, states: np.ndarray, actions: np.ndarray) -> RewardOutput:
        """The reward on any number of states, as it comes (``max_batch`` rows per call)."""
        step = self.limits.max_batch
        try:
            outs = [self._proc.call(states[i: i + step], actions[i: i + step]) for i in range(0, len(states), step)]
        except CandidateFault as fault:
            raise CandidateFault(fault.kind, f"on states drawn across the fields' ranges: {fault.message}") from None
        changed = [list(o.components) for o in outs if tuple(o.components) != self.components]
        if changed:
            raise _Reject("bad_output", f"the component names changed between calls: {list(self.components)} "
                                        f"then {changed[0]}")
        return RewardOutput(total=np.concatenate([o.total for o in outs]),
                            components={k: np.concatenate([o.components[k] for o in outs]) for k in self.components},
                            call_us=sum(o.call_us for o in outs), printed="")

    def _run(self, what: str, states: np.ndarray, actions: np.ndarray) -> RewardOutput:
        self._current_states = states
        return self._checked(self._proc.call(states, actions), what)

    def _edge_cases(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        spec, d, a = self.spec, self.spec.size, self.spec.action.dim
        cases: dict[str, tuple[np.ndarray, np.ndarray]] = {
            "the reset state (batch of 1)": (self.states[:1], np.zeros((1, a))),
            "an all-zero state": (np.zeros((1, d)), np.zeros((1, a))),
        }
        low, high = self.states[:1].copy(), self.states[:1].copy()
        for f, s in spec.slices():
            if f.low is not None:
                low[0, s] = f.low
            if f.high is not None:
                high[0, s] = f.high
        act_lo = np.full((1, a), spec.action.low if spec.action.low is not None else -1.0)
        act_hi = np.full((1, a), spec.action.high if spec.action.high is not None else 1.0)
        cases["the lowest values of every field"] = (low, act_lo)
        cases["the highest values of every field"] = (high, act_hi)
        cases[f"a batch of {self.budget.large_batch} states"] = self._large_batch()
        return cases

    def _large_batch(self) -> tuple[np.ndarray, np.ndarray]:
        reps = -(-self.budget.large_batch // len(self.states))
        return (np.tile(self.states, (reps, 1))[: self.budget.large_batch],
                np.tile(self.actions, (reps, 1))[: self.budget.large_batch])

    def _spread(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(0)
        scale = np.maximum(np.abs(self.states).max(axis=0), 1.0)
        s = rng.uniform(-1, 1, size=(64, self.spec.size)) * scale
        a = rng.uniform(-1, 1, size=(64, self.spec.action.dim))
        return s, a

    def _check_sum(self, out: RewardOutput) -> None:
        if out.components:
            summed = np.sum(list(out.components.values()), axis=0)
            if not np.allclose(summed, out.total, rtol=1e-4, atol=1e-6):
                self.warnings.append("the total is not the sum of the components; the critique's component "
                                     "shares will not add up to the reward")

    def _check_magnitude(self, out: RewardOutput) -> None:
        peak = float(np.max(np.abs(out.total)))
        if peak > self.budget.warn_magnitude:
            self.warnings.append(f"the total reward reaches {peak:.3g} on ordinary states; values this large make "
                                 "PPO's value function hard to learn (scale the reward down)")

    def _check_speed(self, batch: int, call_ms: float, budget_ms: float, slack: float = 1.0) -> None:
        # Checked on the first calls already, so a slow reward is named slow before the large batch
        # runs into the call timeout.
        if call_ms > budget_ms * slack:
            raise _Reject("slow", f"one call on {batch} states takes {call_ms:.1f} ms; the budget is {budget_ms:g} ms "
                                  "(vectorise with numpy instead of Python loops)")

    def _timing(self, states: np.ndarray, actions: np.ndarray) -> dict[str, float]:
        times = [self._proc.call(states, actions).call_us for _ in range(20)]
        median_ms = float(np.median(times)) / 1e3
        self._check_speed(len(states), median_ms, self.budget.max_call_ms_b64)
        big_ms = self._proc.call(*self._large_batch()).call_us / 1e3
        self._check_speed(self.budget.large_batch, big_ms, self.budget.max_call_ms_large)
        return {"call_ms_b64": median_ms, f"call_ms_b{self.budget.large_batch}": big_ms}


_F32_MAX = float(np.finfo(np.float32).max)


def describe_state(spec: StateSpec, row: np.ndarray) -> str:
    """One flat state row as ``name=value, …`` (values rounded), for a designer to read."""
    return ", ".join(f"{f.name}={np.round(row[s], 3).tolist() if f.shape else round(float(row[s][0]), 3)}"
                     for f, s in spec.slices())


def finite_in_training(values: np.ndarray) -> np.ndarray:
    """Which entries stay finite in float32, the dtype PPO's buffers hold rewards in (not only in float64)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.isfinite(np.asarray(values).astype(np.float32))


def _same(a: RewardOutput, b: RewardOutput) -> bool:
    return np.array_equal(a.total, b.total) and all(np.array_equal(a.components[k], b.components[k]) for k in a.components)
