"""Sufficient statistics of the random-intercept model for a batch of trials: all the REML
core (``reml``) and the df methods (``df``) read.

Per trial (teams padded to a common G with empty teams, n_j = 0, which add exactly 0):
n_j, the team means x̄_j and ȳ_j, and the pooled within-team cross-products Wxx, Wxy, Wyy
(sums of products of deviations from the team means). Two ways in: ``ancova_stats`` from the
team summaries of ``analysis.teams`` (X = [1, arm, baseline?, team-level dummies], where only
the baseline varies within teams), and ``design_stats`` from any y, X and groups of one trial.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np

from simulator.analysis.teams import Analysed, select


@dataclass(frozen=True)
class Stats:
    """Sufficient statistics of R trials with p columns, teams padded to G."""

    n_j: np.ndarray    # (R, G), 0 for padding
    xbar: np.ndarray   # (R, G, p)
    ybar: np.ndarray   # (R, G)
    wxx: np.ndarray    # (R, p, p)
    wxy: np.ndarray    # (R, p)
    wyy: np.ndarray    # (R,)
    n_obs: np.ndarray  # (R,)
    xx: np.ndarray     # (R, G, p²): x̄_j x̄_j' flattened

    def take(self, rows: np.ndarray) -> "Stats":
        return Stats(*(getattr(self, f.name)[rows] for f in fields(self)))

    @cached_property
    def dof(self) -> np.ndarray:
        return (self.n_obs - self.xbar.shape[2]).astype(float)


def ancova_stats(a: Analysed, dummies: np.ndarray, rows: np.ndarray, n_dummies: int,
                 baseline: bool) -> Stats:
    """Stats of trials ``rows`` (all with the same K) for X = [1, arm, baseline (if
    ``baseline``), first ``n_dummies`` columns of ``dummies``], teams padded to K; only the
    baseline has within-team deviations (the others' are exactly 0)."""
    tm, rt, dummy_columns = select(a, dummies, rows, n_dummies)
    width = int(a.width[rows[0]])
    assert (a.width[rows] == width).all(), "a block holds trials of one K"
    at, shape, p = (rt, a.slot[tm]), (rows.size, width), 2 + baseline + n_dummies
    columns = [np.ones(rt.size), a.arm[tm]] + ([a.bbar[tm]] if baseline else []) + dummy_columns
    n_j, xbar, ybar = np.zeros(shape), np.zeros(shape + (p,)), np.zeros(shape)
    n_j[at], xbar[at], ybar[at] = a.n_j[tm], np.column_stack(columns), a.ybar[tm]
    wxx, wxy = np.zeros((rows.size, p, p)), np.zeros((rows.size, p))
    if baseline:
        wxx[:, 2, 2], wxy[:, 2] = a.within[rows, 0], a.within[rows, 1]
    xx = (xbar[..., :, None] * xbar[..., None, :]).reshape(shape + (p * p,))
    return Stats(n_j, xbar, ybar, wxx, wxy, a.within[rows, 2], a.n_obs[rows], xx)


def usable_design(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> bool:
    """Shapes agree, data finite, groups int codes 0..G-1 all present with G ≥ 2, n > p."""
    if X.ndim != 2 or groups.dtype.kind not in "iu":
        return False
    n, p = X.shape
    if y.shape != (n,) or groups.shape != (n,) or n <= p or groups.min(initial=0) < 0:
        return False
    counts = np.bincount(groups)
    return bool(counts.size >= 2 and (counts > 0).all()
                and np.isfinite(y).all() and np.isfinite(X).all())


def design_stats(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> Stats:
    """Stats of one trial (a batch of one) from any (n,) y, (n, p) X and (n,) int group
    codes 0..G-1 (``usable_design``): one O(n p²) pass."""
    n_j = np.bincount(groups).astype(float)
    G = n_j.size
    sx = np.stack([np.bincount(groups, weights=col, minlength=G) for col in X.T], axis=1)
    xbar = sx / n_j[:, None]
    ybar = np.bincount(groups, weights=y, minlength=G) / n_j
    xc, yc = X - xbar[groups], y - ybar[groups]
    xx = (xbar[:, :, None] * xbar[:, None, :]).reshape(G, -1)
    return Stats(n_j[None], xbar[None], ybar[None], (xc.T @ xc)[None], (xc.T @ yc)[None],
                 np.array([yc @ yc]), np.array([y.size]), xx[None])
