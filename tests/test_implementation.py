"""implementation_split and cace_iv: hand-computed answers and agreement with statsmodels."""
from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.sandbox.regression.gmm import IV2SLS

from simulator.analysis.implementation import cace_iv, high_implementers, implementation_split
from simulator.analysis.mixed import mixed_ancova
from simulator.analysis.records import ObservedTrial


def team_trial(team_means, arm, participation, strata=None):
    """Teams of 2 patients with follow-up equal to the team mean and baseline ±1 (uncorrelated
    with y, so the stage-1 residuals are y − mean(y))."""
    k = len(team_means)
    team = np.repeat(np.arange(k), 2)
    return ObservedTrial(team=team, arm=np.asarray(arm), baseline=np.tile([-1.0, 1.0], k),
                         followup=np.asarray(team_means, float)[team],
                         strata=np.zeros(k, int) if strata is None else np.asarray(strata),
                         participation=np.asarray(participation, float))


def test_tie_rule_strictly_above_median():
    even = team_trial(np.zeros(7), [0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0.2, 0.5, 0.5, 0.9])
    assert high_implementers(even).tolist() == [False] * 6 + [True]  # ties at 0.5: not high
    odd = team_trial(np.zeros(6), [0, 0, 0, 1, 1, 1], [0, 0, 0, 0.8, 0.1, 0.4])
    assert high_implementers(odd).tolist() == [False, False, False, True, False, False]


def random_trial(seed, teams=16, m=12, strata=1):
    rng = np.random.default_rng(seed)
    team = np.repeat(np.arange(teams), rng.integers(3, 2 * m, teams))
    arm = rng.permutation(np.arange(teams) % 2)
    part = np.where(arm == 1, rng.uniform(0.2, 1.0, teams), 0.0)
    baseline = rng.normal(40, 10, team.size)
    y = 10 + 0.5 * baseline + 4 * part[team] + rng.normal(0, 2, teams)[team] + rng.normal(
        0, 8, team.size)
    y[rng.random(team.size) < 0.2] = np.nan
    return ObservedTrial(team=team, arm=arm, baseline=baseline, followup=y,
                         strata=np.arange(teams) % strata, participation=part)


@pytest.mark.parametrize("seed, strata", [(0, 1), (1, 2), (2, 1)])
def test_split_is_mixed_ancova_on_the_subset(seed, strata):
    trial = random_trial(seed, strata=strata)
    part = trial.participation
    high = (trial.arm == 1) & (part > np.median(part[trial.arm == 1]))
    kept = np.flatnonzero((trial.arm == 0) | high)
    recode = {t: i for i, t in enumerate(kept)}
    rows = np.isin(trial.team, kept)
    sub = ObservedTrial(team=np.array([recode[t] for t in trial.team[rows]]), arm=trial.arm[kept],
                        baseline=trial.baseline[rows], followup=trial.followup[rows],
                        strata=trial.strata[kept], participation=part[kept])
    assert implementation_split(trial, alpha=0.05) == mixed_ancova(sub, alpha=0.05)


def test_cace_hand_computed():
    """Control means 1, 3; intervention 6, 8 with participation 0.4, 0.6: δ̂ = (7 − 2)/0.5 = 10.
    Structural residuals r − δ̂P centred: −1, 1, 0, 0, so σ̂² = 2/2 and
    SE = √(σ̂² / (2·2/4)) / 0.5 = 2, with 4 − 2 = 2 df."""
    est = cace_iv(team_trial([1, 3, 6, 8], [0, 0, 1, 1], [0, 0, 0.4, 0.6]), alpha=0.05)
    assert est.estimate == pytest.approx(10.0)
    assert est.se == pytest.approx(2.0)
    assert est.df == 2


def team_level(trial):
    """Manual stage 1 with statsmodels OLS: team mean residuals, participation, arm."""
    keep = np.isfinite(trial.followup)
    fit = sm.OLS(trial.followup[keep], sm.add_constant(trial.baseline[keep])).fit()
    team = trial.team[keep]
    teams = np.unique(team)
    r = np.array([fit.resid[team == t].mean() for t in teams])
    return r, trial.participation[teams], trial.arm[teams].astype(float)


@pytest.mark.parametrize("seed", range(4))
def test_cace_matches_two_stage_least_squares(seed):
    trial = random_trial(seed)
    r, dose, z = team_level(trial)
    first = sm.OLS(dose, sm.add_constant(z)).fit()
    second = sm.OLS(r, sm.add_constant(first.fittedvalues)).fit()  # manual two stages
    iv = IV2SLS(r, sm.add_constant(dose), sm.add_constant(z)).fit()
    est = cace_iv(trial, alpha=0.05)
    assert est.estimate == pytest.approx(second.params[1], rel=1e-9)
    assert est.estimate == pytest.approx(iv.params[1], rel=1e-9)
    assert est.se == pytest.approx(iv.bse[1], rel=1e-9)  # structural residuals, K − 2
    assert est.df == z.size - 2


def test_cace_strata_cost_df_and_failures():
    trial = random_trial(5, strata=3)
    k = np.unique(trial.team[np.isfinite(trial.followup)]).size  # analysed teams
    assert cace_iv(trial, alpha=0.05).df == k - 2 - 2
    assert cace_iv(trial, alpha=0.05, adjust_for_strata=False).df == k - 2
    no_first_stage = team_trial([1, 3, 6, 8], [0, 0, 1, 1], [0, 0, 0, 0])
    assert not cace_iv(no_first_stage, alpha=0.05).converged
    no_high = team_trial([1, 3, 6, 8], [0, 0, 1, 1], [0, 0, 0.5, 0.5])
    assert not implementation_split(no_high, alpha=0.05).converged
