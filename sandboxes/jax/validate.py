"""The jax backend's validation of a candidate: the numpy probe, then export, module check and comparison.

:func:`validate_and_export_jax` gives the numpy backend's verdicts first (same static check, same probe
in a sandbox worker), then traces and exports the reward with ``jax.numpy`` in the sandbox
(:mod:`sandboxes.jax.export`), checks the module in the checker child (:mod:`sandboxes.jax.module_check`)
and compares its numbers with the numpy reward's on the recorded states (``rewardsmith validate TASK FILE
--backend jax`` and a jax run come here through :class:`agent.train.backends.jax.JaxBackend`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rewardsmith.core.state import StateSpec
from rewardsmith.sandboxes.client import SandboxLimits
from rewardsmith.sandboxes.isolation import Isolation
from rewardsmith.sandboxes.jax.export import ExportedReward, ExportFault, ExportLimits, ExportZygote, export_reward
from rewardsmith.sandboxes.jax.module_check import ModuleChecker, ModuleLimits, check_in_subprocess
from rewardsmith.sandboxes.jax.worker import lifted_constant_names
from rewardsmith.sandboxes.validate import ProbeBudget, ValidationReport, probe_source
from rewardsmith.sandboxes.validate import RejectReason as ReportReason


def validate_and_export_jax(source: str, spec: StateSpec, states: np.ndarray, actions: np.ndarray,
                            options: JaxValidation | None = None) -> tuple[ValidationReport, ExportedReward | None]:
    """The numpy backend's validation (same verdicts), then export in the sandbox, the module check and
    a comparison of the module's numbers with the numpy reward's on recorded states.

    Returns the report and, when accepted, the checked export for the trainer.
    """
    opts = options or JaxValidation()
    report, reference = probe_source(source, spec, states, actions, opts.limits, opts.isolation, opts.budget,
                                     allow_weak_isolation=opts.allow_weak_isolation)
    if not report.accepted:
        return report, None
    assert reference is not None
    timings = dict(report.timings_ms)

    def refuse(reason: ReportReason, message: str) -> tuple[ValidationReport, None]:
        return ValidationReport(accepted=False, stage="probe", reason=reason, message=message,
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
    n = len(reference.total)  # the numpy probe's first call: the first min(64, N) recorded states
    probe = (np.asarray(states[:n], dtype=np.float64), np.asarray(actions[:n], dtype=np.float64))
    started = time.perf_counter()
    if opts.checker is not None:
        verdict = opts.checker.check(exported.blob, spec, exported.components, exported.constants, probe)
    else:
        verdict = check_in_subprocess(exported.blob, spec, exported.components, exported.constants, probe,
                                      opts.module_limits)
    timings["check_ms"] = (time.perf_counter() - started) * 1e3
    if not verdict.accepted or verdict.total is None or verdict.components is None:
        return refuse("bad_module", f"the exported module was refused ({verdict.reason}): {verdict.message}")
    mismatch = _first_mismatch(verdict.total, verdict.components, reference.total, reference.components, opts.rtol)
    if mismatch:
        return refuse("backend_mismatch", mismatch)
    fixed = [c for c in lifted_constant_names(source) if c not in exported.constants]
    warnings = report.warnings + ((f"constants {', '.join(fixed)} are used as sizes, indices or in `if`, so they "
                                   "are fixed numbers in the compiled reward (they cannot be tuned without a new "
                                   "trace)",) if fixed else ())
    return ValidationReport(accepted=True, stage="probe", reason="ok", message="accepted", components=report.components, warnings=warnings, timings_ms=timings,
                            sandbox=report.sandbox), exported


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
    checker: ModuleChecker | None = None
    """A checker child shared by several validations (its own limits apply); None = a fresh child for this one."""
    zygote: ExportZygote | None = None
    """Where the export worker is forked from, shared by several validations (its own limits apply); None = a
    worker started from scratch."""


def _first_mismatch(total: np.ndarray, comps: dict[str, np.ndarray], ref_total: np.ndarray,
                    ref_comps: dict[str, np.ndarray], rtol: float = 1e-3) -> str:
    for name, got, want in [("total reward", total, ref_total), *((f"component {k!r}", comps[k], ref_comps[k])
                                                                  for k in ref_comps)]:
        if not np.isfinite(got).all():
            i = int(np.argmax(~np.isfinite(got)))
            return f"{name} is {got[i]} on recorded state {i} on the jax backend (finite with numpy: {want[i]:g})"
        atol = rtol * max(1.0, float(np.max(np.abs(want))))
        close = np.isclose(got, want, rtol=rtol, atol=atol)
        if not close.all():
            i = int(np.argmin(close))
            return (f"{name} is {got[i]:.6g} on the jax backend but {want[i]:.6g} with numpy (recorded state {i}); "
                    "the reward must compute each state's value from that state alone (no means or sums over "
                    "the batch) and in float32 precision")
    return ""
