"""Cluster-level analyses of a binary outcome (Hayes & Moulton 2017, "Cluster Randomised
Trials", 2nd ed., ch. 9 and 10), batched over trials.

Unadjusted: each team's observed proportion ȳ_j; the arms are compared by the equal-variance
two-sample t-test on the team proportions, K − 2 df. Estimand: the risk difference between
arms with teams weighted equally (``binary_model.true_estimands().risk_difference`` when teams
have the same covariate distribution).

Adjusted two-stage (H&M §10.3): stage 1 fits an ordinary logistic regression of y on the
covariates *without arm*, pooling every patient of the trial and ignoring clustering, and
gives expected counts E_j = Σ_i expit(x_ij'b̂) per team, with observed O_j = Σ_i y_ij. Stage 2
compares the arms by the two-sample t-test of
  - difference residuals d_j = (O_j − E_j)/n_j  (``residual="difference"``): an adjusted risk
    difference, or
  - log ratio residuals log(O_j/E_j)  (``residual="ratio"``): the log of an adjusted risk
    ratio (a ratio of geometric means of O_j/E_j); a team with O_j = 0 fails the trial.
df = K − 2 − (covariates constant within teams), the team-level terms of stage 1.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from .cluster import two_sample_t
from .binary_data import BinaryTrials, EstimateArrays, Layout, layout, t_estimates
from .binary_logistic import fit_logistic, linear_predictor

RESIDUALS = ("difference", "ratio")


def team_proportions(lay: Layout) -> np.ndarray:
    """(G,) observed proportion of each analysed team."""
    return lay.team_sum(lay.y) / lay.n_j


def expected_counts(lay: Layout) -> tuple[np.ndarray, np.ndarray]:
    """((G,) E_j from the stage-1 logistic regression on [1, x] without arm, (R,) ok)."""
    X = np.column_stack([np.ones(lay.y.size), lay.x])
    fit = fit_logistic(X, lay.y, lay.patient_trial, lay.n_trials)
    mu = special.expit(linear_predictor(X, np.nan_to_num(fit.beta), lay.patient_trial))
    return lay.team_sum(mu), fit.converged


def team_residuals(lay: Layout, residual: str) -> tuple[np.ndarray, np.ndarray]:
    """((G,) Hayes & Moulton residuals of each team (module docstring), (R,) stage-1 ok)."""
    expected, ok = expected_counts(lay)
    observed = lay.team_sum(lay.y)
    if residual == "difference":
        return (observed - expected) / lay.n_j, ok
    with np.errstate(divide="ignore"):
        values = np.log(observed / expected)
    finite = np.ones(lay.n_trials, bool)
    np.logical_and.at(finite, lay.trial, np.isfinite(values))
    return values, ok & finite


def cluster_summary_binary(trials: BinaryTrials, *, alpha: float = 0.05,
                           adjusted: bool = False,
                           residual: str = "difference") -> EstimateArrays:
    """Two-sample t-test on team summaries for each trial of the batch (module docstring).

    ``adjusted=False``: team proportions, risk difference, K − 2 df (covariates ignored).
    ``adjusted=True``: Hayes & Moulton residuals of kind ``residual`` ("difference": adjusted
    risk difference; "ratio": adjusted log risk ratio), K − 2 − team-level covariates df.
    K counts teams with at least one analysed patient. A trial fails (nan, converged False)
    when an arm has no team, no df is left, all team summaries are equal, or stage 1 fails.
    """
    if residual not in RESIDUALS:
        raise ValueError(f"residual={residual!r}: choose one of {list(RESIDUALS)}")
    lay = layout(trials)
    with np.errstate(all="ignore"):
        if not adjusted:
            return _two_sample(lay, team_proportions(lay), np.zeros(lay.n_trials), alpha)
        values, ok = team_residuals(lay, residual)
        out = _two_sample(lay, values, lay.n_team_level, alpha)
    return _mask(out, ok, alpha)


def _two_sample(lay, values: np.ndarray, df_lost: np.ndarray, alpha: float) -> EstimateArrays:
    """``cluster.two_sample_t`` on one value per team, by arm, for every trial of the layout."""
    return two_sample_t(lay.trial, lay.arm, values, lay.n_teams.size, df_lost, alpha)


def _mask(out: EstimateArrays, ok: np.ndarray, alpha: float) -> EstimateArrays:
    """``out`` with the rows where ``ok`` is False failed."""
    return t_estimates(out.estimate, out.se, out.df, alpha, out.converged & ok)
