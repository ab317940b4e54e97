"""``mixed_ancova`` and ``cluster_summary`` for many trials at once, vectorised over trials.

Same methods, rules and numbers as ``mixed.py`` and ``cluster.py``, arithmetic arranged
differently. One pass of segment sums over all patients of all trials (global team index)
gives team summaries; only the baseline varies within teams, so the pooled within-team
cross-products are three numbers per trial (Wbb, Wby, Wyy). Results are ``EstimateArrays``.

Mixed model: the REML criterion profiled over β and σ²_w (Harville 1977, JASA 72:320;
Searle, Casella & McCulloch 1992, ch. 6) and its exact derivatives (``mixed.py`` docstring)
are evaluated for all trials and grid γ in one array expression, teams padded to the
trial's randomised team count K with empty teams (n_j = 0: w_j = 0 adds exactly 0). The
grid, γ = 0 boundary, Hermite start, bracketed Newton (Press et al. §9.4) and acceptance
rules of ``mixed.gamma_candidates`` / ``mixed.fit_from_stats`` run with per-trial masks. H(γ) is
inverted by the sweep operator (Goodnight 1979, Am. Stat. 33:149); an exactly zero pivot
fails the fit (where ``numpy.linalg.inv`` raises in ``mixed.py``), and so does a
non-positive variance inflation factor (X'X not numerically positive definite). Trials are
fitted in blocks of one column count (strata), one K and at most ``_BLOCK`` trials.
Satterthwaite df (``df_method="satterthwaite"``): the closed forms of ``mixed_df`` for the
arm contrast, per trial, padding teams masked out.

Row independence: trial r's answer is bit-for-bit the same whichever trials share its batch
and wherever it sits. Its padded width K is its own, every sum over teams runs along a
trial's own contiguous axis (segment sums, bincounts, per-matrix products; no ``einsum``,
whose loop order may follow the strides of the whole stack), and nothing reduces across
trials, so a trial's arithmetic does not depend on the others
(tests/test_engine_batched.py).

Cluster summary (Hayes & Moulton 2017, ch. 9): stage-1 OLS of y on [1, baseline, stratum
dummies] from cross-products centred at trial means, residual team means ȳ_j − x̄_j'b,
then the pooled two-sample t on team values, per trial by segment sums.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from simulator.analysis.batched_data import (_BLOCK, _CONSTANT, Analysed, EstimateArrays, analyse_teams,
                           t_estimates)
from simulator.analysis.batched_reml import _mv, _select, _sweep, batch_stats, fit_reml, satterthwaite_arm
from simulator.analysis.cluster import _ZERO_SD
from simulator.analysis.records import ObservedTrial

__all__ = ["BATCH_DF_METHODS", "EstimateArrays", "cluster_summary_batch", "mixed_ancova_batch"]

def _blocks(mask: np.ndarray, labels: np.ndarray, widths: np.ndarray | None = None):
    """(label, rows) for each label (and width, if given) among ``mask``, rows in blocks of
    at most ``_BLOCK``. Which rows share a block never changes a row's answer."""
    keys = np.stack([labels, np.zeros_like(labels) if widths is None else widths], 1)
    for label, width in np.unique(keys[mask], axis=0):
        rows = np.flatnonzero(mask & (labels == label) & (keys[:, 1] == width))
        for start in range(0, rows.size, _BLOCK):
            yield int(label), rows[start:start + _BLOCK]


BATCH_DF_METHODS = ("between_within", "satterthwaite")


def mixed_ancova_batch(trials: Sequence[ObservedTrial], *, alpha: float = 0.05,
                       adjust_for_strata: bool = True,
                       df_method: str = "between_within") -> EstimateArrays:
    """``[mixed.mixed_ancova(t, ...) for t in trials]`` as arrays (``.records()`` for the
    list of ``Estimate``), computed as one batch; ``df_method`` one of
    ``BATCH_DF_METHODS``."""
    if df_method not in BATCH_DF_METHODS:
        raise ValueError(f"df_method={df_method!r}: batched only for {list(BATCH_DF_METHODS)}")
    R = len(trials)
    if R == 0:
        return t_estimates(*np.zeros((3, 0)), alpha, np.zeros(0, bool))
    with np.errstate(all="ignore"):
        a = analyse_teams(trials, with_baseline=True)
        n_dummies = np.maximum(a.n_levels - 1, 0) if adjust_for_strata else np.zeros(R, np.intp)
        df = a.n_teams - (n_dummies + 2)  # analysed teams − team-level columns
        arms = np.bincount(a.trial, a.arm == 1, R) * np.bincount(a.trial, a.arm == 0, R)
        usable = (arms > 0) & (df >= 1) & (a.n_obs > n_dummies + 3) & (a.n_teams >= 2) & a.finite
        est, var, ok = np.full(R, np.nan), np.full(R, np.nan), np.zeros(R, bool)
        df = df.astype(float)
        for q, rows in _blocks(usable, n_dummies, a.width):
            s = batch_stats(a, rows, q)
            f = fit_reml(s)
            est[rows] = np.where(f.ok, f.beta[:, 1], np.nan)
            var[rows] = np.where(f.ok, f.sigma2 * f.Hinv[:, 1, 1], np.nan)
            ok[rows] = f.ok
            if df_method == "satterthwaite":
                df[rows] = satterthwaite_arm(s, f)
        return t_estimates(est, np.sqrt(var), df, alpha, ok)


def _residual_means(a: Analysed, rows: np.ndarray, n_dummies: int):
    """(team mask, team means of stage-1 residuals) of trials ``rows``: OLS of y on
    [1, baseline, dummies] from cross-products centred at trial means; a constant baseline
    gets coefficient 0 (the same residuals as ``lstsq`` on the rank-deficient X)."""
    tm, rt, dummies = _select(a, rows, n_dummies)
    R, n_j, n = rows.size, a.n_j[tm], a.n_obs[rows].astype(float)
    Z = np.column_stack([a.bbar[tm]] + dummies)
    zc = Z - np.stack([np.bincount(rt, n_j * z, R) for z in Z.T], 1)[rt] / n[rt, None]
    yc = a.ybar[tm] - (np.bincount(rt, n_j * a.ybar[tm], R) / n)[rt]
    S, Sy = np.zeros((R,) + Z.shape[1:] * 2), np.zeros((R, Z.shape[1]))
    np.add.at(S, rt, n_j[:, None, None] * zc[:, :, None] * zc[:, None, :])
    np.add.at(Sy, rt, n_j[:, None] * zc * yc[:, None])
    S[:, 0, 0] += a.within[rows, 0]
    Sy[:, 0] += a.within[rows, 1]
    const = S[:, 0, 0] <= _CONSTANT * (a.within[rows, 0] + np.bincount(rt, n_j * Z[:, 0] ** 2, R))
    S[const, 0, :], S[const, :, 0], Sy[const, 0] = 0.0, 0.0, 0.0
    S[const, 0, 0] = 1.0
    coef = _mv(_sweep(S)[0], Sy)
    return tm, yc - (zc * coef[rt]).sum(1)


def _two_sample(a: Analysed, values: np.ndarray, df_lost: np.ndarray,
                alpha: float) -> EstimateArrays:
    """``cluster.two_sample_t`` on team ``values`` by arm, for every trial."""
    R, is1, is0 = a.n_teams.size, a.arm == 1, a.arm == 0
    n1, n0 = np.bincount(a.trial, is1, R), np.bincount(a.trial, is0, R)
    m1 = np.bincount(a.trial, np.where(is1, values, 0.0), R) / n1
    m0 = np.bincount(a.trial, np.where(is0, values, 0.0), R) / n0
    dev = np.where(is1, values - m1[a.trial], np.where(is0, values - m0[a.trial], 0.0))
    sd = np.sqrt(np.bincount(a.trial, dev * dev, R) / (n1 + n0 - 2))
    scale = np.zeros(R)
    np.maximum.at(scale, a.trial, np.where(is1 | is0, np.abs(values), 0.0))
    df = n1 + n0 - 2 - df_lost
    ok = (n1 >= 1) & (n0 >= 1) & (df >= 1) & (sd > _ZERO_SD * (1.0 + scale))
    return t_estimates(m1 - m0, sd * np.sqrt(1.0 / n1 + 1.0 / n0), df, alpha, ok)


def cluster_summary_batch(trials: Sequence[ObservedTrial], *, alpha: float = 0.05,
                          adjusted: bool = True, adjust_for_strata: bool = True
                          ) -> EstimateArrays:
    """``[cluster.cluster_summary(t, ...) for t in trials]`` as arrays (``.records()`` for
    the list of ``Estimate``), computed as one batch."""
    R = len(trials)
    if R == 0:
        return t_estimates(*np.zeros((3, 0)), alpha, np.zeros(0, bool))
    strata = adjusted and adjust_for_strata
    with np.errstate(all="ignore"):
        a = analyse_teams(trials, with_baseline=adjusted)
        n_dummies = np.maximum(a.n_levels - 1, 0) if strata else np.zeros(R, np.intp)
        values = a.ybar if not adjusted else np.full(a.n_j.size, np.nan)
        for q, rows in _blocks((a.n_teams > 0) & adjusted, n_dummies):
            tm, means = _residual_means(a, rows, q)
            values[tm] = means
        return _two_sample(a, values, n_dummies, alpha)
