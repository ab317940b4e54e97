"""Closed-form binary power against clusterPower's published values.

Source: github.com/Kenkleinman/clusterPower at commit cfa3a00a14c381a824eb399c05596b252003795a
(version 0.7.0):
- tests/testthat/testthat.R, lines 113-165 ("SIMPLE BINARY OUTCOMES"): nclusters 12 (NIH
  calculator, t), power 0.86 at 13 clusters (PASS 11, z; the test rounds to 3 places), and
  nclusters equal to round(CRTSize::n4props(pe = .2, pc = .1, m = 150, ICC = .05)$n - 1)
  (z), with alpha 0.05, power 0.8, 150 per cluster, CV 0, p 0.1 vs 0.2, ICC 0.05;
- man/cpa.binary.Rd, examples (written before the t option existed, so z): "nclusters of
  greater than 37" for 10 per cluster, ICC 0.1, and "p2 greater than 0.198922" with 38 clusters.
"""
from __future__ import annotations

import math

import pytest
from scipy import stats

from simulator.planning.binary_power import (binary_design_effect, binary_power,
                                             binary_proportions, solve_binary)

COMMON = dict(patients_per_team=150, p1=0.1, p2=0.2, icc=0.05)


def test_nih_calculator_clusters():
    s = solve_binary(power=0.8, **COMMON, tdist=True)
    assert round(s.teams_per_arm) == 12
    assert abs(s.power - binary_power(0.1, 0.2, s.teams_per_arm, 150, 0.05)) < 1e-12


def test_pass11_power():
    assert round(solve_binary(teams_per_arm=13, **COMMON, tdist=False).power, 3) == 0.86


def n4props(pe, pc, m, icc, alpha=0.05, power=0.8):
    """CRTSize::n4props, two-tailed (cran/CRTSize, R/n4props.R): normal formula, then, when
    below 30, iterated with t quantiles on 2(n − 1) df until n changes by at most 1."""
    base = (pe * (1 - pe) + pc * (1 - pc)) * (1 + (m - 1) * icc) / (m * (pe - pc) ** 2)
    n = (stats.norm.isf(alpha / 2) + stats.norm.ppf(power)) ** 2 * base
    if n < 30:
        previous = 0.0
        while abs(n - previous) > 1:
            previous = n
            df = 2 * (previous - 1)
            n = (stats.t.isf(alpha / 2, df) + stats.t.ppf(power, df)) ** 2 * base
    return n


def test_crtsize_n4props_clusters():
    s = solve_binary(power=0.8, **COMMON, tdist=False)
    assert round(s.teams_per_arm) == round(n4props(0.2, 0.1, 150, 0.05) - 1)


def test_manual_examples():
    s = solve_binary(power=0.8, patients_per_team=10, p1=0.1, p2=0.2, icc=0.1, tdist=False)
    assert 37 < s.teams_per_arm < 38
    s = solve_binary(power=0.8, patients_per_team=10, teams_per_arm=38, p1=0.1, icc=0.1,
                     tdist=False, p2_above=True)
    assert abs(s.p2 - 0.198922) < 1.22e-4   # cpa.binary's uniroot tol, .Machine$double.eps^0.25


def test_design_effect_and_cv():
    assert binary_design_effect(20, 0.05) == pytest.approx(1.95)
    assert binary_design_effect(20, 0.05, cv=0.4) == pytest.approx(1 + (1.16 * 20 - 1) * 0.05)
    flat = binary_power(0.3, 0.4, 10, 20, 0.05)
    assert binary_power(0.3, 0.4, 10, 20, 0.05, cv=0.4) < flat


def test_power_at_no_effect_is_under_alpha_and_solves_round_trip():
    assert binary_power(0.3, 0.3, 10, 20, 0.05, tdist=False) == pytest.approx(0.025)
    s = solve_binary(power=0.9, patients_per_team=20, p1=0.3, p2=0.45, icc=0.05)
    m = solve_binary(power=0.9, teams_per_arm=s.teams_per_arm, p1=0.3, p2=0.45, icc=0.05)
    assert m.patients_per_team == pytest.approx(20, rel=1e-6)


def test_unreachable_power_warns_and_is_nan():
    with pytest.warns(RuntimeWarning):
        s = solve_binary(power=0.99, teams_per_arm=3, p1=0.3, p2=0.31, icc=0.3)
    assert math.isnan(s.patients_per_team)
    with pytest.raises(ValueError):
        solve_binary(power=0.8, teams_per_arm=3, patients_per_team=10, p1=0.3, p2=0.4, icc=0.1)


def test_marginal_proportions_from_the_conditional_odds_ratio():
    props = binary_proportions(0.3, 0.05, 1.0)
    assert props.proportion_ctl == pytest.approx(0.3, abs=1e-11)
    assert props.proportion_int == pytest.approx(0.3, abs=1e-11)
    up = binary_proportions(0.3, 0.05, 2.0)
    plain = 2.0 * 0.3 / 0.7 / (1 + 2.0 * 0.3 / 0.7)      # the same OR without a team effect
    assert 0.3 < up.proportion_int < plain                 # attenuated by σ_u > 0
