"""``mixed_ancova``: the arm effect from y ~ 1 + arm [+ baseline] [+ factors] + (1 | team),
REML, complete cases, for a batch of trials at once; one trial is a batch of one."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from simulator.analysis.inference import EstimateArrays, resolve_adjustments, t_estimates
from simulator.analysis.mixed.df import (DF_METHODS, kenward_roger, satterthwaite,
                                         variance_derivatives)
from simulator.analysis.mixed.reml import fit_reml
from simulator.analysis.mixed.stats import ancova_stats
from simulator.analysis.records import Estimate, ObservedTrial
from simulator.analysis.teams import analyse_teams, blocks, factor_dummies

_ARM = 1  # the arm's column in X = [1, arm, ...]


def _fit_block(a, dummies, rows, q, baseline, df_method):
    """(estimate, variance of the estimate, df or None for between-within, ok) of the arm
    coefficient for the trials ``rows`` of one block."""
    s = ancova_stats(a, dummies, rows, q, baseline)
    f = fit_reml(s)
    est, var = f.beta[:, _ARM], f.sigma2 * f.Hinv[:, _ARM, _ARM]
    c, df = np.eye(s.xbar.shape[2])[_ARM], None
    if df_method == "satterthwaite":
        df = satterthwaite(variance_derivatives(s, f), c)[1]
    elif df_method == "kenward_roger":
        var, df = kenward_roger(variance_derivatives(s, f), c)
    return est, var, df, f.ok


def mixed_ancova_batch(trials: Sequence[ObservedTrial], *, alpha: float = 0.05,
                       adjust_for_strata: bool = True, df_method: str = "between_within",
                       adjust_for=None) -> EstimateArrays:
    """``mixed_ancova`` of every trial, as arrays (``.records()`` for the ``Estimate`` list).

    Each trial's answer is bit-for-bit the same whichever trials share its batch and
    wherever it sits (``analysis.teams``, ``analysis.linalg``).
    """
    if df_method not in DF_METHODS:
        raise ValueError(f"df_method={df_method!r}: choose one of {list(DF_METHODS)}")
    terms = resolve_adjustments(adjust_for, adjust_for_strata)
    R, baseline = len(trials), "baseline" in terms
    if R == 0:
        return t_estimates(*np.zeros((3, 0)), alpha, np.zeros(0, bool))
    with np.errstate(all="ignore"):
        a = analyse_teams(trials, with_baseline=baseline)
        dummies, n_dummies = factor_dummies(trials, a, terms)
        df = a.n_teams - (n_dummies + 2)  # analysed teams − team-level columns
        arms = np.bincount(a.trial, a.arm == 1, R) * np.bincount(a.trial, a.arm == 0, R)
        usable = ((arms > 0) & (df >= 1) & (a.n_obs > n_dummies + 2 + baseline)
                  & (a.n_teams >= 2) & a.finite)
        est, var, ok = np.full(R, np.nan), np.full(R, np.nan), np.zeros(R, bool)
        df = df.astype(float)
        for q, rows in blocks(usable, n_dummies, a.width):
            e, v, d, good = _fit_block(a, dummies, rows, q, baseline, df_method)
            est[rows], var[rows] = np.where(good, e, np.nan), np.where(good, v, np.nan)
            ok[rows] = good
            if d is not None:
                df[rows] = d
        return t_estimates(est, np.sqrt(var), df, alpha, ok)


def mixed_ancova(trial: ObservedTrial, *, alpha: float = 0.05, adjust_for_strata: bool = True,
                 df_method: str = "between_within", adjust_for=None) -> Estimate:
    """Arm effect from y ~ 1 + arm [+ baseline] [+ factors] + (1 | team), REML, complete
    cases, teams as randomised (ITT): ``mixed_ancova_batch`` of one trial.

    Terms: ``adjust_for`` (names in ``inference.ADJUSTMENTS``), or when None, baseline plus
    strata if ``adjust_for_strata`` (``inference.resolve_adjustments``); factor dummies from
    ``inference.team_dummies``. Wald t with df by ``df_method``: "between_within" = analysed
    teams − team-level fixed parameters (intercept, arm, factor dummies), as SAS PROC MIXED
    DDFM=BW (Hayes & Moulton 2017 "Cluster Randomised Trials", 2nd ed., ch. 10);
    "satterthwaite" (as lmerTest) or "kenward_roger" (as pbkrtest, with its adjusted SE):
    ``mixed.df``. A failed or unidentifiable fit (one arm analysed, no df, X rank deficient,
    exact fit) gives ``Estimate.failed()``; an unknown ``df_method`` or term raises
    ValueError.
    """
    return mixed_ancova_batch([trial], alpha=alpha, adjust_for_strata=adjust_for_strata,
                              df_method=df_method, adjust_for=adjust_for).records()[0]
