"""The l2 balance score of covariate-constrained randomisation (Raab & Butcher 2001, Stat Med
20:351; Li et al. 2016, Stat Med 35:1565, and Li et al. 2017, Stat Med 36:3791; cvcrand).

Each balance column is standardised by its SD over teams (ddof = 1, as R's ``scale``);
categorical covariates become one 0/1 indicator per category (none dropped, unlike cvcrand,
which drops the first level), and columns without variation are dropped. The score of an
allocation is the sum over columns of the squared difference in arm means.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .covariates import expanded_columns

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
