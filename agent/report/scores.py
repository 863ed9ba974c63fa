"""Scores: the human-normalized score (Eureka) and a helper to read fitness out of results."""

from __future__ import annotations

HNS_EPS = 1e-9


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
