"""Randomisation (permutation) test of the baseline-adjusted cluster-level effect.

Gail, Mark, Carroll, Green & Pee 1996 (Stat Med 15:1069), "On design considerations and
randomization-based inference for community intervention trials": the reference distribution
is the one the design itself generated, so allocations are re-drawn from the trial's own scheme
(STYLE.md principle 6; randomizr ``obtain_permutation_matrix``). Statistic (Hayes & Moulton
2017, "Cluster Randomised Trials", 2nd ed., ch. 9-10, covariate-adjusted two-stage analysis):

    stage 1   residuals of the OLS of y on [1, baseline, stratum dummies], arm ignored
    stage 2   r_j = team mean residual;  T(a) = mean(r_j : a_j = 1) − mean(r_j : a_j = 0)

For B allocations at once, T is (A r)/n₁ − ((1 − A) r)/n₀ with A the (B, K) arm matrix.

Confidence interval by test inversion (Gail et al. 1996, §4): under H₀: δ = d (an additive
effect d on every intervention patient) the stage-1 residuals of y − d·arm are M y − d M arm,
with M the stage-1 residual maker, so every statistic is linear in d: T_a(d) = T_a − d k_a with
k_a = T_a computed on the team means q_j of M arm. The set {d : p(d) > α} is found exactly by
sweeping the points where |T_a − d k_a| = |T_obs − d k_obs| (two per allocation).
"""
from __future__ import annotations

import numpy as np

from simulator.analysis.cluster import stage_one
from simulator.analysis.records import Estimate, ObservedTrial

_TIE = 1e-9  # statistics equal to this relative precision count as ties (|T*| ≥ |T_obs|)


def team_residuals(trial: ObservedTrial, adjust_for_strata: bool):
    """(analysed team ids, r_j, q_j): team means of the stage-1 residuals of y and of the
    patient-level arm indicator (module docstring, ``cluster.stage_one``); complete cases,
    teams as randomised."""
    terms = ("baseline", "strata") if adjust_for_strata else ("baseline",)
    with np.errstate(all="ignore"):
        a, means, _ = stage_one([trial], terms, arm=True)
    return a.team, means[:, 0], means[:, 1]


def arm_differences(arms: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(B, V) differences in arm means of each column of ``values`` (K, V) under each row of
    the (B, K) 0/1 matrix ``arms``; nan for rows with an empty arm."""
    arms = arms.astype(float)
    n1 = arms.sum(axis=1, keepdims=True)
    n0 = arms.shape[1] - n1
    sum1 = arms @ values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n1 > 0) & (n0 > 0), sum1 / n1 - (values.sum(axis=0) - sum1) / n0, np.nan)


def reference_allocations(trial: ObservedTrial, teams: np.ndarray, permutations: int,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """(arms (B, K_analysed), probabilities or None): the whole space from
    ``trial.scheme.enumerate()`` when it has at most ``permutations`` rows (exact test), else
    ``permutations`` draws from ``trial.scheme.resample`` (Monte Carlo, probabilities None).
    With no scheme: complete re-randomisation of the analysed teams, arm sizes as observed.
    Columns are restricted to the analysed teams."""
    scheme = trial.scheme
    if scheme is None:
        n1 = int(trial.arm[teams].sum())
        keys = rng.random((permutations, teams.size))
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
        return (ranks < n1).astype(np.int8), None
    size = getattr(scheme, "space_size", None)
    space = scheme.enumerate() if size is None or size <= permutations else None
    if space is not None and space[0].shape[0] <= permutations:
        return space[0][:, teams], np.asarray(space[1], dtype=float)
    return np.asarray(scheme.resample(rng, permutations))[:, teams], None


def p_value(t_ref: np.ndarray, t_obs: float, weights: np.ndarray | None) -> float:
    """Exact: Σ P(a) over allocations with |T_a| ≥ |T_obs|, over Σ P(a). Monte Carlo:
    (1 + #{|T*| ≥ |T_obs|}) / (1 + B), which keeps the test valid (Phipson & Smyth 2010,
    Stat Appl Genet Mol Biol 9:39)."""
    extreme = np.abs(t_ref) >= np.abs(t_obs) * (1.0 - _TIE)
    if weights is None:
        return float((1.0 + extreme.sum()) / (1.0 + t_ref.size))
    return float(weights[extreme].sum() / weights.sum())


def _sign_changes(t, k, t_obs, k_obs):
    """Per allocation: is |t − d k| ≥ |t_obs − d k_obs| as d → −∞, and the (two) points
    where that comparison flips (nan where there is none). Inputs scaled to O(1)."""
    a, b, c = k * k - k_obs * k_obs, -2.0 * (t * k - t_obs * k_obs), t * t - t_obs * t_obs
    a, b = np.where(np.abs(a) < _TIE, 0.0, a), np.where(np.abs(b) < _TIE, 0.0, b)
    start = np.where(a != 0.0, a > 0.0, np.where(b != 0.0, b < 0.0, c >= -_TIE))
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = np.sqrt(b * b - 4.0 * a * c)  # nan: no real root, no flip
        quad = np.sort(np.stack([(-b - disc) / (2 * a), (-b + disc) / (2 * a)], 1), axis=1)
        lin = np.stack([-c / b, np.full_like(c, np.nan)], axis=1)
    roots = np.where((a != 0.0)[:, None], quad, np.where((b != 0.0)[:, None], lin, np.nan))
    roots[(a != 0.0) & ~(disc > 0.0)] = np.nan  # a double root touches without flipping
    return start, roots


def inversion_ci(t_ref, k_ref, t_obs, k_obs, weights, alpha) -> tuple[float, float]:
    """Hull of {d : p(d) > alpha} (module docstring); ±inf where it is unbounded."""
    scale_t = max(np.abs(t_ref).max(initial=0.0), abs(t_obs)) or 1.0
    scale_k = max(np.abs(k_ref).max(initial=0.0), abs(k_obs)) or 1.0
    start, roots = _sign_changes(t_ref / scale_t, k_ref / scale_k, t_obs / scale_t, k_obs / scale_k)
    w = np.ones(t_ref.size) if weights is None else weights
    flip = np.where(start, -w, w)  # the first flip leaves the start state, the second returns
    where = roots.ravel()
    delta = np.stack([flip, -flip], axis=1).ravel()
    order = np.argsort(where[np.isfinite(where)])
    where, delta = where[np.isfinite(where)][order], delta[np.isfinite(roots.ravel())][order]
    counts = (w * start).sum() + np.concatenate([[0.0], np.cumsum(delta)])  # one per cell
    p = (counts + 1.0) / (w.size + 1.0) if weights is None else counts / w.sum()
    inside = np.flatnonzero(p > alpha)
    if inside.size == 0:
        return float("nan"), float("nan")
    edges = np.concatenate([[-np.inf], where, [np.inf]]) * scale_t / scale_k
    return float(edges[inside[0]]), float(edges[inside[-1] + 1])


def permutation_test(trial: ObservedTrial, *, alpha: float = 0.05, permutations: int = 500,
                     rng: np.random.Generator, adjust_for_strata: bool = True) -> Estimate:
    """Randomisation test of the baseline-adjusted team-level arm difference (module docstring).

    Estimate T_obs; p exact (probability-weighted) when the scheme's whole space has at most
    ``permutations`` allocations, else Monte Carlo with the +1 rule; CI by test inversion
    (±inf when no finite bound exists, e.g. too few allocations for level alpha). ``se`` is
    the randomisation SE of T under H₀: δ = d̂, the shift at which T_obs(d) = 0: √(E T*(d̂)²)
    over the reference set (E T* = 0 under complete randomisation); df nan. Teams without an analysed patient are left out and
    re-drawn allocations restricted to the others; re-drawn allocations leaving an arm empty
    are dropped (probabilities renormalised). Failure gives ``Estimate.failed()``.
    """
    teams, r, q = team_residuals(trial, adjust_for_strata)
    observed = trial.arm[teams][None, :]
    if teams.size < 3 or not np.isfinite(r).all() or not 0 < observed.sum() < teams.size:
        return Estimate.failed()
    arms, weights = reference_allocations(trial, teams, int(permutations), rng)
    (t_obs, k_obs), = arm_differences(observed, np.column_stack([r, q]))
    ref = arm_differences(arms, np.column_stack([r, q]))
    if not k_obs > 0:  # stage 1 absorbed the arm (degenerate): no shift model, no CI
        return Estimate.failed()
    ref[(arms == observed).all(axis=1)] = t_obs, k_obs  # re-drawn observed rows: exact ties
    usable = np.isfinite(ref[:, 0])
    ref, weights = ref[usable], None if weights is None else weights[usable]
    if ref.shape[0] == 0 or (weights is not None and not weights.sum() > 0):
        return Estimate.failed()
    w = np.ones(ref.shape[0]) if weights is None else weights
    shifted = ref[:, 0] - ref[:, 1] * (t_obs / k_obs)  # T*(d̂) at d̂ = T_obs / k_obs
    se = float(np.sqrt((w * shifted ** 2).sum() / w.sum()))
    low, high = inversion_ci(ref[:, 0], ref[:, 1], t_obs, k_obs, weights, alpha)
    return Estimate(float(t_obs), se, float("nan"), low, high,
                    p_value(ref[:, 0], t_obs, weights), True)
