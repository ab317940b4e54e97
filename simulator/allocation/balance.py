"""Baseline balance of one allocation: standardised mean differences and team-type spread.

The standardised mean difference of a covariate x between arms is
(mean1 - mean0) / sqrt((var1 + var0) / 2), with sample variances (ddof = 1; an arm holding a
single team contributes variance 0) (Austin 2009, Stat Med 28:3083). Each category of a
categorical covariate enters as a 0/1 indicator with the same formula. When both arms are
constant in x the SMD is 0 if the means are equal and +/-inf if they differ (complete
separation, e.g. every team of a type in one arm); the maximum is then inf. An arm with no
teams gives nan.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from .covariates import check_covariates, expanded_columns


def _arm_variance(values: np.ndarray) -> float:
    return float(values.var(ddof=1)) if values.size >= 2 else 0.0


def standardised_difference(x: np.ndarray, arm: np.ndarray) -> float:
    """SMD of x between arm 1 and arm 0 (see module docstring for the degenerate cases)."""
    x1, x0 = x[arm == 1], x[arm == 0]
    if x1.size == 0 or x0.size == 0:
        return math.nan
    diff = float(x1.mean() - x0.mean())
    pooled = math.sqrt((_arm_variance(x1) + _arm_variance(x0)) / 2)
    scale = 1e-12 * max(float(np.abs(x).max()), 1.0)
    if pooled <= scale:
        return 0.0 if abs(diff) <= scale else math.copysign(math.inf, diff)
    return diff / pooled


def max_abs_smd(covariates: Mapping[str, np.ndarray], arm: np.ndarray) -> float:
    """Largest |SMD| over every numeric covariate and every category indicator (nan if none)."""
    x, _ = expanded_columns(covariates, tuple(covariates))
    smds = [abs(standardised_difference(x[:, j], arm)) for j in range(x.shape[1])]
    return max(smds) if smds and not any(math.isnan(s) for s in smds) else math.nan


def type_counts(types: np.ndarray, arm: np.ndarray) -> dict:
    """Teams of each type per arm (``n_int_<type>``, ``n_ctl_<type>``) and
    ``team_type_all_in_one_arm``: 1 if some type with at least two teams sits wholly in one arm."""
    out, all_in_one = {}, 0
    for t in np.unique(types):
        n_int = int(np.sum((types == t) & (arm == 1)))
        n_ctl = int(np.sum((types == t) & (arm == 0)))
        out[f"n_int_{t}"], out[f"n_ctl_{t}"] = n_int, n_ctl
        all_in_one |= int(n_int + n_ctl >= 2 and min(n_int, n_ctl) == 0)
    return {"team_type_all_in_one_arm": all_in_one, **out}


def balance_diagnostics(covariates: Mapping[str, np.ndarray], arm: np.ndarray, *,
                        categorical_for_types: str | None = "team_type") -> dict:
    """Balance of one allocation: ``imbalance_max_smd`` over all team covariates, then the
    team-type spread of :func:`type_counts` for the column ``categorical_for_types``
    (None skips it; a name missing from ``covariates`` is a ValueError)."""
    names = () if categorical_for_types is None else (categorical_for_types,)
    k = check_covariates(covariates, names)
    arm = np.asarray(arm)
    if arm.shape != (k,):
        raise ValueError(f"arm has shape {arm.shape}, expected ({k},)")
    out = {"imbalance_max_smd": max_abs_smd(covariates, arm)}
    if categorical_for_types is not None:
        out.update(type_counts(np.asarray(covariates[categorical_for_types]), arm))
    return out
