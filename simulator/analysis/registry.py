"""Estimators by name, as listed in ``analysis.estimators``; each returns an ``Estimate``.

Each entry names the estimand it targets (``itt`` or ``efficacy``); performance is reported
against both. An estimator that fits many trials at once names its batched form too (the
engine's ``batch_fit``); its per-trial form is that batch of one. A scenario may define
variants (an estimator with its own adjustment, df method or GEE correction) under
``analysis.variants``; ``analysis_plan`` resolves names to (label, estimator, options).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from simulator.analysis.cluster import cluster_summary, cluster_summary_batch, individual_ttest
from simulator.analysis.gee import gee_robust
from simulator.analysis.implementation import cace_iv, implementation_split
from simulator.analysis.inference import EstimateArrays
from simulator.analysis.mixed import mixed_ancova, mixed_ancova_batch
from simulator.analysis.permutation import permutation_test
from simulator.analysis.records import Estimate, ObservedTrial


@dataclass(frozen=True)
class AnalysisOptions:
    alpha: float = 0.05
    adjust_for: tuple[str, ...] = ("baseline", "strata")   # baseline | strata | site | team_type
    df_method: str = "between_within"      # between_within | satterthwaite | kenward_roger
    gee_correction: str = "mancl_derouen"  # mancl_derouen | kauermann_carroll | none
    permutations: int = 500                # re-drawn allocations for the permutation test

    @property
    def adjust_for_strata(self) -> bool:
        return "strata" in self.adjust_for


Batch = Callable[[Sequence[ObservedTrial], AnalysisOptions], EstimateArrays]


@dataclass(frozen=True)
class EstimatorSpec:
    fit: Callable[[ObservedTrial, AnalysisOptions, np.random.Generator], Estimate]
    target: str  # "itt" | "efficacy"
    batch: Batch | None = None  # the same estimator for many trials at once, if it has one


def _mixed_batch(trials, o):
    return mixed_ancova_batch(trials, alpha=o.alpha, adjust_for_strata=o.adjust_for_strata,
                              df_method=o.df_method, adjust_for=o.adjust_for)


def _cluster_batch(trials, o):
    return cluster_summary_batch(trials, alpha=o.alpha, adjusted=True,
                                 adjust_for_strata=o.adjust_for_strata, adjust_for=o.adjust_for)


def _means_batch(trials, o):
    return cluster_summary_batch(trials, alpha=o.alpha, adjusted=False)


def _mixed(t, o, rng):
    return mixed_ancova(t, alpha=o.alpha, adjust_for_strata=o.adjust_for_strata,
                        df_method=o.df_method, adjust_for=o.adjust_for)


def _cluster(t, o, rng):
    return cluster_summary(t, alpha=o.alpha, adjusted=True, adjust_for_strata=o.adjust_for_strata,
                           adjust_for=o.adjust_for)


def _split(t, o, rng):
    return implementation_split(t, alpha=o.alpha, adjust_for_strata=o.adjust_for_strata,
                                df_method=o.df_method, adjust_for=o.adjust_for)


ESTIMATORS: dict[str, EstimatorSpec] = {
    "mixed_ancova": EstimatorSpec(_mixed, "itt", _mixed_batch),
    "cluster_summary": EstimatorSpec(_cluster, "itt", _cluster_batch),
    "cluster_means": EstimatorSpec(
        lambda t, o, rng: cluster_summary(t, alpha=o.alpha, adjusted=False), "itt", _means_batch),
    "individual_ttest": EstimatorSpec(lambda t, o, rng: individual_ttest(t, alpha=o.alpha), "itt"),
    "gee_robust": EstimatorSpec(
        lambda t, o, rng: gee_robust(t, alpha=o.alpha, correction=o.gee_correction,
                                     adjust_for_strata=o.adjust_for_strata,
                                     adjust_for=o.adjust_for), "itt"),
    "permutation": EstimatorSpec(
        lambda t, o, rng: permutation_test(t, alpha=o.alpha, permutations=o.permutations, rng=rng,
                                           adjust_for_strata=o.adjust_for_strata), "itt"),
    "implementation_split": EstimatorSpec(_split, "efficacy"),   # what its users read it as
    "cace_iv": EstimatorSpec(
        lambda t, o, rng: cace_iv(t, alpha=o.alpha, adjust_for_strata=o.adjust_for_strata),
        "efficacy"),
}


@dataclass(frozen=True)
class PlannedAnalysis:
    label: str              # the name in analysis.estimators (an estimator or a variant)
    estimator: str          # the estimator it runs
    options: AnalysisOptions
    kind: str = "continuous"          # the outcome kind it analyses (``estimators_for``)
    estimand: str | None = None       # the outcome's estimand it targets (None: the default)


def analysis_plan(analysis) -> list[PlannedAnalysis]:
    """Resolve a scenario's ``analysis`` section into the analyses to run, in order."""
    base = AnalysisOptions(alpha=analysis.alpha, adjust_for=tuple(analysis.adjust_for),
                           df_method=analysis.df_method, gee_correction=analysis.gee_correction,
                           permutations=analysis.permutations)
    plan = []
    for label in analysis.estimators:
        variant = analysis.variants.get(label)
        if variant is None:
            plan.append(PlannedAnalysis(label, label, base))
            continue
        changes = {k: getattr(variant, k) for k in ("adjust_for", "df_method", "gee_correction")
                   if getattr(variant, k) is not None}
        plan.append(PlannedAnalysis(label, variant.estimator, replace(base, **changes)))
    return plan


def estimators_for(kind: str, analysis) -> list[PlannedAnalysis]:
    """The analyses to run for an outcome of ``kind`` ("continuous" | "binary" | "cost"): the
    continuous primary and continuous secondaries keep ``analysis.estimators``."""
    if kind == "continuous":
        return analysis_plan(analysis)
    raise ValueError(f"no estimators for outcome kind {kind!r}")


def spec(planned: PlannedAnalysis) -> EstimatorSpec:
    """The estimator ``planned`` runs, from the registry of its outcome kind."""
    return ESTIMATORS[planned.estimator]


def run_analysis(trial: ObservedTrial, planned: PlannedAnalysis, *,
                 rng: np.random.Generator) -> Estimate:
    """One planned analysis; any numerical failure becomes a failed record, never a crash."""
    try:
        return spec(planned).fit(trial, planned.options, rng)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
        return Estimate.failed()

