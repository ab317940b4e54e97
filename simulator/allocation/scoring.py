"""Balance scores of covariate-constrained randomisation (Raab & Butcher 2001, Stat Med
20:351; Li et al. 2016, Stat Med 35:1565, and Li et al. 2017, Stat Med 36:3791; cvcrand).

Two codings live here.

* The simulator's score (``balance_matrix``, ``l2_scores``, ``keep_best``): each balance column
  is standardised by its SD over teams (ddof = 1, as R's ``scale``); categorical covariates
  become one 0/1 indicator per category (none dropped, unlike cvcrand, which drops the first
  level), and columns without variation are dropped. The score of an allocation is the sum over
  columns of the squared difference in arm means.
* cvcrand's score, reproduced exactly (``balance_design_matrix``, ``cvcrand_l2_scores``,
  ``cvcrand_l1_scores``, ``kept_space``), from cvcrand 0.1.1 ``R/cvrall.R`` (Yu, Li, Gallis &
  Turner 2019, R Journal 11:191): dummies dropping the first level, each column centred and
  divided by its SD over all clusters (times the user weight w_k), and for each allocation the
  sum over the treated clusters, s_k = sum_{i in T} w_k (x_ik - xbar_k) / s_k. The l2 score is
  sum_k s_k^2 = (n_T n_C / n)^2 sum_k (w_k / s_k)^2 (xbar_Tk - xbar_Ck)^2, and the l1 score is
  sum_k |s_k| = (n_T n_C / n) sum_k (w_k / s_k) |xbar_Tk - xbar_Ck|. (The cvcrand vignette
  writes the user weight d_k outside the square; the code, which these functions follow,
  multiplies the columns by w_k, so l2 weighs a column by w_k^2.)

  The arithmetic follows R's step by step so that ties and the cutoff fall as in R: means and
  SDs as R's ``mean`` and ``sd`` compute them (long-double accumulation with a correction pass),
  the matrix product as the reference BLAS ``dgemm`` sums it (over clusters in index order), and
  the row sums as R's ``sum`` (long double). ``numpy.longdouble`` is the x86-64 80-bit type R
  uses there; where it is plain double (as R's LDOUBLE is on arm64 macOS) results may differ in
  the last bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from simulator.allocation.covariates import dummy_columns, expanded_columns

CHUNK = 65_536
RELATIVE_TIE = 1e-9


def balance_matrix(covariates: Mapping[str, np.ndarray],
                   names: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """(K, p) standardised, centred balance columns and their labels (constant columns dropped)."""
    x, labels = expanded_columns(covariates, names)
    if x.shape[0] < 2:
        return np.zeros((x.shape[0], 0)), []
    sd = x.std(axis=0, ddof=1)
    scale = np.maximum(np.abs(x).max(axis=0, initial=0.0), 1.0)
    keep = sd > 1e-12 * scale
    z = (x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep]
    return z, [label for label, kept in zip(labels, keep) if kept]


def l2_scores(arms: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(M,) sum of squared arm-mean differences of the centred columns ``z`` for each row of
    ``arms`` (M, K), all with the same arm size n.

    As z is centred, the control sum is minus the intervention sum, so the difference in means
    is (arms @ z) (1/n + 1/(K - n)): one matrix product, done in row chunks to bound memory.
    """
    m, k = arms.shape
    if m == 0 or z.shape[1] == 0:
        return np.zeros(m)
    n = int(arms[0].sum())
    factor = 1.0 / n + 1.0 / (k - n)
    out = np.empty(m)
    for start in range(0, m, CHUNK):
        diff = (arms[start:start + CHUNK].astype(float) @ z) * factor
        out[start:start + CHUNK] = np.einsum("mp,mp->m", diff, diff)
    return out


def keep_best(scores: np.ndarray, fraction: float) -> tuple[np.ndarray, float]:
    """Indices of the best-balanced ``fraction`` of the M scores, and the cutoff.

    n_keep = max(1, floor(q M)); the cutoff is the n_keep-th smallest score, widened by
    1e-9 x the largest score so that allocations tied up to rounding (e.g. an allocation and its
    mirror image) are kept together. Ties at the cutoff are all kept.
    """
    n_keep = max(1, int(np.floor(fraction * scores.size + 1e-9)))
    cutoff = float(np.partition(scores, n_keep - 1)[n_keep - 1])
    cutoff += RELATIVE_TIE * float(scores.max())
    return np.flatnonzero(scores <= cutoff), cutoff


def pair_concordance(arms: np.ndarray) -> np.ndarray:
    """(K, K) share of rows of ``arms`` in which teams i and j are in the same arm."""
    m, k = arms.shape
    together = np.zeros((k, k))
    for start in range(0, m, CHUNK):
        a = arms[start:start + CHUNK].astype(float)
        together += a.T @ a + (1 - a).T @ (1 - a)
    return together / m


def r_mean(x: np.ndarray) -> np.ndarray:
    """Column means of x (n, p) exactly as R's ``mean`` (summary.c ``rmean``): a long-double
    sum over rows in order, divided by n, then one correction pass adding mean(x - m)."""
    xl = np.asarray(x, dtype=np.longdouble)
    m = np.add.accumulate(xl, axis=0)[-1] / xl.shape[0]
    fine = np.isfinite(m)
    correction = np.add.accumulate(xl - m, axis=0)[-1] / xl.shape[0]
    return np.where(fine, m + correction, m).astype(float)


def r_sd(x: np.ndarray) -> np.ndarray:
    """Column SDs of x (n, p) exactly as R's ``sd`` = sqrt(``var``) (cov.c): the mean as in
    :func:`r_mean`, then sum((x - mean)^2) in long double over rows in order, / (n - 1)."""
    x = np.asarray(x, dtype=float)
    dev = x - r_mean(x)
    squares = np.add.accumulate((dev * dev).astype(np.longdouble), axis=0)[-1]
    return np.sqrt((squares / (x.shape[0] - 1)).astype(float))


@dataclass(frozen=True, eq=False)
class BalanceDesign:
    """cvcrand's balance columns for K clusters and p columns (dummies included).

    x: (K, p) raw columns; columns: labels (``name=level`` for dummies); sources: covariate of
    each column; weights: (p,) user weights w_k; center, scale: (p,) R mean and SD of x;
    z: (K, p) ((x - center) * weights) / scale, the matrix cvrall multiplies by the allocations;
    dropped: labels of constant columns left out (``drop_constant``).
    """

    x: np.ndarray
    columns: tuple[str, ...]
    sources: tuple[str, ...]
    weights: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    z: np.ndarray
    dropped: tuple[str, ...] = ()


def column_weights(names: Sequence[str], sources: Sequence[str],
                   weights: Mapping[str, float] | Sequence[float] | None) -> np.ndarray:
    """(p,) weight of each column: the weight of its covariate (cvrall replicates a categorical
    covariate's weight over its dummies); 1 for all when ``weights`` is None."""
    if weights is None:
        return np.ones(len(sources))
    if not isinstance(weights, Mapping):
        if len(weights) != len(names):
            raise ValueError(f"{len(weights)} weights for {len(names)} covariates {list(names)}")
        weights = dict(zip(names, weights))
    missing = sorted(set(sources) - set(weights))
    if missing:
        raise ValueError(f"no weight given for covariates {missing}")
    return np.array([float(weights[s]) for s in sources])


def balance_design_matrix(covariates: Mapping[str, np.ndarray], names: Iterable[str], *,
                          categorical: Iterable[str] = (),
                          weights: Mapping[str, float] | Sequence[float] | None = None,
                          levels: Mapping[str, Sequence] | None = None,
                          drop_constant: bool = False) -> BalanceDesign:
    """cvcrand's ``cvrall`` design: dummy coding (:func:`.covariates.dummy_columns`), then
    each column centred, multiplied by its weight and divided by its SD over all clusters.

    ``weights`` are per covariate (a sequence in ``names`` order, or a mapping), as cvrall's
    ``weights``; a stratification factor in cvrall's ``stratify`` is a weight of 1000. A column
    without variation is an error (in cvrall its 0/0 makes every score NaN) unless
    ``drop_constant``, which leaves it out (it balances itself) and lists it in ``dropped``.
    """
    names = tuple(names)
    x, labels, sources = dummy_columns(covariates, names, categorical=categorical,
                                       levels=levels)
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 clusters, have {x.shape[0]}")
    w, scale = column_weights(names, sources, weights), r_sd(x)
    flat = ~(scale > 0)
    single = [n for n in names if n not in sources]          # a factor with one level
    if (flat.any() or single) and not drop_constant:
        raise ValueError("balance columns without variation across clusters: "
                         f"{[label for label, f in zip(labels, flat) if f] + single}")
    keep = ~flat
    x, w, scale = x[:, keep], w[keep], scale[keep]
    center = r_mean(x)
    return BalanceDesign(x=x, columns=tuple(np.array(labels, dtype=object)[keep]),
                         sources=tuple(np.array(sources, dtype=object)[keep]), weights=w,
                         center=center, scale=scale, z=((x - center) * w) / scale,
                         dropped=tuple([lab for lab, f in zip(labels, flat) if f] + single))


def arm_sums(z: np.ndarray, allocations: np.ndarray) -> np.ndarray:
    """(M, p) allocations (M, K) @ z (K, p), summed over clusters in index order from 0.0, as
    the reference BLAS ``dgemm`` behind R's ``%*%`` does (0/1 entries make each product exact)."""
    out = np.zeros((allocations.shape[0], z.shape[1]))
    for cluster in range(z.shape[0]):
        out += allocations[:, cluster, None] * z[cluster]
    return out


def r_row_sums(values: np.ndarray) -> np.ndarray:
    """(M,) row sums as R's ``sum`` (summary.c ``rsum``): long double, left to right."""
    return np.add.accumulate(values.astype(np.longdouble), axis=1)[:, -1].astype(float) \
        if values.shape[1] else np.zeros(values.shape[0])


def cvcrand_l2_scores(z: np.ndarray, allocations: np.ndarray) -> np.ndarray:
    """(M,) cvrall's l2 balance scores sum_k s_k^2 of allocations (M, K), 1 = treatment, for
    the design matrix ``BalanceDesign.z`` (K, p); done in row chunks to bound memory."""
    return _chunked(z, np.atleast_2d(allocations), lambda s: r_row_sums(s * s))


def cvcrand_l1_scores(z: np.ndarray, allocations: np.ndarray) -> np.ndarray:
    """(M,) cvrall's l1 balance scores sum_k |s_k| (see :func:`cvcrand_l2_scores`)."""
    return _chunked(z, np.atleast_2d(allocations), lambda s: r_row_sums(np.abs(s)))


def _chunked(z: np.ndarray, allocations: np.ndarray, reduce) -> np.ndarray:
    out = np.empty(allocations.shape[0])
    for start in range(0, allocations.shape[0], CHUNK):
        rows = allocations[start:start + CHUNK].astype(float)
        out[start:start + CHUNK] = reduce(arm_sums(z, rows))
    return out


@dataclass(frozen=True, eq=False)
class KeptSpace:
    """The constrained space as cvrall forms it: ``indices`` (n_kept,) of the kept allocations
    in order of increasing score; ``cutoff_score`` the score of the last kept (nan when at most
    one is kept, as cvrall reports it)."""

    indices: np.ndarray
    cutoff_score: float

    @property
    def n_kept(self) -> int:
        return int(self.indices.size)


TIE_RULE = ("exactly round(q * M) allocations kept (R's round: half to even), or n_schemes; "
            "they are the first in order of increasing score, ties broken by position in the "
            "candidate list (R's order() is stable), so allocations tied with the cutoff score "
            "may be left out")


def kept_count(m: int, fraction: float | None, n_schemes: int | None) -> int:
    """cvrall's count of kept schemes: round(M q) (``cutoff``) or ``numschemes``."""
    if n_schemes is not None:
        if not 1 <= n_schemes < m:
            raise ValueError(f"n_schemes={n_schemes}: must be in [1, {m - 1}] for {m} schemes")
        return int(n_schemes)
    if fraction is None or not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction!r}: cvrall's cutoff must be in (0, 1)")
    return int(round(m * fraction))


def kept_space(scores: np.ndarray, fraction: float | None = 0.1, *,
               n_schemes: int | None = None) -> KeptSpace:
    """The best-balanced allocations as cvrall keeps them (cvcrand 0.1.1 R/cvrall.R):
    ``subid <- order(BL)[1:cho]`` with ``cho <- round(R * cutoff)`` (see ``TIE_RULE``).

    NaN scores sort last, as in R. A count of 0 keeps one allocation (R's ``1:0`` is c(1, 0)).
    """
    scores = np.asarray(scores, dtype=float)
    count = kept_count(scores.size, fraction, n_schemes)
    order = np.argsort(scores, kind="stable")
    cutoff = float(scores[order[count - 1]]) if count > 1 else float("nan")
    return KeptSpace(indices=order[:max(count, 1)], cutoff_score=cutoff)
