"""The jax backend's validation of a candidate: the numpy probe, then export, module check and comparison.

:func:`validate_and_export_jax` gives the numpy backend's verdicts first (same static check, same probe
in a sandbox worker), then traces and exports the reward with ``jax.numpy`` in the sandbox
(:mod:`sandboxes.jax.export`), checks the module in the checker child (:mod:`sandboxes.jax.module_check`:
its rules, and its cost at the training batch size) and compares its numbers with the numpy reward's
(``rewardsmith validate TASK FILE --backend jax`` and a jax run come here through
:class:`agent.train.backends.jax.JaxBackend`).

What is compared is what trains: every recorded state, plus states drawn across each field's documented
range (``StateField.low``/``high``; half the recorded span beyond it either side for a field without one),
at least as many as the training batch size, all evaluated by the module at that batch size. A reward that
computes something else on the jax backend on any of them — a value, a NaN, an infinity — is refused.
Every message is made terminal-safe (:func:`core.text.printable`): the candidate controls its exceptions'
text, and a trace error reaches the designer, the terminal and ``validation.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rewardsmith.core.state import StateSpec
from rewardsmith.core.text import printable
from rewardsmith.sandboxes.client import SandboxLimits
from rewardsmith.sandboxes.isolation import Isolation
from rewardsmith.sandboxes.jax.export import ExportedReward, ExportFault, ExportLimits, ExportZygote, export_reward
from rewardsmith.sandboxes.jax.module_check import CallInputs, ModuleChecker, ModuleLimits, check_in_subprocess
from rewardsmith.sandboxes.jax.worker import lifted_constant_names
from rewardsmith.sandboxes.validate import ProbeBudget, ValidationReport, describe_state, probe_source
from rewardsmith.sandboxes.validate import RejectReason as ReportReason

MIN_DRAWN, MAX_DRAWN = 256, 4096
"""States drawn across the fields' ranges: the training batch size, within these bounds."""


def validate_and_export_jax(source: str, spec: StateSpec, states: np.ndarray, actions: np.ndarray,
                            options: JaxValidation | None = None) -> tuple[ValidationReport, ExportedReward | None]:
    """The numpy backend's validation (same verdicts), then export in the sandbox, the module check (with its
    cost at the training batch size) and a comparison of the module's numbers with the numpy reward's on the
    recorded states and on states drawn across the fields' ranges.

    Returns the report and, when accepted, the checked export for the trainer.
    """
    opts = options or JaxValidation()
    compare = comparison_states(spec, states, actions, opts.batch)
    report, reference = probe_source(source, spec, states, actions, opts.limits, opts.isolation, opts.budget,
                                     allow_weak_isolation=opts.allow_weak_isolation, compare=compare)
    if not report.accepted:
        return report, None
    assert reference is not None
    timings = dict(report.timings_ms)

    def refuse(reason: ReportReason, message: str) -> tuple[ValidationReport, None]:
        return ValidationReport(accepted=False, stage="probe", reason=reason, message=printable(message),
                                components=report.components, warnings=report.warnings, timings_ms=timings,
                                sandbox=report.sandbox), None

    try:
        exported = export_reward(source, spec, opts.export_limits, opts.isolation, opts.zygote)
    except ExportFault as fault:
        return refuse(fault.kind, fault.message)
    timings["export_ms"] = exported.export_ms
    if exported.components != report.components:
        return refuse("bad_output", f"the components traced with jax.numpy are {list(exported.components)}; "
                                    f"with numpy they are {list(report.components)}")
    inputs = CallInputs(compare[0], compare[1], opts.batch)
    started = time.perf_counter()
    if opts.checker is not None:
        verdict = opts.checker.check(exported.blob, spec, exported.components, exported.constants, inputs)
    else:
        verdict = check_in_subprocess(exported.blob, spec, exported.components, exported.constants, inputs,
                                      opts.module_limits)
    timings["check_ms"] = (time.perf_counter() - started) * 1e3
    if not verdict.accepted or verdict.total is None or verdict.components is None:
        return refuse("bad_module", f"the exported module was refused ({verdict.reason}): {verdict.message}")
    if verdict.call_ms is not None:
        timings[f"module_call_ms_b{opts.batch}"] = verdict.call_ms

    def where(i: int) -> str:
        if i < len(states):
            return f"recorded state {i}"
        return f"a state drawn across the fields' ranges: {describe_state(spec, compare[0][i])}"

    mismatch = _first_mismatch(verdict.total, verdict.components, reference.total, reference.components, opts.rtol,
                               where)
    if mismatch:
        return refuse("backend_mismatch", mismatch)
    fixed = [c for c in lifted_constant_names(source) if c not in exported.constants]
    warnings = report.warnings + ((f"constants {', '.join(fixed)} are used as sizes, indices or in `if`, so they "
                                   "are fixed numbers in the compiled reward (they cannot be tuned without a new "
                                   "trace)",) if fixed else ())
    return ValidationReport(accepted=True, stage="probe", reason="ok", message="accepted", components=report.components,
                            warnings=warnings, timings_ms=timings, sandbox=report.sandbox), exported


def validate_source_jax(source: str, spec: StateSpec, states: np.ndarray, actions: np.ndarray,
                        options: JaxValidation | None = None) -> ValidationReport:
    """:func:`validate_and_export_jax`'s report alone (the export is dropped)."""
    return validate_and_export_jax(source, spec, states, actions, options)[0]


@dataclass(frozen=True)
class JaxValidation:
    """Limits for :func:`validate_and_export_jax` (defaults as on the numpy backend)."""

    limits: SandboxLimits | None = None
    isolation: Isolation | None = None
    budget: ProbeBudget | None = None
    export_limits: ExportLimits | None = None
    module_limits: ModuleLimits | None = None
    allow_weak_isolation: bool = False
    rtol: float = 1e-3
    """float32 against float64: allowed relative difference between the backends' numbers."""
    batch: int = 64
    """The training batch size (the task's ``n_envs``): the module is compiled, costed and compared at it."""
    checker: ModuleChecker | None = None
    """A checker child shared by several validations (its own limits apply); None = a fresh child for this one."""
    zygote: ExportZygote | None = None
    """Where the export worker is forked from, shared by several validations (its own limits apply); None = a
    worker started from scratch."""


def comparison_states(spec: StateSpec, states: np.ndarray, actions: np.ndarray, batch: int,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every recorded state, then ``clip(batch, MIN_DRAWN, MAX_DRAWN)`` states drawn uniformly across each field's
    documented range (half the recorded span beyond the recorded values where a field documents no bound),
    each with a recorded action."""
    rng = np.random.default_rng(seed)
    states = np.asarray(states, dtype=np.float64)
    actions = np.asarray(actions, dtype=np.float64)
    seen_low, seen_high = states.min(axis=0), states.max(axis=0)
    spread = 0.5 * (seen_high - seen_low)
    low, high = seen_low - spread, seen_high + spread
    for f, cols in spec.slices():
        if f.low is not None:
            low[cols] = f.low
        if f.high is not None:
            high[cols] = f.high
    low, high = np.minimum(low, high), np.maximum(low, high)
    n = int(np.clip(batch, MIN_DRAWN, MAX_DRAWN))
    drawn = rng.uniform(low, high, size=(n, states.shape[1]))
    drawn_actions = actions[rng.integers(0, len(actions), size=n)]
    return np.concatenate([states, drawn]), np.concatenate([actions, drawn_actions])


def _first_mismatch(total: np.ndarray, comps: dict[str, np.ndarray], ref_total: np.ndarray,
                    ref_comps: dict[str, np.ndarray], rtol: float, where: Callable[[int], str]) -> str:
    for name, got, want in [("total reward", total, ref_total), *((f"component {k!r}", comps[k], ref_comps[k])
                                                                  for k in ref_comps)]:
        with np.errstate(over="ignore", invalid="ignore"):
            want = np.asarray(want, dtype=np.float64).astype(np.float32).astype(np.float64)  # what training holds
        got_finite, want_finite = np.isfinite(got), np.isfinite(want)
        # Non-finite values must agree exactly: NaN with NaN, +inf with +inf.
        odd = (got_finite != want_finite) | (~got_finite & ~want_finite & ~(
            (np.isnan(got) & np.isnan(want)) | (got == want)))
        if odd.any():
            i = int(np.argmax(odd))
            return (f"{name} is {got[i]} on the jax backend but {want[i]:g} with numpy ({where(i)}); the reward must "
                    "compute the same on both backends")
        both = got_finite & want_finite
        scale = float(np.max(np.abs(want[both]), initial=0.0))
        close = np.isclose(got, want, rtol=rtol, atol=rtol * max(1.0, scale)) | ~both
        if not close.all():
            i = int(np.argmin(close))
            return (f"{name} is {got[i]:.6g} on the jax backend but {want[i]:.6g} with numpy ({where(i)}); "
                    "the reward must compute each state's value from that state alone (no means or sums over "
                    "the batch), in float32 precision, and the same way on both backends")
    return ""
