"""Cluster-level two-stage analysis, naive t-test and t inference, against scipy."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simulator.analysis.cluster import cluster_summary, individual_ttest
from simulator.analysis.inference import stratum_dummies, t_estimate
from simulator.analysis.records import ObservedTrial


def make_trial(seed, *, teams=16, strata=1, dropout=0.25, empty_teams=(), icc=0.1):
    """A small ObservedTrial: unbalanced teams, MCAR dropout, optional teams with no follow-up."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 14, teams)
    team = np.repeat(np.arange(teams), sizes)
    arm = rng.permutation(np.arange(teams) % 2)
    strata_codes = (np.arange(teams) * 5) % strata
    baseline = rng.normal(40.0, 10.0, team.size)
    u = rng.normal(0.0, 10.0 * np.sqrt(icc), teams)
    followup = (25.0 + 2.0 * arm[team] + 0.4 * baseline - 2.0 * strata_codes[team] + u[team]
                + rng.normal(0.0, 9.0, team.size))
    followup[rng.random(team.size) < dropout] = np.nan
    followup[np.isin(team, empty_teams)] = np.nan
    return ObservedTrial(team=team, arm=arm, baseline=baseline, followup=followup,
                         strata=strata_codes, participation=arm * rng.random(teams))


def analysed(trial):
    """Observed patients' (team, follow-up, baseline), computed independently of the code."""
    keep = ~np.isnan(trial.followup)
    return trial.team[keep], trial.followup[keep], trial.baseline[keep]


def team_means(values, team):
    """{team: mean} over patients, then arrays of the means by arm (treated, control)."""
    teams = sorted(set(team.tolist()))
    means = np.array([values[team == t].mean() for t in teams])
    return teams, means


def check_against_ttest(est, treated, control, df, alpha=0.05):
    ref = stats.ttest_ind(treated, control, equal_var=True)
    diff = treated.mean() - control.mean()
    assert est.converged and est.df == df
    assert est.estimate == pytest.approx(diff, rel=1e-12, abs=1e-12)
    assert est.se == pytest.approx(diff / ref.statistic, rel=1e-10)
    assert est.p_value == pytest.approx(2 * stats.t.sf(abs(ref.statistic), df), rel=1e-8)
    half = stats.t.ppf(1 - alpha / 2, df) * est.se
    assert (est.ci_low, est.ci_high) == pytest.approx((diff - half, diff + half), rel=1e-10)
    return ref


@pytest.mark.parametrize("seed, empty", [(0, ()), (1, (3,)), (2, (0, 5, 6))])
def test_unadjusted_is_ttest_on_team_means(seed, empty):
    trial = make_trial(seed, empty_teams=empty)
    team, y, _ = analysed(trial)
    teams, means = team_means(y, team)
    arm = trial.arm[teams]
    est = cluster_summary(trial, adjusted=False, alpha=0.1)
    ref = check_against_ttest(est, means[arm == 1], means[arm == 0], len(teams) - 2, alpha=0.1)
    assert len(teams) == 16 - len(empty)
    assert est.p_value == pytest.approx(ref.pvalue, rel=1e-8)


@pytest.mark.parametrize("seed, strata, empty",
                         [(3, 1, ()), (4, 2, ()), (5, 3, (2,)), (6, 4, (1, 7))])
def test_adjusted_is_ttest_on_team_mean_residuals(seed, strata, empty):
    trial = make_trial(seed, strata=strata, empty_teams=empty)
    team, y, baseline = analysed(trial)
    levels = sorted(set(trial.strata[team].tolist()))
    dummies = [(trial.strata[team] == lv).astype(float) for lv in levels[1:]]
    X = np.column_stack([np.ones(y.size), baseline] + dummies)
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    teams, means = team_means(resid, team)
    arm = trial.arm[teams]
    df = len(teams) - 2 - (len(levels) - 1)
    ref = check_against_ttest(cluster_summary(trial), means[arm == 1], means[arm == 0], df)
    if strata == 1:
        assert cluster_summary(trial).p_value == pytest.approx(ref.pvalue, rel=1e-8)


def test_strata_adjustment_can_be_switched_off():
    trial = make_trial(7, strata=3)
    team, y, baseline = analysed(trial)
    X = np.column_stack([np.ones(y.size), baseline])
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    teams, means = team_means(resid, team)
    arm = trial.arm[teams]
    est = cluster_summary(trial, adjust_for_strata=False)
    check_against_ttest(est, means[arm == 1], means[arm == 0], len(teams) - 2)
    assert est.estimate != pytest.approx(cluster_summary(trial).estimate, rel=1e-6)


def test_individual_ttest_matches_scipy():
    trial = make_trial(8)
    team, y, _ = analysed(trial)
    arm = trial.arm[team]
    est = individual_ttest(trial)
    ref = check_against_ttest(est, y[arm == 1], y[arm == 0], y.size - 2)
    assert est.p_value == pytest.approx(ref.pvalue, rel=1e-8)


def test_naive_ttest_se_is_too_small_under_clustering():
    trial = make_trial(9, teams=30, icc=0.3, dropout=0.0)
    assert individual_ttest(trial).se < 0.8 * cluster_summary(trial, adjusted=False).se


def replace(trial, **changes):
    fields = dict(team=trial.team, arm=trial.arm, baseline=trial.baseline,
                  followup=trial.followup, strata=trial.strata, participation=trial.participation,
                  covariates=trial.covariates)
    return ObservedTrial(**{**fields, **changes})


def test_failures():
    trial = make_trial(10, teams=8)
    control_only = np.where(trial.arm[trial.team] == 1, np.nan, trial.followup)
    nothing = np.full(trial.team.size, np.nan)
    for kw in ({}, {"adjusted": False}):
        assert not cluster_summary(replace(trial, followup=control_only), **kw).converged
        assert not cluster_summary(replace(trial, followup=nothing), **kw).converged
    assert not individual_ttest(replace(trial, followup=control_only)).converged
    two = make_trial(11, teams=2)
    assert not cluster_summary(two, adjusted=False).converged  # df = 0
    assert individual_ttest(two).converged
    three_strata = make_trial(12, teams=4, strata=3, dropout=0.0)
    assert not cluster_summary(three_strata).converged  # 4 − 2 − 2 = 0 df
    assert cluster_summary(three_strata, adjust_for_strata=False).converged
    flat = replace(trial, followup=np.where(np.isnan(trial.followup), np.nan, 30.0))
    assert not cluster_summary(flat, adjusted=False).converged  # zero variance
    assert not individual_ttest(flat).converged
    assert math.isnan(cluster_summary(flat).estimate)


def test_t_estimate_against_scipy_and_failures():
    est = t_estimate(1.3, 0.6, 11, 0.05)
    half = stats.t.ppf(0.975, 11) * 0.6
    assert (est.ci_low, est.ci_high) == pytest.approx((1.3 - half, 1.3 + half), rel=1e-12)
    assert est.p_value == pytest.approx(2 * stats.t.sf(1.3 / 0.6, 11), rel=1e-10)
    assert t_estimate(0.0, 1.0, 5, 0.05).p_value == 1.0
    for bad in [(np.nan, 1.0, 5, 0.05), (1.0, 0.0, 5, 0.05), (1.0, -1.0, 5, 0.05),
                (1.0, 1.0, 0.5, 0.05), (1.0, np.inf, 5, 0.05), (1.0, 1.0, 5, 1.5)]:
        failed = t_estimate(*bad)
        assert not failed.converged and math.isnan(failed.estimate)


def test_stratum_dummies_drop_the_lowest_present_level():
    np.testing.assert_array_equal(stratum_dummies(np.array([4, 2, 2, 7])),
                                  [[1, 0], [0, 0], [0, 0], [0, 1]])
    assert stratum_dummies(np.array([3, 3])).shape == (2, 0)


# ---------------------------------------------------------------- adjust_for

def with_covariates(trial, *, sites=4, types=3, missing_baseline=0.0, seed=0):
    """The trial with team-level "site" and "team_type" factors and optionally some
    baseline scores missing."""
    rng = np.random.default_rng(seed)
    k = trial.n_teams
    baseline = np.where(rng.random(trial.team.size) < missing_baseline, np.nan, trial.baseline)
    covariates = {"site": 10 + rng.permutation(np.arange(k) % sites),
                  "team_type": np.array(["x", "y", "z"])[(np.arange(k) * 2) % types]}
    return replace(trial, baseline=baseline, covariates=covariates)


def stage1_residual_means(trial, keep, factors, with_baseline):
    """Team means of stage-1 OLS residuals on [1, baseline?, drop-first dummies], built
    independently; returns (teams, means, dummy count)."""
    team, y = trial.team[keep], trial.followup[keep]
    kept = np.unique(team)
    cols = [np.ones(y.size)] + ([trial.baseline[keep]] if with_baseline else [])
    n_dummies = 0
    for codes in factors:
        levels = np.unique(codes[kept])
        cols += [(codes[team] == lv).astype(float) for lv in levels[1:]]
        n_dummies += levels.size - 1
    X = np.column_stack(cols)
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    teams, means = team_means(resid, team)
    return np.array(teams), means, n_dummies


@pytest.mark.parametrize("seed", [13, 14])
def test_adjust_for_site_without_baseline(seed):
    trial = with_covariates(make_trial(seed, teams=20), missing_baseline=0.3, seed=seed)
    keep = trial.observed  # baseline not required
    teams, means, n_dummies = stage1_residual_means(trial, keep, [trial.covariates["site"]], False)
    arm = trial.arm[teams]
    est = cluster_summary(trial, adjust_for=("site",))
    check_against_ttest(est, means[arm == 1], means[arm == 0], teams.size - 2 - n_dummies)
    assert n_dummies == 3


def test_adjust_for_baseline_strata_and_team_type():
    trial = with_covariates(make_trial(15, teams=24, strata=2), missing_baseline=0.1)
    keep = trial.observed & np.isfinite(trial.baseline)
    factors = [trial.strata, trial.covariates["team_type"]]
    teams, means, n_dummies = stage1_residual_means(trial, keep, factors, True)
    arm = trial.arm[teams]
    est = cluster_summary(trial, adjust_for=("baseline", "strata", "team_type"))
    check_against_ttest(est, means[arm == 1], means[arm == 0], teams.size - 2 - n_dummies)
    assert n_dummies == 1 + 2


def test_adjust_for_defaults_and_empty():
    trial = with_covariates(make_trial(16, strata=3))
    assert cluster_summary(trial, adjust_for=("baseline", "strata")) == cluster_summary(trial)
    assert (cluster_summary(trial, adjust_for=("baseline",))
            == cluster_summary(trial, adjust_for_strata=False))
    centred, raw = cluster_summary(trial, adjust_for=()), cluster_summary(trial, adjusted=False)
    assert (centred.estimate, centred.se, centred.df) == pytest.approx(
        (raw.estimate, raw.se, raw.df), rel=1e-9)
    assert cluster_summary(trial, adjusted=False, adjust_for=("site",)) == raw


def test_redundant_dummies_cost_no_df():
    trial = make_trial(17, teams=18, dropout=0.1)
    site = np.arange(18) % 6
    nested = replace(trial, strata=site // 2, covariates={"site": site, "team_type": site})
    k = np.unique(nested.team[nested.observed & np.isfinite(nested.baseline)]).size
    est = cluster_summary(nested, adjust_for=("baseline", "strata", "site", "team_type"))
    assert est.converged and est.df == k - 2 - 5
    with pytest.raises(ValueError, match="unknown"):
        cluster_summary(nested, adjust_for=("ward",))
