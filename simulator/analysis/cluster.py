"""Cluster-level (two-stage) analysis and the naive individual-level t-test.

``cluster_summary`` follows Hayes & Moulton 2017, "Cluster Randomised Trials", 2nd ed.,
ch. 9: the team is the unit of analysis, so the t-test on team summaries is valid however
patients correlate within teams. ``individual_ttest`` ignores clustering on purpose: it is
the wrong analysis users compare against (its SE is too small by about √(design effect)).
"""
from __future__ import annotations

import numpy as np

from simulator.analysis.inference import resolve_adjustments, t_estimate, team_dummies
from simulator.analysis.records import Estimate, ObservedTrial

_ZERO_SD = 1e-12  # a pooled SD this small relative to the data's scale counts as zero


def two_sample_t(treated: np.ndarray, control: np.ndarray, alpha: float,
                 df_lost: int = 0) -> Estimate:
    """Equal-variance two-sample t: mean(treated) − mean(control), pooled-variance SE.

    The pooled variance has the usual n₁ + n₂ − 2 denominator; the reference t distribution
    has n₁ + n₂ − 2 − ``df_lost`` df (covariates fitted at an earlier stage). Failure (an
    empty group, no df left, zero variance) gives ``Estimate.failed()``.
    """
    n1, n0 = treated.size, control.size
    if n1 < 1 or n0 < 1 or n1 + n0 - 2 - df_lost < 1:
        return Estimate.failed()
    diff = float(treated.mean() - control.mean())
    ss = float(((treated - treated.mean()) ** 2).sum() + ((control - control.mean()) ** 2).sum())
    sd = np.sqrt(ss / (n1 + n0 - 2))
    scale = 1.0 + max(np.abs(treated).max(), np.abs(control).max())
    if not sd > _ZERO_SD * scale:
        return Estimate.failed()
    return t_estimate(diff, float(sd * np.sqrt(1.0 / n1 + 1.0 / n0)), n1 + n0 - 2 - df_lost, alpha)


def baseline_residuals(y: np.ndarray, baseline: np.ndarray | None,
                       dummies: np.ndarray) -> np.ndarray:
    """Stage 1 of the adjusted two-stage analysis: residuals of the OLS regression of y on
    [1, baseline (omitted when None), team-level dummies] over all analysed patients,
    ignoring arm (Hayes & Moulton 2017, ch. 9, covariate-adjusted two-stage analysis)."""
    base = [] if baseline is None else [baseline]
    X = np.column_stack([np.ones(y.size), *base, dummies])
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    return y - X @ coef


def _team_means(values: np.ndarray, team: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(analysed team ids, unweighted mean of ``values`` per team)."""
    teams, groups = np.unique(team, return_inverse=True)
    return teams, np.bincount(groups, weights=values) / np.bincount(groups)


def cluster_summary(trial: ObservedTrial, *, alpha: float = 0.05, adjusted: bool = True,
                    adjust_for_strata: bool = True, adjust_for=None) -> Estimate:
    """Compare arms by a t-test on team summaries (Hayes & Moulton 2017, ch. 9).

    Unadjusted (``adjusted=False``; the adjustment arguments are then ignored): team means of
    follow-up scores, K − 2 df. Adjusted (default): team means of the stage-1 residuals from
    ``baseline_residuals`` on the terms of ``adjust_for`` (names in
    ``inference.ADJUSTMENTS``; when None, baseline plus strata if ``adjust_for_strata``):
    the baseline score only when asked for, factor dummies from ``inference.team_dummies``
    (levels present among analysed teams, first dropped, redundant columns dropped);
    K − 2 − (dummy columns) df. K counts teams with at least one analysed patient; analysed
    = follow-up observed (and baseline recorded, when adjusting for it). Teams as
    randomised (ITT). Failure gives ``Estimate.failed()``.
    """
    terms = resolve_adjustments(adjust_for, adjust_for_strata) if adjusted else ()
    keep = trial.observed & (np.isfinite(trial.baseline) if "baseline" in terms else True)
    if not keep.any():
        return Estimate.failed()
    y, team = trial.followup[keep], trial.team[keep]
    df_lost = 0
    if adjusted:
        teams, groups = np.unique(team, return_inverse=True)
        dummies = team_dummies(trial, teams, terms)[groups]
        baseline = trial.baseline[keep] if "baseline" in terms else None
        y, df_lost = baseline_residuals(y, baseline, dummies), dummies.shape[1]
    teams, means = _team_means(y, team)
    arm = trial.arm[teams]
    return two_sample_t(means[arm == 1], means[arm == 0], alpha, df_lost)


def individual_ttest(trial: ObservedTrial, *, alpha: float = 0.05) -> Estimate:
    """Naive two-sample t-test on analysed patients' follow-up scores, clustering ignored
    (n − 2 df; arm as randomised). Kept as the wrong analysis to compare against."""
    keep = trial.observed
    arm = trial.arm[trial.team[keep]]
    y = trial.followup[keep]
    return two_sample_t(y[arm == 1], y[arm == 0], alpha)
