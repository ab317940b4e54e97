"""Performance measures of one estimator at one design point, with Monte Carlo SEs.

Definitions and Monte Carlo SEs are those of Morris, White & Crowther (2019), "Using simulation
studies to evaluate statistical methods", Stat Med 38:2074-2102, Table 6 (as also implemented
in rsimsum).  With n usable replicates, estimates t_i, model SEs s_i and estimand theta:

    bias          mean(t) - theta            MCSE sqrt(var(t) / n)
    empse         sd(t), denominator n - 1   MCSE empse / sqrt(2 (n - 1))
    mse           mean((t - theta)^2)        MCSE sqrt(sum(((t - theta)^2 - mse)^2) / (n (n - 1)))
    rmse          sqrt(mse)                  MCSE mse_mcse / (2 rmse)   (delta method)
    modse         sqrt(mean(s^2))            MCSE sqrt(var(s^2) / (4 n modse^2))
    relerr_modse  100 (modse / empse - 1)    MCSE 100 (modse / empse)
                                                  * sqrt(var(s^2) / (4 n modse^4) + 1 / (2 (n - 1)))
    coverage      share of ci_low <= theta <= ci_high    MCSE sqrt(c (1 - c) / n)
    rejection     share of p_value < alpha               MCSE sqrt(r (1 - r) / n)
    rejection_all share of all N replicates with a usable fit and p_value < alpha: a failed
                  analysis counts as no rejection, so this is the power of the trial as run
                                                         MCSE sqrt(r (1 - r) / N)

var() has denominator n - 1.  A replicate is usable when it converged and its estimate and SE
are finite; the others are counted in ``n_failed``.  A usable replicate whose CI or p-value is
nan counts as not covering / not rejecting.  Measures that need more replicates than there are
(n = 0, or n = 1 for anything with n - 1) are nan; nothing here raises on few replicates.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np

NAN = float("nan")


@dataclass(frozen=True)
class Performance:
    """Performance of one estimator for one estimand at one design point (Morris et al. 2019)."""

    true_value: float
    n_sim: int
    n_failed: int
    bias: float
    bias_mcse: float
    empse: float
    empse_mcse: float
    modse: float
    relerr_modse: float
    rmse: float
    coverage: float
    coverage_mcse: float
    rejection: float
    rejection_mcse: float
    relerr_modse_mcse: float
    modse_mcse: float
    rmse_mcse: float
    rejection_all: float
    rejection_all_mcse: float


COLUMNS = tuple(f.name for f in fields(Performance))


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, nan when the denominator is zero or not finite."""
    if not np.isfinite(denominator) or denominator == 0:
        return NAN
    return float(numerator / denominator)


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if x.size > 0 else NAN


def _var(x: np.ndarray) -> float:
    """Sample variance (denominator n - 1); nan for fewer than two values."""
    return float(np.var(x, ddof=1)) if x.size > 1 else NAN


def _proportion_with_mcse(hits: np.ndarray) -> tuple[float, float]:
    """Share of True and its binomial MCSE sqrt(p (1 - p) / n) (Morris et al. 2019, Table 6)."""
    p = _mean(hits.astype(float))
    return p, float(np.sqrt(p * (1.0 - p) / hits.size)) if hits.size > 0 else NAN


def _bias_and_empse(estimate: np.ndarray, true_value: float) -> dict[str, float]:
    """Bias, empirical SE and their MCSEs (Morris et al. 2019, Table 6)."""
    n, var = estimate.size, _var(estimate)
    empse = float(np.sqrt(var))
    return {
        "bias": _mean(estimate) - true_value,
        "bias_mcse": float(np.sqrt(var / n)) if n > 1 else NAN,
        "empse": empse,
        "empse_mcse": empse / float(np.sqrt(2.0 * (n - 1))) if n > 1 else NAN,
    }


def _rmse(estimate: np.ndarray, true_value: float) -> dict[str, float]:
    """Root mean squared error; MCSE of the MSE (Table 6) mapped by the delta method."""
    n, squared = estimate.size, (estimate - true_value) ** 2
    mse = _mean(squared)
    mse_mcse = float(np.sqrt(np.sum((squared - mse) ** 2) / (n * (n - 1)))) if n > 1 else NAN
    rmse = float(np.sqrt(mse))
    rmse_mcse = 0.0 if mse_mcse == 0 else _ratio(mse_mcse, 2.0 * rmse)
    return {"rmse": rmse, "rmse_mcse": rmse_mcse}


def _model_se(se: np.ndarray, empse: float) -> dict[str, float]:
    """Average model SE, its relative error against the empirical SE, and MCSEs (Table 6)."""
    n, variance = se.size, se**2
    modse = float(np.sqrt(_mean(variance)))
    var_variance = _var(variance)
    modse_mcse = 0.0 if var_variance == 0 else _ratio(np.sqrt(var_variance), np.sqrt(4 * n) * modse)
    ratio = _ratio(modse, empse)
    inner = _ratio(var_variance, 4.0 * n * modse**4) + (1.0 / (2.0 * (n - 1)) if n > 1 else NAN)
    return {
        "modse": modse,
        "modse_mcse": modse_mcse,
        "relerr_modse": 100.0 * (ratio - 1.0),
        "relerr_modse_mcse": 100.0 * ratio * float(np.sqrt(inner)),
    }


def usable(estimate: np.ndarray, se: np.ndarray, converged: np.ndarray) -> np.ndarray:
    """Replicates that count: converged, with finite estimate and SE."""
    return converged.astype(bool) & np.isfinite(estimate) & np.isfinite(se)


def rejections(keep: np.ndarray, p_value: np.ndarray, alpha: float) -> np.ndarray:
    """(N,) bool: usable and p < alpha (a nan p-value, or a failed fit, is no rejection)."""
    return keep & (np.nan_to_num(p_value.astype(float), nan=1.0) < alpha)


def _as_arrays(*columns) -> list[np.ndarray]:
    arrays = [np.asarray(c) for c in columns]
    lengths = {a.shape for a in arrays}
    if len(lengths) != 1 or arrays[0].ndim != 1:
        raise ValueError(f"inputs must be 1-D arrays of one length; got shapes {sorted(lengths)}")
    return arrays


def performance(estimate, se, ci_low, ci_high, p_value, converged, *,
                true_value: float, alpha: float) -> Performance:
    """Performance measures over the replicates of one estimator at one design point.

    All inputs are 1-D arrays with one entry per replicate.  ``true_value`` is the estimand
    (the caller's mean over replicates of the per-replicate truth); ``alpha`` the nominal level
    of the test whose rejection rate is reported (power, or type I error when the truth is 0).
    Formulas and the treatment of failed replicates: module docstring.
    """
    estimate, se, ci_low, ci_high, p_value, converged = _as_arrays(
        estimate, se, ci_low, ci_high, p_value, converged)
    keep = usable(estimate.astype(float), se.astype(float), converged)
    t, s = estimate[keep].astype(float), se[keep].astype(float)
    covered = (ci_low[keep] <= true_value) & (true_value <= ci_high[keep])
    coverage, coverage_mcse = _proportion_with_mcse(covered)
    if not np.isfinite(true_value):
        coverage = coverage_mcse = NAN
    rejects = rejections(keep, p_value, alpha)
    rejection, rejection_mcse = _proportion_with_mcse(rejects[keep])
    rejection_all, rejection_all_mcse = _proportion_with_mcse(rejects)
    spread = _bias_and_empse(t, true_value)
    return Performance(
        true_value=float(true_value), n_sim=int(keep.sum()), n_failed=int((~keep).sum()),
        coverage=coverage, coverage_mcse=coverage_mcse,
        rejection=rejection, rejection_mcse=rejection_mcse,
        rejection_all=rejection_all, rejection_all_mcse=rejection_all_mcse,
        **spread, **_rmse(t, true_value), **_model_se(s, spread["empse"]),
    )


def performance_row(result: Performance, labels: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One summary-table row: the labels (design-point columns, estimator, estimand) first,
    then the measures in ``COLUMNS`` order (the summary.csv contract of DESIGN.md)."""
    return {**(labels or {}), **asdict(result)}
