"""Closed-form CRT power: clusterPower worked examples, round trips, errors, Monte Carlo check.

Reference values CP-1..CP-4 and MC-1 are from /work/shared/reference/analytic_power.md
(clusterPower::cpa.normal documented examples), e.g.
    cpa.normal(nsubjects = 10, d = 1, ICC = .1, vart = 5)                              # CP-1
    cpa.normal(power = NA, nclusters = 16, nsubjects = 10, d = 1, sigma_b_sq = .5, vart = 5)  # CP-2
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from simulator.planning.power import (
    BaselineCorrelations,
    baseline_factor,
    design_effect,
    exact_design_effect,
    relative_efficiency,
    solve_power,
)

CP3_SIZES = (100, 50, 25, 100, 100)


# --- worked examples (printed digits) -------------------------------------------------------

def test_cp1_teams_per_arm():
    result = solve_power(effect=1, patients_per_team=10, power=0.8, icc=0.1, sd=math.sqrt(5),
                         method="equal")
    assert result.solved_for == "teams_per_arm"
    assert round(result.teams_per_arm, 4) == 15.9328
    assert math.ceil(result.teams_per_arm) == 16
    assert result.power == 0.8


def test_cp2_power():
    result = solve_power(effect=1, teams_per_arm=16, patients_per_team=10, icc=0.5 / 5,
                         sd=math.sqrt(5), method="equal")
    assert round(result.power, 6) == 0.801766
    assert result.df == 30
    assert result.variance_inflation == pytest.approx(1.9)


def test_cp3_exact_relative_efficiency_clusterpower_convention():
    result = solve_power(effect=0.2, cluster_sizes=CP3_SIZES, icc=0.1, sd=1.0,
                         method="exact_clusterpower")
    assert round(result.power, 5) == 0.13315
    assert (result.teams_per_arm, result.patients_per_team) == (5, 75)


def test_cp4_taylor():
    result = solve_power(effect=0.2, teams_per_arm=20, patients_per_team=100, icc=0.1, sd=1.0,
                         cv=0.5, method="taylor")
    assert round(result.power, 7) == 0.4559881


def test_exact_van_breukelen_loses_power_against_equal_sizes():
    """DEFF / RE (van Breukelen 2007) gives less power than equal sizes and is close to the
    Taylor approximation; clusterPower's DEFF * RE gives more (see simulator.power docstring)."""
    common = dict(effect=0.2, icc=0.1, sd=1.0)
    exact = solve_power(cluster_sizes=CP3_SIZES, method="exact", **common).power
    clusterpower = solve_power(cluster_sizes=CP3_SIZES, method="exact_clusterpower", **common).power
    taylor = solve_power(cluster_sizes=CP3_SIZES, method="taylor", **common).power
    equal = solve_power(teams_per_arm=5, patients_per_team=75, method="equal", **common).power
    assert exact < equal < clusterpower
    assert exact == pytest.approx(taylor, abs=0.002)


# --- building blocks --------------------------------------------------------------------------

def test_design_effects_by_hand():
    assert design_effect(10, 0.1, method="equal") == pytest.approx(1.9)
    assert design_effect(10, 0.1, 0.5, "eldridge") == pytest.approx(1 + (1.25 * 10 - 1) * 0.1)
    lam = 10 * 0.1 / 1.9
    assert design_effect(10, 0.1, 0.5, "taylor") == pytest.approx(1.9 / (1 - 0.25 * lam * (1 - lam)))
    for method in ("equal", "eldridge", "taylor"):
        assert design_effect(15, 0.05, 0.0, method) == pytest.approx(1.7)


def test_exact_design_effect_equal_sizes_is_deff():
    assert relative_efficiency([20, 20, 20], 0.05) == pytest.approx(1.0)
    assert exact_design_effect([20, 20, 20], 0.05) == pytest.approx(1 + 19 * 0.05)
    assert relative_efficiency(CP3_SIZES, 0.1) < 1.0


def test_baseline_factor_by_hand():
    r = (15 * 0.05 * 0.8 + 0.95 * 0.5) / (1 + 14 * 0.05)
    factor = baseline_factor(15, 0.05, BaselineCorrelations(individual=0.5, cluster=0.8))
    assert factor == pytest.approx(1 - r**2)
    assert baseline_factor(15, 0.05, BaselineCorrelations(0.0, 0.0)) == 1.0


def test_attrition_shrinks_analysed_team_size():
    common = dict(effect=3.0, teams_per_arm=13.5, icc=0.05, sd=10.1, cv=0.4)
    with_dropout = solve_power(patients_per_team=15, attrition=0.26, **common)
    analysed_only = solve_power(patients_per_team=15 * 0.74, **common)
    assert with_dropout.power == pytest.approx(analysed_only.power, rel=1e-12)


def test_null_effect_gives_half_alpha_upper_tail_or_alpha_two_tailed():
    common = dict(effect=0.0, teams_per_arm=16, patients_per_team=10, icc=0.1, sd=1.0)
    assert solve_power(**common).power == pytest.approx(0.025)
    assert solve_power(two_tailed=True, **common).power == pytest.approx(0.05)


# --- round trips ----------------------------------------------------------------------------

DESIGNS = [
    dict(icc=0.1, sd=math.sqrt(5), method="equal"),
    dict(icc=0.05, sd=10.1, cv=0.4, method="taylor", attrition=0.26,
         baseline_correlations=BaselineCorrelations(individual=0.5, cluster=0.8)),
    dict(icc=0.02, sd=1.0, cv=0.6, method="eldridge", alpha=0.01, two_tailed=True),
]
BASE = dict(effect=0.8, teams_per_arm=12.0, patients_per_team=20.0)


@pytest.mark.parametrize("design", DESIGNS, ids=["equal", "taylor_baseline", "eldridge"])
@pytest.mark.parametrize("unknown", ["effect", "teams_per_arm", "patients_per_team"])
def test_round_trip(design, unknown):
    base = {**BASE, "effect": BASE["effect"] * design["sd"] / 2}
    power = solve_power(**base, **design).power
    assert 0.2 < power < 0.95
    given = {**base, unknown: None}
    solved = solve_power(power=power, **given, **design)
    assert solved.value == pytest.approx(base[unknown], rel=1e-3)


def test_round_trip_effect_with_cluster_sizes():
    design = dict(cluster_sizes=CP3_SIZES, icc=0.1, sd=1.0, method="exact")
    power = solve_power(effect=0.5, **design).power
    assert solve_power(power=power, **design).effect == pytest.approx(0.5, rel=1e-3)


# --- errors and failed solves -------------------------------------------------------------------

def test_exactly_one_unknown_required():
    with pytest.raises(ValueError, match="exactly one"):
        solve_power(effect=1, teams_per_arm=10, patients_per_team=10, power=0.8, icc=0.1, sd=1)
    with pytest.raises(ValueError, match="exactly one"):
        solve_power(effect=1, icc=0.1, sd=1)


def test_all_problems_reported_together():
    with pytest.raises(ValueError) as caught:
        solve_power(effect=1, teams_per_arm=10, patients_per_team=10, icc=1.5, sd=-1, alpha=2)
    message = str(caught.value)
    assert "icc=1.5" in message and "sd=-1" in message and "alpha=2" in message


@pytest.mark.parametrize("bad", [
    dict(method="equal", cv=0.3),
    dict(method="exact"),
    dict(method="nonsense"),
    dict(cluster_sizes=CP3_SIZES),
])
def test_invalid_combinations(bad):
    with pytest.raises(ValueError):
        solve_power(effect=1, teams_per_arm=10, patients_per_team=10, icc=0.1, sd=1, **bad)


def test_unreachable_target_gives_nan_and_warning():
    # as m grows VIF / m tends to rho (1 + CV^2): power plateaus below 0.9 with 20 teams per arm
    with pytest.warns(RuntimeWarning, match="not reached"):
        result = solve_power(effect=0.2, teams_per_arm=20, power=0.9, icc=0.1, sd=1.0, cv=0.5)
    assert math.isnan(result.patients_per_team) and math.isnan(result.ncp)


def test_target_below_search_range_gives_nan_and_warning():
    with pytest.warns(RuntimeWarning, match="already met"):
        result = solve_power(teams_per_arm=10, patients_per_team=10, power=0.01,
                             icc=0.1, sd=1.0)
    assert math.isnan(result.effect)
    with pytest.warns(RuntimeWarning, match="already met"):
        result = solve_power(effect=5.0, patients_per_team=50, power=0.8, icc=0.01, sd=1.0)
    assert math.isnan(result.teams_per_arm)


def test_successful_solve_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solve_power(effect=1, patients_per_team=10, power=0.8, icc=0.1, sd=math.sqrt(5))


# --- MC-1: Monte Carlo agreement --------------------------------------------------------------

def _cluster_means_rejection(rng, *, k, m, d, sigma_b2, sigma_w2, n_rep, alpha=0.05):
    """Rejection rate of the unweighted cluster-means two-sample t-test, patients simulated."""
    team = rng.normal(0.0, math.sqrt(sigma_b2), size=(n_rep, 2, k))
    patients = rng.normal(0.0, math.sqrt(sigma_w2), size=(n_rep, 2, k, m))
    means = team + patients.mean(axis=-1) + d * np.array([0.0, 1.0])[None, :, None]
    p_value = stats.ttest_ind(means[:, 1], means[:, 0], axis=1).pvalue
    return float(np.mean(p_value < alpha))


@pytest.mark.slow
@pytest.mark.parametrize("d", [1.0, 0.0])
def test_mc1_cluster_means_t_test(d):
    n_rep = 20_000
    rng = np.random.default_rng(np.random.SeedSequence(2015, spawn_key=(int(d),)))
    simulated = _cluster_means_rejection(rng, k=16, m=10, d=d, sigma_b2=0.5, sigma_w2=4.5,
                                         n_rep=n_rep)
    closed = solve_power(effect=d, teams_per_arm=16, patients_per_team=10, icc=0.1,
                         sd=math.sqrt(5), method="equal", two_tailed=True).power
    expected = 0.801766 if d else 0.05
    assert closed == pytest.approx(expected, abs=1e-5)
    mcse = math.sqrt(closed * (1 - closed) / n_rep)
    assert abs(simulated - closed) < 4 * mcse
