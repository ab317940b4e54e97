"""The constrained randomisation space as cvcrand's ``cvrall`` forms, summarises and checks it
(cvcrand 0.1.1, R/cvrall.R; Yu, Li, Gallis & Turner 2019, R Journal 11:191; Gallis et al. 2018,
Stata Journal 18:357).

* :func:`cvcrand_space`: candidates (all C(n, n_T) allocations in ``combn`` order when there are
  at most ``size``, otherwise the distinct ones among ``size`` uniform draws), their balance
  scores, the kept space (:func:`.scoring.kept_space`) and one allocation drawn uniformly from
  it with the injected Generator (cvrall: ``sample(subid, 1)`` after ``set.seed``; R's stream is
  not reproduced, so the chosen allocation differs from cvcrand's, the space does not).
* :func:`space_summary`: the numbers cvrall prints in ``bscores`` and ``overall_allocations``.
  Mean and SD are R's ``mean`` and ``sd`` (n - 1); quantiles are R's default, type 7
  (Hyndman & Fan 1996): x[lo] + h (x[hi] - x[lo]) at index 1 + (M - 1) p.
* :func:`coincidence` and :func:`validity_check`: cvrall's ``check_validity`` (Bailey & Rowley
  1987, Proc R Soc A 410:105): for every pair of clusters, in ``combn`` order, how many kept
  allocations put them in the same arm, and the pairs always together or always apart.
* :func:`baseline_table`: cvrall's ``baseline_table`` (tableone) numbers: mean and SD by arm
  of each numeric covariate, counts by arm of each category.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from simulator.allocation.covariates import is_categorical
from simulator.allocation.scoring import (TIE_RULE, BalanceDesign, KeptSpace, cvcrand_l1_scores, cvcrand_l2_scores,
                      kept_space, r_mean, r_sd)
from simulator.allocation.space import all_subsets, first_unique_rows, random_subsets

METRICS = {"l1": cvcrand_l1_scores, "l2": cvcrand_l2_scores}
QUANTILES = {"score_q05": 0.05, "score_q10": 0.10, "score_q20": 0.20, "score_q25": 0.25,
             "score_q30": 0.30, "score_q50": 0.50, "score_q75": 0.75, "score_q95": 0.95}
QUANTILE_RULE = "R type 7: x[lo] + h (x[hi] - x[lo]) at index 1 + (M - 1) p (numpy 'linear')"


@dataclass(frozen=True, eq=False)
class CvcrandSpace:
    """allocations (M, n) int8 candidates (1 = treatment), scores (M,), kept, chosen (row of
    ``allocations`` drawn from the kept space), enumerated (all C(n, n_T) listed), n_drawn
    (schemes simulated before removing repeats; M when enumerated), metric."""

    allocations: np.ndarray
    scores: np.ndarray
    kept: KeptSpace
    chosen: int
    enumerated: bool
    n_drawn: int
    metric: str


def candidates(n: int, n_treatment: int, size: int, *,
               rng: np.random.Generator) -> tuple[np.ndarray, bool, int]:
    """cvrall's candidate set: (allocations, enumerated, number drawn)."""
    if math.comb(n, n_treatment) <= size:
        everything = all_subsets(n, n_treatment)
        return everything, True, everything.shape[0]
    return first_unique_rows(random_subsets(rng, size, n, n_treatment)), False, size


def cvcrand_space(design: BalanceDesign, n_treatment: int, *, rng: np.random.Generator,
                  metric: str = "l2", fraction: float | None = 0.1,
                  n_schemes: int | None = None, size: int = 50_000) -> CvcrandSpace:
    """Constrained randomisation as cvrall does it, for the clusters of ``design``."""
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r}: allowed {', '.join(METRICS)}")
    allocations, enumerated, drawn = candidates(design.z.shape[0], n_treatment, size, rng=rng)
    scores = METRICS[metric](design.z, allocations)
    kept = kept_space(scores, fraction, n_schemes=n_schemes)
    chosen = int(kept.indices[rng.integers(kept.n_kept)])
    return CvcrandSpace(allocations=allocations, scores=scores, kept=kept, chosen=chosen,
                        enumerated=enumerated, n_drawn=drawn, metric=metric)


def r_quantile(x: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """R's ``quantile(x, probs)`` with the default type 7, computed as R does."""
    x = np.sort(np.asarray(x, dtype=float))
    index = 1 + (x.size - 1) * np.asarray(probs, dtype=float)
    lo, hi = np.floor(index).astype(int), np.ceil(index).astype(int)
    qs = x[lo - 1]
    h = index - lo
    blend = (index > lo) & (x[hi - 1] != qs)
    return np.where(blend, (1 - h) * qs + h * x[hi - 1], qs)


def space_summary(scores: np.ndarray, kept: KeptSpace, chosen: int, *, metric: str,
                  enumerated: bool = True, n_drawn: int | None = None) -> dict:
    """The ``space.json`` record: space sizes, the cutoff and chosen scores and the score
    distribution over all M candidates (cvrall's ``bscores``, unrounded), plus the rules."""
    scores = np.asarray(scores, dtype=float)
    column = scores[:, None]
    out = {"n_allocations": int(scores.size), "n_kept": kept.n_kept, "metric": metric,
           "enumerated": bool(enumerated),
           "n_drawn": int(scores.size if n_drawn is None else n_drawn),
           "cutoff_score": kept.cutoff_score, "chosen_score": float(scores[chosen]),
           "score_mean": float(r_mean(column)[0]), "score_sd": float(r_sd(column)[0]),
           "score_min": float(scores.min())}
    out.update(zip(QUANTILES, map(float, r_quantile(scores, list(QUANTILES.values())))))
    out.update(score_max=float(scores.max()), tie_rule=TIE_RULE, quantile_rule=QUANTILE_RULE)
    return out


def coincidence(kept_allocations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, 2) cluster index pairs i < j in ``combn`` order, and (P,) the number of kept
    allocations (rows of ``kept_allocations``) with clusters i and j in the same arm."""
    a = np.asarray(kept_allocations, dtype=float)
    together = a.T @ a + (1 - a).T @ (1 - a)
    i, j = np.triu_indices(a.shape[1], k=1)
    return np.stack([i, j], axis=1), np.rint(together[i, j]).astype(np.int64)


def describe_counts(values: np.ndarray) -> dict:
    """cvrall's row of ``cluster_coin_des``: mean, SD, min, quartiles, max (unrounded)."""
    v = np.asarray(values, dtype=float)[:, None]
    q = r_quantile(v[:, 0], [0, 0.25, 0.5, 0.75, 1])
    return {"mean": float(r_mean(v)[0]), "sd": float(r_sd(v)[0]), "min": float(q[0]),
            "q25": float(q[1]), "median": float(q[2]), "q75": float(q[3]), "max": float(q[4])}


def validity_check(kept_allocations: np.ndarray, names: Sequence[str] | None = None, *,
                   same_arm_high: float = 0.75, same_arm_low: float = 0.25) -> dict:
    """cvrall's ``check_validity`` over the kept space: the ``cluster_coin_des`` rows (the
    fractions rounded to 4 decimals first, as cvrall does), the pairs (named ``"a and b"``) in
    the same arm at least ``same_arm_high`` or at most ``same_arm_low`` of the time (rounded
    fractions, as cvrall), and those always together or always apart. The last two use the
    exact counts; cvrall uses the rounded fraction, which differs only when a pair is split in
    fewer than 1 in 20,000 kept allocations."""
    pairs, same = coincidence(kept_allocations)
    m, k = np.asarray(kept_allocations).shape
    names = [str(i + 1) for i in range(k)] if names is None else list(names)
    frac = np.array([round(s / m, 4) for s in same])
    label = np.array([f"{names[i]} and {names[j]}" for i, j in pairs], dtype=object)
    return {"n_kept": int(m), "samecount": describe_counts(same),
            "samefrac": describe_counts(frac), "diffcount": describe_counts(m - same),
            "difffrac": describe_counts(np.array([round(1.0 - f, 4) for f in frac])),
            "always_together": label[same == m].tolist(), "always_apart": label[same == 0].tolist(),
            "high_pairs": label[frac >= same_arm_high].tolist(),
            "low_pairs": label[frac <= same_arm_low].tolist()}


def baseline_table(covariates: Mapping[str, np.ndarray], names: Iterable[str],
                   arm: np.ndarray, *, categorical: Iterable[str] = ()) -> dict:
    """By arm (0, 1): the number of clusters, then for each covariate either its mean and SD
    (numeric) or the count of clusters at each level (categorical; sorted levels)."""
    arm, categorical = np.asarray(arm), set(categorical)
    table = {"n": {a: int(np.sum(arm == a)) for a in (0, 1)}}
    for name in names:
        col = np.asarray(covariates[name])
        if name in categorical or is_categorical(col):
            table[name] = {a: {str(v): int(np.sum((col == v) & (arm == a)))
                               for v in np.unique(col)} for a in (0, 1)}
        else:
            table[name] = {a: (float(r_mean(col[arm == a, None])[0]),
                               float(r_sd(col[arm == a, None])[0])) for a in (0, 1)}
    return table
