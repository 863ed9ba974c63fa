"""Scores of a designed reward against its baselines: the human-normalized score (Eureka) and plain verdicts.

The HNS, ``(F_designed − F_sparse) / |F_human − F_sparse|``, reads as "how far from the sparse reward
towards the env's own (human) reward". It means something only when the two baselines are told apart
by the seeds and the env's own reward trained *better* than the sparse one; otherwise the scale divides
by noise or points the wrong way, and a researcher should quote the per-baseline verdicts instead:
the designed reward is ``better``, ``tied`` or ``worse`` than each baseline, by the same stated test over
seeds (:func:`verdict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from rewardsmith.agent.records.results import BaselineVerdict, FinalArm, Verdict

HNS_EPS = 1e-9
BOOTSTRAP = 2000
"""Resamples of each arm's seeds for the spread of the HNS (fixed RNG: the same numbers every time)."""


def hns(designed: float | None, human: float | None, sparse: float | None) -> tuple[float | None, str]:
    """``(F_designed − F_sparse) / |F_human − F_sparse|`` with a note when it is undefined."""
    if designed is None:
        return None, "no designed reward was trained and evaluated"
    if human is None or sparse is None:
        return None, "the human and sparse baselines were not both evaluated"
    gap = abs(human - sparse)
    if gap < HNS_EPS:
        return None, (f"undefined: the env's own reward and the sparse fitness reward scored the same "
                      f"({human:.4g}) at this budget")
    return (designed - sparse) / gap, "held-out fitness, same budget and seeds for all three"


def apart(a: float, a_std: float | None, b: float, b_std: float | None) -> bool:
    """Whether two means are told apart over seeds: their difference beats their spreads added up."""
    return abs(a - b) > (a_std or 0.0) + (b_std or 0.0)


def verdict(designed: FinalArm, baseline: FinalArm) -> BaselineVerdict:
    """The designed reward against ``baseline``: better / worse when the means differ by more than the two arms'
    standard deviations over seeds added up (a difference the seeds cannot explain), tied otherwise."""
    kind: Literal["human", "sparse"] = "human" if baseline.arm == "human" else "sparse"
    if designed.mean is None or baseline.mean is None:
        return BaselineVerdict(baseline=kind, verdict="unknown", difference=None, margin=None)
    diff = designed.mean - baseline.mean
    margin = (designed.std or 0.0) + (baseline.std or 0.0)
    word: Verdict = "tied" if not apart(designed.mean, designed.std, baseline.mean, baseline.std) else \
        "better" if diff > 0 else "worse"
    return BaselineVerdict(baseline=kind, verdict=word, difference=diff, margin=margin)


def hns_spread(designed: Sequence[float], human: Sequence[float], sparse: Sequence[float]) -> float | None:
    """Standard deviation of the HNS when each arm's seeds are resampled (bootstrap): the baselines' spread counts
    as much as the designed reward's. None with fewer than two seeds in an arm."""
    if min(len(designed), len(human), len(sparse)) < 2:
        return None
    rng = np.random.default_rng(0)

    def means(values: Sequence[float]) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float64)
        return arr[rng.integers(0, len(arr), size=(BOOTSTRAP, len(arr)))].mean(axis=1)

    d, h, s = means(designed), means(human), means(sparse)
    gap = np.abs(h - s)
    ok = gap > HNS_EPS
    return float(np.std((d[ok] - s[ok]) / gap[ok])) if ok.any() else None


def hns_meaning(h: float, h_std: float | None, s: float, s_std: float | None, over: str) -> str | None:
    """Why the HNS means nothing for the env's own reward ``h ± h_std`` and the sparse one ``s ± s_std`` (a sentence
    for the summary), or None when it does."""
    hs, ss = h_std or 0.0, s_std or 0.0
    if not apart(h, hs, s, ss):
        return (f"not meaningful: the env's own reward ({h:.4g} ± {hs:.2g}) and the sparse reward "
                f"({s:.4g} ± {ss:.2g}) differ by less than their spread over {over}, so both "
                "baselines failed alike at this budget and the HNS would divide by noise")
    if h < s:
        return (f"not meaningful: the env's own reward ({h:.4g} ± {hs:.2g}) trained worse than the sparse reward "
                f"({s:.4g} ± {ss:.2g}) at this budget, so the scale from sparse to human points the wrong way; "
                "read the verdicts against each baseline instead")
    return None
