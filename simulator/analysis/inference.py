"""Small pieces shared by the estimators: t-based inference and stratum design columns."""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from simulator.analysis.records import Estimate


def t_estimate(estimate: float, se: float, df: float, alpha: float) -> Estimate:
    """Wald-type t inference: CI ``estimate ± t_{1-alpha/2, df} · se`` and two-sided p.

    Returns ``Estimate.failed()`` unless the estimate is finite, ``se > 0`` is finite,
    ``df >= 1`` and ``0 < alpha < 1``: a degenerate answer is reported as a failure, not
    as a silently wrong number (STYLE.md, principle 2). Uses the ufuncs ``scipy.special.stdtr``
    / ``stdtrit`` (Student t cdf and its inverse), which are much faster than ``scipy.stats.t``.
    """
    values = (estimate, se, df, alpha)
    if not all(math.isfinite(v) for v in values) or se <= 0 or df < 1 or not 0 < alpha < 1:
        return Estimate.failed()
    t = estimate / se
    half = float(special.stdtrit(df, 1.0 - alpha / 2.0)) * se
    p = 2.0 * float(special.stdtr(df, -abs(t)))
    return Estimate(float(estimate), float(se), float(df), float(estimate - half),
                    float(estimate + half), min(p, 1.0), True)


def stratum_dummies(codes: np.ndarray) -> np.ndarray:
    """(n, S-1) 0/1 indicator columns of the S stratum codes present, lowest code dropped.

    With one stratum present the result has no columns, so callers can always stack it.
    """
    levels, index = np.unique(codes, return_inverse=True)
    return (index[:, None] == np.arange(1, levels.size)[None, :]).astype(float)
