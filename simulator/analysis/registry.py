"""Estimators by name, as listed in ``analysis.estimators``; each returns an ``Estimate``.

Each entry also names the estimand it targets (``itt`` or ``efficacy``), which decides the
estimand of its power curve; performance is reported against both estimands.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .cluster import cluster_summary, individual_ttest
from .mixed import mixed_ancova
from .records import Estimate, ObservedTrial


@dataclass(frozen=True)
class AnalysisOptions:
    alpha: float = 0.05
    adjust_for_strata: bool = True


@dataclass(frozen=True)
class EstimatorSpec:
    fit: Callable[[ObservedTrial, AnalysisOptions, np.random.Generator], Estimate]
    target: str  # "itt" | "efficacy"


ESTIMATORS: dict[str, EstimatorSpec] = {
    "mixed_ancova": EstimatorSpec(
        lambda t, o, rng: mixed_ancova(t, alpha=o.alpha, adjust_for_strata=o.adjust_for_strata), "itt"),
    "cluster_summary": EstimatorSpec(
        lambda t, o, rng: cluster_summary(t, alpha=o.alpha, adjusted=True,
                                          adjust_for_strata=o.adjust_for_strata), "itt"),
    "cluster_means": EstimatorSpec(
        lambda t, o, rng: cluster_summary(t, alpha=o.alpha, adjusted=False), "itt"),
    "individual_ttest": EstimatorSpec(lambda t, o, rng: individual_ttest(t, alpha=o.alpha), "itt"),
}


def analyse(trial: ObservedTrial, names, options: AnalysisOptions, *,
            rng: np.random.Generator) -> list[Estimate]:
    """Run each named estimator; any unexpected failure becomes a failed record, never a crash."""
    out = []
    for name in names:
        try:
            est = ESTIMATORS[name].fit(trial, options, rng)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
            est = Estimate.failed()
        out.append(est)
    return out
