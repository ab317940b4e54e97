"""Paired differences between design points (``comparisons.csv``).

Replicate r of every design point draws from the same streams (``seeds`` module docstring), so
the difference between two design points can be estimated from per-replicate differences, which
cancel the noise the two points share (common random numbers). Each design point is compared
with its reference point for each swept key: the point with that key at its first listed value,
the other keys held equal. Per estimator and estimand the differences (point minus reference)
are those of summary.csv's ``rejection_all``, ``bias``, ``empse`` and ``coverage``, each
computed as summary.csv computes it at each point (``performance`` module docstring), so a
difference is exactly the difference of the two summary rows.

Paired Monte Carlo SE: the delete-one jackknife over replicates (Efron & Stein 1981, Ann Stat
9:586; Efron 1982, "The jackknife, the bootstrap and other resampling plans", SIAM, ch. 2;
recommended for Monte Carlo error by Koehler, Brown & Haneuse 2009, Am Stat 63:155). With N
replicates and D_(-r) the difference recomputed without replicate r at both points,

    mcse = sqrt((N - 1) / N * sum_r (D_(-r) - mean(D_(-.)))^2).

For a difference of means over the same replicates (``rejection_all`` always; ``bias`` and
``coverage`` when no fit failed) this is exactly sd(d_r) / sqrt(N), d_r the per-replicate
difference; replicates usable at only one point drop out of that point's mean alone. For
``empse`` (sd at the point minus sd at the reference) the jackknife needs no normality; for
normal estimates it agrees with the delta method, Var(s_a - s_b) ~ (s_a^2 + s_b^2 -
2 rho^2 s_a s_b) / (2 (N - 1)) (rho the correlation of the paired estimates; Morris, White &
Crowther 2019, Stat Med 38:2074, Table 6 uses the same rho^2 term for relative precision).
The unpaired MCSE, sqrt(mcse_a^2 + mcse_b^2) from each point's summary MCSE, is what two
independent runs would give; it is reported beside the paired one for contrast.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from simulator.montecarlo.performance import performance, rejections, usable
from simulator.montecarlo.summary import ESTIMANDS

NAN = float("nan")
MEASURES = ("rejection_all", "bias", "empse", "coverage")
COMPARISON_COLUMNS = ("design_point", "reference_point", "compared_on", "reference_value",
                      "estimator", "estimand", "n_replicates", "n_usable_both",
                      *(f"{m}{suffix}" for m in MEASURES
                        for suffix in ("_diff", "_diff_mcse", "_diff_mcse_unpaired")))


def comparison_columns(swept_keys: Sequence[str]) -> list[str]:
    return [*swept_keys, *COMPARISON_COLUMNS]


def loo_mean(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean of the finite entries of x (N,), and (N,) that mean without entry r (the full mean
    where x_r is not finite; nan where nothing would be left)."""
    finite = np.isfinite(x)
    n = int(finite.sum())
    if n == 0:
        return NAN, np.full(x.shape, NAN)
    total = float(np.sum(x[finite]))
    full = float(np.mean(x[finite]))
    left = (total - np.where(finite, x, 0.0)) / (n - 1) if n > 1 else np.full(x.shape, NAN)
    return full, np.where(finite, left, full)


def loo_sd(x: np.ndarray) -> tuple[float, np.ndarray]:
    """SD (ddof 1) of the finite entries of x (N,), and (N,) that SD without entry r:
    var_(-r) = (S - n (x_r - m)^2 / (n - 1)) / (n - 2), S the sum of squared deviations."""
    finite = np.isfinite(x)
    n = int(finite.sum())
    if n < 2:
        return NAN, np.full(x.shape, NAN)
    values = x[finite]
    full = float(np.sqrt(np.var(values, ddof=1)))
    if n < 3:
        return full, np.where(finite, NAN, full)
    dev = np.where(finite, x, 0.0) - float(np.mean(values))
    squares = float(np.sum((values - np.mean(values)) ** 2))
    left = np.sqrt(np.maximum(squares - n * dev**2 / (n - 1), 0.0) / (n - 2))
    return full, np.where(finite, left, full)


def jackknife_se(left_out: np.ndarray) -> float:
    """Delete-one jackknife SE from the N leave-one-out values of a statistic."""
    n = left_out.size
    if n < 2 or not np.all(np.isfinite(left_out)):
        return NAN
    return float(np.sqrt((n - 1) / n * np.sum((left_out - left_out.mean()) ** 2)))


def paired_difference(x: np.ndarray, y: np.ndarray, statistic: str) -> tuple[float, float]:
    """(stat(x) - stat(y), its jackknife MCSE) for paired replicate arrays x, y (N,), nan
    where a replicate is not usable; ``statistic`` is ``mean`` or ``sd``."""
    loo = loo_sd if statistic == "sd" else loo_mean
    (fx, lx), (fy, ly) = loo(x), loo(y)
    return fx - fy, jackknife_se(lx - ly)


def replicate_values(columns: Mapping[str, np.ndarray], truth: float,
                     alpha: float) -> dict[str, np.ndarray]:
    """(N,) per-replicate inputs of each measure, in replicate order, nan where a replicate
    does not count: rejection (all N), estimate (bias, empse) and coverage (usable fits)."""
    c = columns
    keep = usable(c["estimate"], c["se"], c["converged"] == 1)
    covered = ((c["ci_low"] <= truth) & (truth <= c["ci_high"])).astype(float)
    return {"rejection_all": rejections(keep, c["p_value"], alpha).astype(float),
            "bias": np.where(keep, c["estimate"], NAN), "empse": np.where(keep, c["estimate"], NAN),
            "coverage": np.where(keep & np.isfinite(truth), covered, NAN)}


def reference_pairs(points, sweep: Mapping[str, Sequence]) -> list[tuple[object, object, str]]:
    """(point, its reference point, the swept key) for every point and key where the point is
    not its own reference; points are in sweep order (the first key varies slowest)."""
    keys = list(sweep)
    if not keys:
        return []
    shape = tuple(len(sweep[k]) for k in keys)
    out = []
    for point in points:
        position = list(np.unravel_index(point.index, shape))
        for axis, key in enumerate(keys):
            if position[axis] == 0:
                continue
            ref = int(np.ravel_multi_index(tuple([*position[:axis], 0, *position[axis + 1:]]),
                                           shape))
            out.append((point, points[ref], key))
    return out


FIELDS = ("replicate", "estimate", "se", "ci_low", "ci_high", "p_value", "converged")


def _columns_at(data: Mapping[str, np.ndarray], index: int, outcome: str,
                estimator: str) -> dict | None:
    """The replicate columns of one design point, outcome and estimator, in replicate order."""
    sel = ((data["design_point"] == index) & (data["outcome"] == outcome)
           & (data["estimator"] == estimator))
    if not sel.any():
        return None
    rows = np.flatnonzero(sel)
    rows = rows[np.argsort(data["replicate"][rows], kind="stable")]
    return {name: data[name][rows] for name in (*FIELDS, "true_itt", "true_efficacy")}


def _measures(columns: dict, truth_column: str, alpha: float) -> tuple[dict, object]:
    truth = float(np.mean(columns[truth_column]))
    perf = performance(columns["estimate"], columns["se"], columns["ci_low"],
                       columns["ci_high"], columns["p_value"], columns["converged"] == 1,
                       true_value=truth, alpha=alpha)
    return replicate_values(columns, truth, alpha), perf


def compare_one(point_cols: dict, ref_cols: dict, truth_column: str, alphas: tuple) -> dict:
    """The differences, paired and unpaired MCSEs of one estimator and estimand."""
    (x, px), (y, py) = (_measures(c, truth_column, a)
                        for c, a in zip((point_cols, ref_cols), alphas))
    if not np.array_equal(point_cols["replicate"], ref_cols["replicate"]):
        raise ValueError("paired design points must hold the same replicates")
    out = {"n_replicates": int(x["bias"].size),
           "n_usable_both": int(np.sum(np.isfinite(x["bias"]) & np.isfinite(y["bias"])))}
    for m in MEASURES:
        _, mcse = paired_difference(x[m], y[m], "sd" if m == "empse" else "mean")
        out[f"{m}_diff"] = getattr(px, m) - getattr(py, m)
        out[f"{m}_diff_mcse"] = mcse
        out[f"{m}_diff_mcse_unpaired"] = float(np.hypot(getattr(px, f"{m}_mcse"),
                                                        getattr(py, f"{m}_mcse")))
    return out


def compare_points(data_at: Callable[[int], Mapping[str, np.ndarray]], points,
                   sweep: Mapping[str, Sequence], outcome: str, estimators: Sequence[str],
                   alpha_of: Mapping[int, float]) -> list[dict]:
    """comparisons.csv rows: every point against its reference for each swept key, per
    estimator and estimand of ``outcome`` (``data_at(i)``: replicate columns incl.
    ``replicate`` holding design point i's rows)."""
    rows = []
    for point, ref, key in reference_pairs(points, sweep):
        labels = {**point.swept, "design_point": point.index, "reference_point": ref.index,
                  "compared_on": key, "reference_value": ref.swept[key]}
        for name in estimators:
            cols = (_columns_at(data_at(point.index), point.index, outcome, name),
                    _columns_at(data_at(ref.index), ref.index, outcome, name))
            if cols[0] is None or cols[1] is None:
                continue
            for estimand, truth_column in ESTIMANDS.items():
                rows.append({**labels, "estimator": name, "estimand": estimand,
                             **compare_one(*cols, truth_column,
                                           (alpha_of[point.index], alpha_of[ref.index]))})
    return rows
