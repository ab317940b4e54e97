"""Cluster-level (two-stage) analysis and the naive individual-level t-test, for a batch of
trials at once; one trial is a batch of one.

``cluster_summary`` follows Hayes & Moulton 2017, "Cluster Randomised Trials", 2nd ed.,
ch. 9: the team is the unit of analysis, so the t-test on team summaries is valid however
patients correlate within teams. Adjusted, stage 1 is the OLS of y on [1, baseline?, factor
dummies] over all analysed patients, arm ignored, from cross-products centred at each
trial's means (team summaries of ``analysis.teams``: only the baseline varies within
teams); the team values are the team means of its residuals, ȳ_j − x̄_j'b. Stage 2 is the
pooled two-sample t on team values, per trial by segment sums. ``individual_ttest`` ignores
clustering on purpose: it is the wrong analysis users compare against (its SE is too small
by about √(design effect)).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from simulator.analysis.inference import EstimateArrays, resolve_adjustments, t_estimates
from simulator.analysis.linalg import mv, sweep
from simulator.analysis.records import Estimate, ObservedTrial
from simulator.analysis.teams import Analysed, analyse_teams, blocks, factor_dummies, select

_ZERO_SD = 1e-12   # a pooled SD this small relative to the data's scale counts as zero
_CONSTANT = 1e-20  # baseline centred SS below this share of its raw SS: baseline constant


def two_sample_t(trial: np.ndarray, arm: np.ndarray, values: np.ndarray, R: int,
                 df_lost, alpha: float) -> EstimateArrays:
    """Equal-variance two-sample t for each of R trials: mean of ``values`` with arm 1 −
    mean with arm 0 (``trial``: each value's trial), pooled-variance SE with the usual
    n₁ + n₂ − 2 denominator, t on n₁ + n₂ − 2 − ``df_lost`` df (covariates fitted at an
    earlier stage). Fails for an empty arm, no df left or zero variance."""
    is1, is0 = arm == 1, arm == 0
    n1, n0 = np.bincount(trial, is1, R), np.bincount(trial, is0, R)
    m1 = np.bincount(trial, np.where(is1, values, 0.0), R) / n1
    m0 = np.bincount(trial, np.where(is0, values, 0.0), R) / n0
    dev = np.where(is1, values - m1[trial], np.where(is0, values - m0[trial], 0.0))
    sd = np.sqrt(np.bincount(trial, dev * dev, R) / (n1 + n0 - 2))
    scale = np.zeros(R)
    np.maximum.at(scale, trial, np.where(is1 | is0, np.abs(values), 0.0))
    df = n1 + n0 - 2 - df_lost
    ok = (n1 >= 1) & (n0 >= 1) & (df >= 1) & (sd > _ZERO_SD * (1.0 + scale))
    return t_estimates(m1 - m0, sd * np.sqrt(1.0 / n1 + 1.0 / n0), df, alpha, ok)


def _centred_y(a: Analysed, tm, rt, R: int, n: np.ndarray) -> np.ndarray:
    """ȳ_j of the teams ``tm`` centred at their trial's patient mean."""
    return a.ybar[tm] - (np.bincount(rt, a.n_j[tm] * a.ybar[tm], R) / n)[rt]


def _residual_means(a: Analysed, dummies: np.ndarray, rows: np.ndarray, n_dummies: int,
                    baseline: bool):
    """(team mask, team means of stage-1 residuals) of trials ``rows``: OLS of y on
    [1, baseline?, dummies] from centred cross-products; a constant baseline gets
    coefficient 0 (the same residuals as least squares on the rank-deficient X)."""
    tm, rt, columns = select(a, dummies, rows, n_dummies)
    R, n_j, n = rows.size, a.n_j[tm], a.n_obs[rows].astype(float)
    columns = ([a.bbar[tm]] if baseline else []) + columns
    yc = _centred_y(a, tm, rt, R, n)
    if not columns:
        return tm, yc
    Z = np.column_stack(columns)
    zc = Z - np.stack([np.bincount(rt, n_j * z, R) for z in Z.T], 1)[rt] / n[rt, None]
    S, Sy = np.zeros((R,) + Z.shape[1:] * 2), np.zeros((R, Z.shape[1]))
    np.add.at(S, rt, n_j[:, None, None] * zc[:, :, None] * zc[:, None, :])
    np.add.at(Sy, rt, n_j[:, None] * zc * yc[:, None])
    if baseline:
        S[:, 0, 0] += a.within[rows, 0]
        Sy[:, 0] += a.within[rows, 1]
        raw = a.within[rows, 0] + np.bincount(rt, n_j * Z[:, 0] ** 2, R)
        const = S[:, 0, 0] <= _CONSTANT * raw
        S[const, 0, :], S[const, :, 0], Sy[const, 0] = 0.0, 0.0, 0.0
        S[const, 0, 0] = 1.0
    coef = mv(sweep(S)[0], Sy)
    return tm, yc - (zc * coef[rt]).sum(1)


def stage_one(trials: Sequence[ObservedTrial], terms, *, arm: bool = False):
    """(team summaries, per analysed team the mean of its stage-1 residuals of y (module
    docstring) — with ``arm``, those of the patient-level arm indicator as a second column —
    and the number of dummy columns per trial), for the adjustment ``terms``."""
    baseline = "baseline" in terms
    a = analyse_teams(trials, with_baseline=baseline)
    dummies, n_dummies = factor_dummies(trials, a, terms)
    responses = [a]
    if arm:  # the arm is constant within teams: no within-team cross-products with it
        within = np.column_stack([a.within[:, 0], np.zeros((a.within.shape[0], 2))])
        responses.append(replace(a, ybar=a.arm.astype(float), within=within))
    means = np.full((a.n_j.size, len(responses)), np.nan)
    for q, rows in blocks(a.n_teams > 0, n_dummies):
        for k, response in enumerate(responses):
            tm, values = _residual_means(response, dummies, rows, q, baseline)
            means[tm, k] = values
    return a, means, n_dummies


def pair_differences(a: Analysed, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(trial of each pair, intervention minus control value of each pair): pairs are the
    teams sharing a stratum code (``a.level``) in a trial, kept when exactly two of them
    were analysed, one in each arm (the odd team out, and a pair that lost a team, drop)."""
    key = a.trial.astype(np.int64) * (int(a.level.max(initial=0)) + 1) + a.level
    _, group, counts = np.unique(key, return_inverse=True, return_counts=True)
    group = group.ravel()
    is1 = a.arm == 1
    n1 = np.bincount(group, is1, counts.size)
    good = (counts == 2) & (n1 == 1)
    d = np.bincount(group, np.where(is1, values, -values), counts.size)
    first = np.zeros(counts.size, np.intp)
    first[group[::-1]] = a.trial[::-1]
    return first[good], d[good]


def paired_t(pair_trial: np.ndarray, d: np.ndarray, R: int, df_lost,
             alpha: float) -> EstimateArrays:
    """One-sample t on the pair differences ``d`` of each of R trials: mean, SE sd/√P, on
    P − 1 − ``df_lost`` df (covariates fitted at stage 1); fails with no df or zero spread."""
    P = np.bincount(pair_trial, minlength=R).astype(float)
    mean = np.bincount(pair_trial, d, R) / P
    dev = d - mean[pair_trial]
    sd = np.sqrt(np.bincount(pair_trial, dev * dev, R) / (P - 1))
    scale = np.zeros(R)
    np.maximum.at(scale, pair_trial, np.abs(d))
    df = P - 1 - df_lost
    ok = (P >= 2) & (df >= 1) & (sd > _ZERO_SD * (1.0 + scale))
    return t_estimates(mean, sd / np.sqrt(P), df, alpha, ok)


def _adjusted(trials: Sequence[ObservedTrial], terms, alpha: float) -> EstimateArrays:
    """Stage 1 on ``terms``, then the two-sample t on team values (or, for trials
    randomised in matched pairs adjusted for "strata", the paired t on pair differences of
    the values adjusted for the other terms: Hayes & Moulton 2017, ch. 9)."""
    R = len(trials)
    paired = "strata" in terms and any(t.paired for t in trials)
    stage_terms = tuple(t for t in terms if t != "strata") if paired else terms
    a, means, n_dummies = stage_one(trials, stage_terms)
    if not paired:
        return two_sample_t(a.trial, a.arm, means[:, 0], R, n_dummies, alpha)
    if not all(t.paired for t in trials):
        raise ValueError("a batch must be all matched-pair trials or none")
    return paired_t(*pair_differences(a, means[:, 0]), R, n_dummies, alpha)


def cluster_summary_batch(trials: Sequence[ObservedTrial], *, alpha: float = 0.05,
                          adjusted: bool = True, adjust_for_strata: bool = True,
                          adjust_for=None) -> EstimateArrays:
    """``cluster_summary`` of every trial, as arrays (``.records()`` for the ``Estimate``
    list); each trial's answer is independent of the batch (``analysis.teams``)."""
    R = len(trials)
    if R == 0:
        return t_estimates(*np.zeros((3, 0)), alpha, np.zeros(0, bool))
    with np.errstate(all="ignore"):
        if not adjusted:
            a = analyse_teams(trials, with_baseline=False)
            return two_sample_t(a.trial, a.arm, a.ybar, R, np.zeros(R, np.intp), alpha)
        return _adjusted(trials, resolve_adjustments(adjust_for, adjust_for_strata), alpha)


def cluster_summary(trial: ObservedTrial, *, alpha: float = 0.05, adjusted: bool = True,
                    adjust_for_strata: bool = True, adjust_for=None) -> Estimate:
    """Compare arms by a t-test on team summaries (Hayes & Moulton 2017, ch. 9):
    ``cluster_summary_batch`` of one trial.

    Unadjusted (``adjusted=False``; the adjustment arguments are then ignored): team means of
    follow-up scores, K − 2 df. Adjusted (default): team means of the stage-1 residuals
    (module docstring) on the terms of ``adjust_for`` (``inference.resolve_adjustments``;
    when None, baseline plus strata if ``adjust_for_strata``): the baseline score only when
    asked for, team-level columns from ``inference.team_dummies`` (factor levels present
    among analysed teams, first dropped, redundant columns dropped; numeric covariates as
    they are); K − 2 − (team-level columns) df. After matched-pair randomisation
    (``trial.paired``) "strata" means the pairs: the paired t on the pairs' differences of
    team values adjusted for the other terms, P − 1 − (their columns) df. K counts
    teams with at least one analysed patient; analysed = follow-up observed (and baseline
    recorded, when adjusting for it). Teams as randomised (ITT). Failure gives
    ``Estimate.failed()``; an unknown term raises ValueError.
    """
    return cluster_summary_batch([trial], alpha=alpha, adjusted=adjusted,
                                 adjust_for_strata=adjust_for_strata,
                                 adjust_for=adjust_for).records()[0]


def individual_ttest(trial: ObservedTrial, *, alpha: float = 0.05) -> Estimate:
    """Naive two-sample t-test on analysed patients' follow-up scores, clustering ignored
    (n − 2 df; arm as randomised). Kept as the wrong analysis to compare against."""
    keep = trial.observed
    y = trial.followup[keep]
    with np.errstate(all="ignore"):
        return two_sample_t(np.zeros(y.size, np.intp), trial.arm[trial.team[keep]], y, 1, 0,
                            alpha).records()[0]

