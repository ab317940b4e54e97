"""Baseline balance of one allocation: standardised mean differences and team-type spread.

The standardised mean difference of a covariate x between arms is
(mean1 - mean0) / sqrt((var1 + var0) / 2), with sample variances (ddof = 1; an arm holding a
single team contributes variance 0) (Austin 2009, Stat Med 28:3083). Each category of a
categorical covariate enters as a 0/1 indicator with the same formula. When both arms are
constant in x (complete separation, e.g. every team of a type in one arm) the pooled
within-arm SD is 0, and the difference is standardised by the SD of x over all teams
(ddof = 1) instead, so the SMD stays finite; a covariate constant over all teams has SMD 0.
An arm with no teams gives nan (honestly missing).
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from simulator.allocation.covariates import check_covariates, is_categorical


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
        overall = math.sqrt(_arm_variance(x))
        return 0.0 if abs(diff) <= scale or overall <= scale else diff / overall
    return diff / pooled


def _expanded(covariates: Mapping[str, np.ndarray]):
    """(p, K) rows: ``covariates.expanded_columns`` of every covariate, transposed (numeric
    columns as floats, each category of a categorical column as a 0/1 indicator, levels
    sorted), and {categorical name: (its first row, its levels)}."""
    rows, where, p = [], {}, 0
    for name, col in covariates.items():
        col = np.asarray(col)
        if is_categorical(col):
            levels = np.unique(col)
            where[name] = (p, levels)
            rows.append(levels[:, None] == col[None, :])
        else:
            rows.append(col[None, :])
        p += rows[-1].shape[0]
    x = np.concatenate(rows, dtype=float) if rows else np.zeros((0, 0))
    return x, where


def _arm_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sums, means, sample variances) of the rows of x (p, n), each row reduced along its
    own contiguous run: the same numbers as ``row.mean()`` and ``_arm_variance(row)``."""
    n = x.shape[1]
    total = x.sum(1)
    mean = total / n if n else np.full(x.shape[0], math.nan)
    if n < 2:
        return total, mean, np.zeros(x.shape[0])
    dev = x - mean[:, None]
    return total, mean, (dev * dev).sum(1) / (n - 1)


def _max_abs_smd(x: np.ndarray, stats1, stats0) -> float:
    """``standardised_difference`` of every row of x at once, the same arithmetic in the
    same order (the same numbers, bit for bit), then the largest |SMD| (nan if none)."""
    smd = row_smds(x, stats1, stats0)
    return math.nan if np.isnan(smd).any() else float(np.abs(smd).max())


def row_smds(x: np.ndarray, stats1, stats0) -> np.ndarray:
    """(p,) ``standardised_difference`` of each row of x (p, K), given each arm's
    ``_arm_stats``; every step is row by row, so a stack of many allocations' rows gives each
    row the number it has alone (the fast engine's batched diagnostics)."""
    (_, m1, v1), (_, m0, v0) = stats1, stats0
    diff = m1 - m0
    pooled = np.sqrt((v1 + v0) / 2)
    scale = 1e-12 * np.maximum(np.abs(x).max(1), 1.0)
    small = pooled <= scale
    if small.any():   # separated rows: standardise by the SD over all teams (docstring)
        overall = np.sqrt(_arm_stats(np.ascontiguousarray(x))[2])
        flat = small & ((np.abs(diff) <= scale) | (overall <= scale))
        pooled = np.where(small, np.where(flat, 1.0, overall), pooled)
        diff = np.where(flat, 0.0, diff)
    return diff / pooled


def _split(covariates: Mapping[str, np.ndarray], arm: np.ndarray):
    """(expanded rows, {categorical: (row, levels)}, arm-1 stats, arm-0 stats, both arms
    non-empty)."""
    x, where = _expanded(covariates)
    # Each arm's columns as C-contiguous rows (x[:, mask] is laid out column-major), so that
    # every row sum is a 1-D pairwise sum, as in ``standardised_difference``.
    x1 = np.ascontiguousarray(x.take(np.flatnonzero(arm == 1), axis=1))
    x0 = np.ascontiguousarray(x.take(np.flatnonzero(arm == 0), axis=1))
    return x, where, _arm_stats(x1), _arm_stats(x0), x1.shape[1] > 0 and x0.shape[1] > 0


def _type_dict(levels, ints, ctls) -> dict:
    out, all_in_one = {}, 0
    for t, n_int, n_ctl in zip(levels, ints, ctls):
        out[f"n_int_{t}"], out[f"n_ctl_{t}"] = n_int, n_ctl
        all_in_one |= int(n_int + n_ctl >= 2 and min(n_int, n_ctl) == 0)
    return {"team_type_all_in_one_arm": all_in_one, **out}


def type_counts(types: np.ndarray, arm: np.ndarray) -> dict:
    """Teams of each type per arm (``n_int_<type>``, ``n_ctl_<type>``) and
    ``team_type_all_in_one_arm``: 1 if some type with at least two teams sits wholly in one arm."""
    levels, index = np.unique(types, return_inverse=True)
    index = index.ravel()
    return _type_dict(levels, np.bincount(index[arm == 1], minlength=levels.size).tolist(),
                      np.bincount(index[arm == 0], minlength=levels.size).tolist())


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
    x, where, stats1, stats0, both = _split(covariates, arm)
    out = {"imbalance_max_smd": _max_abs_smd(x, stats1, stats0) if both and x.shape[0]
           else math.nan}
    if categorical_for_types in where:   # counts are the indicator rows' sums per arm
        first, levels = where[categorical_for_types]
        rows = slice(first, first + levels.size)
        out.update(_type_dict(levels, stats1[0][rows].astype(int).tolist(),
                              stats0[0][rows].astype(int).tolist()))
    elif categorical_for_types is not None:
        out.update(type_counts(np.asarray(covariates[categorical_for_types]), arm))
    return out
