"""Adjusted p-values for a family of tests, for many replicates at once.

p: (R, m) p-values, one row per replicate, one column per outcome of the family. A test that
could not be computed enters as p = 1 (it rejects nothing and costs the others nothing
under Bonferroni; Holm and Hochberg still count it in m, as a planned test).

  bonferroni: min(1, m p_i)
  holm (step-down; Holm 1979, Scand J Statist 6:65):
      p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) p_(j))
  hochberg (step-up; Hochberg 1988, Biometrika 75:800):
      p̃_(i) = min_{j ≥ i} min(1, (m − j + 1) p_(j))
  none: p
with p_(1) ≤ … ≤ p_(m) the ordered p-values of the replicate; an outcome is rejected at
level α when p̃ < α (the same rule as the unadjusted tests). These are the adjusted
p-values of R's ``p.adjust`` and statsmodels' ``multipletests``.
"""
from __future__ import annotations

import numpy as np

METHODS = ("holm", "hochberg", "bonferroni", "none")


def adjusted_p_values(p: np.ndarray, method: str) -> np.ndarray:
    """(R, m) adjusted p-values of each replicate's family (module docstring)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose one of {', '.join(METHODS)}")
    p = np.where(np.isfinite(p), np.asarray(p, float), 1.0)
    m = p.shape[1]
    if method == "none" or m == 0:
        return p
    if method == "bonferroni":
        return np.minimum(1.0, m * p)
    order = np.argsort(p, axis=1, kind="stable")
    ordered = np.take_along_axis(p, order, axis=1)
    scaled = np.minimum(1.0, (m - np.arange(m)) * ordered)
    if method == "holm":
        stepped = np.maximum.accumulate(scaled, axis=1)
    else:
        stepped = np.minimum.accumulate(scaled[:, ::-1], axis=1)[:, ::-1]
    out = np.empty_like(p)
    np.put_along_axis(out, order, stepped, axis=1)
    return out
