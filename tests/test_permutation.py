"""Randomisation test: hand-computed p-values, the +1 rule, vectorised = loop, CI by inversion,
and type I error on null data."""
from __future__ import annotations

import math
from dataclasses import astuple

import numpy as np
import pytest
from scipy import special, stats

from simulator.allocation import MinimisationScheme, SimpleScheme
from simulator.analysis.permutation import (permutation_test, reference_allocations,
                                             team_residuals)
from simulator.analysis.records import ObservedTrial


def hand_trial(extra_empty_team=False):
    """4 teams of 2 patients; team means 1, 2, 3, 10; baseline ±1 in each team (uncorrelated
    with y, so stage-1 residuals are y − 4); teams 2 and 3 in the intervention arm.
    Optionally a 5th team whose patients were all lost (follow-up nan)."""
    k = 5 if extra_empty_team else 4
    team = np.repeat(np.arange(k), 2)
    followup = np.r_[1.0, 2.0, 3.0, 10.0, np.nan][:k][team]
    arm = np.r_[0, 0, 1, 1, 0][:k]
    return ObservedTrial(team=team, arm=arm, baseline=np.tile([-1.0, 1.0], k), followup=followup,
                         strata=np.zeros(k, int), participation=np.zeros(k),
                         scheme=SimpleScheme(k, 2))


def test_hand_computed_exact_p():
    """Residual team means −3, −2, −1, 6; T_obs = 6.5 − 1.5 = 5. The 6 allocations give
    T = −5, −4, 3, −3, 4, 5, so P(|T| ≥ 5) = 2/6."""
    est = permutation_test(hand_trial(), alpha=0.05, rng=np.random.default_rng(0))
    assert est.converged and est.estimate == pytest.approx(5.0)
    assert est.p_value == pytest.approx(1 / 3)
    assert (est.ci_low, est.ci_high) == (-np.inf, np.inf)  # no allocation set can reach 5 %


def test_team_without_patients_is_left_out():
    """Team 4 (no analysed patient) is dropped: T_obs stays 5. Of the 10 allocations of 2 of
    5 teams, the 4 that put team 4 in arm 1 leave one analysed intervention team:
    T = −4, −8/3, −4/3, 8; with the 6 pairs above, P(|T| ≥ 5) = 3/10."""
    est = permutation_test(hand_trial(True), alpha=0.05, rng=np.random.default_rng(0))
    assert est.estimate == pytest.approx(5.0)
    assert est.p_value == pytest.approx(0.3)


def null_trial(seed, teams=20, m=10, effect=0.0, scheme="simple"):
    """Random-intercept data with baseline; arm from the scheme (or simple, scheme=None)."""
    rng = np.random.default_rng(seed)
    team = np.repeat(np.arange(teams), m)
    sch = SimpleScheme(teams, teams // 2)
    arm = sch.draw(rng).astype(int)
    u = rng.normal(0.0, 0.3, teams)
    baseline = u[team] + rng.normal(0.0, 1.0, team.size)
    followup = effect * arm[team] + 0.8 * u[team] + 0.5 * baseline + rng.normal(0, 1, team.size)
    return ObservedTrial(team=team, arm=arm, baseline=baseline, followup=followup,
                         strata=np.zeros(teams, int), participation=np.zeros(teams),
                         scheme=sch if scheme == "simple" else None)


def test_plus_one_rule():
    """An effect no re-drawn allocation matches: Monte Carlo p = 1/(1 + B); exact p = the
    chance of the observed allocation and its mirror image."""
    big = null_trial(1, teams=24, effect=20.0)  # 2.7 million allocations: no re-draw ties
    assert permutation_test(big, alpha=0.05, permutations=99,
                            rng=np.random.default_rng(2)).p_value == pytest.approx(1 / 100)
    small = null_trial(1, teams=8, effect=20.0)
    assert permutation_test(small, alpha=0.05, permutations=500,
                            rng=np.random.default_rng(2)).p_value == pytest.approx(2 / 70)


def slow_statistic(trial, arm):
    """Difference in arm means of the analysed teams' mean stage-1 residuals, by loop."""
    teams, r, _ = team_residuals(trial, True)
    treated = [r[i] for i, t in enumerate(teams) if arm[t] == 1]
    control = [r[i] for i, t in enumerate(teams) if arm[t] == 0]
    return sum(treated) / len(treated) - sum(control) / len(control)


def test_vectorised_equals_loop_monte_carlo():
    trial = null_trial(3, teams=16, effect=0.4)
    B = 300
    est = permutation_test(trial, alpha=0.05, permutations=B, rng=np.random.default_rng(9))
    arms = trial.scheme.resample(np.random.default_rng(9), B)  # the same draws
    t_obs = slow_statistic(trial, trial.arm)
    hits = sum(abs(slow_statistic(trial, a)) >= abs(t_obs) for a in arms)
    assert est.estimate == pytest.approx(t_obs, rel=1e-12)
    assert est.p_value == pytest.approx((1 + hits) / (1 + B), rel=1e-12)


def test_vectorised_equals_loop_exact_weighted():
    """Minimisation: allocations with unequal probabilities; exact weighted p."""
    base = null_trial(4, teams=7, effect=0.5)
    scheme = MinimisationScheme(np.array([[0, 0, 0, 1, 1, 1, 0]]), 3, 0.8)
    arms, probs = scheme.enumerate()
    trial = ObservedTrial(base.team, arms[5].astype(int), base.baseline, base.followup,
                          base.strata, base.participation, scheme=scheme)
    est = permutation_test(trial, alpha=0.05, rng=np.random.default_rng(0))
    t_obs = slow_statistic(trial, trial.arm)
    extreme = sum(p for a, p in zip(arms, probs)
                  if abs(slow_statistic(trial, a)) >= abs(t_obs) * (1 - 1e-9))
    assert est.p_value == pytest.approx(extreme / probs.sum(), rel=1e-12)


def shifted(trial, d):
    """The trial with d taken off every intervention patient's follow-up."""
    return ObservedTrial(trial.team, trial.arm, trial.baseline,
                         trial.followup - d * trial.arm[trial.team], trial.strata,
                         trial.participation, scheme=trial.scheme)


@pytest.mark.parametrize("seed, teams, scheme", [(5, 12, "simple"), (6, 8, "simple"),
                                                 (7, 20, None)])
def test_ci_is_the_inverted_test(seed, teams, scheme):
    """Just inside the CI the test of H₀: δ = d accepts, just outside it rejects."""
    trial = null_trial(seed, teams=teams, effect=0.5, scheme=scheme)
    run = lambda t: permutation_test(t, alpha=0.05, permutations=400,  # noqa: E731
                                     rng=np.random.default_rng(11))
    est = run(trial)
    assert est.ci_low < est.estimate < est.ci_high
    width = est.ci_high - est.ci_low
    for bound, inward in ((est.ci_low, 1.0), (est.ci_high, -1.0)):
        assert run(shifted(trial, bound + inward * 1e-6 * width)).p_value > 0.05
        assert run(shifted(trial, bound - inward * 1e-6 * width)).p_value <= 0.05


def test_scheme_none_keeps_arm_sizes_and_is_reproducible():
    trial = null_trial(8, teams=15, scheme=None)
    a = permutation_test(trial, alpha=0.05, permutations=200, rng=np.random.default_rng(1))
    b = permutation_test(trial, alpha=0.05, permutations=200, rng=np.random.default_rng(1))
    np.testing.assert_equal(astuple(a), astuple(b))
    assert a.converged and 0 < a.p_value <= 1
    teams = np.arange(15)
    arms, weights = reference_allocations(trial, teams, 200, np.random.default_rng(1))
    assert weights is None and arms.shape == (200, 15)
    assert (arms.sum(axis=1) == trial.arm.sum()).all() and len(np.unique(arms, axis=0)) > 190


def test_failures_are_records():
    trial = null_trial(2, teams=6)
    lost = np.where(trial.arm[trial.team] == 1, np.nan, trial.followup)
    one_arm = ObservedTrial(trial.team, trial.arm, trial.baseline, lost, trial.strata,
                            trial.participation, scheme=trial.scheme)
    assert not permutation_test(one_arm, alpha=0.05, rng=np.random.default_rng(0)).converged


def permutation_size(teams, permutations, alpha=0.05):
    """Exact size under H₀ of the two-sided test on K/2 : K/2 complete randomisation. |T|
    takes M = C(K, K/2)/2 equally likely values (an allocation and its mirror give ±T); the
    observed one is the m-th largest, m uniform on 1..M. Enumerated (C(K, K/2) ≤
    permutations): p = m/M, so the test rejects for m < αM. Monte Carlo with the +1 rule: each
    of the B draws is at least as extreme with probability m/M (ties count), and the test
    rejects when (1 + H)/(1 + B) < α, H ~ Binomial(B, m/M)."""
    values = special.comb(teams, teams // 2, exact=True) // 2
    if 2 * values <= permutations:
        return (math.ceil(alpha * values) - 1) / values
    h_max = math.ceil(alpha * (permutations + 1) - 1) - 1
    return float(stats.binom.cdf(h_max, permutations, np.arange(1, values + 1) / values).mean())


@pytest.mark.parametrize("teams, permutations", [(10, 500), (14, 200)])
def test_type_one_error(teams, permutations):
    """Null data: the rejection rate matches the test's exact size (``permutation_size``:
    0.0476 for the enumerated 252 allocations at 10 teams, 0.0495 by Monte Carlo at 14) within
    z = 3.29 MCSE on either side (0.05 % per side; four sides in all)."""
    reps, alpha = 1000, 0.05
    rng = np.random.default_rng(2024)
    seeds = rng.integers(0, 2**32, reps)
    p = np.array([permutation_test(null_trial(s, teams=teams), alpha=alpha,
                                   permutations=permutations,
                                   rng=np.random.default_rng(s + 1)).p_value for s in seeds])
    size = permutation_size(teams, permutations, alpha)
    rate, mcse = (p < alpha).mean(), np.sqrt(size * (1 - size) / reps)
    assert abs(rate - size) <= stats.norm.isf(0.0005) * mcse, (rate, size)
