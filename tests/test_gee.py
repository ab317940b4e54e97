"""Exchangeable GEE and its corrected sandwich SEs, against statsmodels and dense algebra."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings, strategies as st

from simulator.analysis.gee import fit_exchangeable, gee_robust
from simulator.analysis.records import ObservedTrial

from clustered_data import simulate_clustered


def simulate(seed, *, teams=20, mean_size=15.0, icc=0.1, strata=1, singletons=0, cv=0.6):
    """y, X = [1, arm, baseline, stratum dummies], groups: one seeded, unbalanced data set."""
    return simulate_clustered(seed, teams=teams, mean_size=mean_size, icc=icc, strata=strata,
                              singletons=singletons, cv=cv, baseline_team_sd=3.0)


CASES = [(seed, dict(teams=t, mean_size=m, icc=icc, strata=s, singletons=one))
         for seed, (t, m, icc, s, one) in enumerate([
             (20, 15, 0.1, 1, 0), (27, 15, 0.05, 3, 2), (12, 15, 0.2, 1, 1), (12, 8, 0.3, 2, 0),
             (40, 10, 0.08, 3, 4), (8, 20, 0.15, 1, 0), (30, 5, 0.25, 2, 3), (16, 25, 0.1, 1, 0)])]


def statsmodels_gee(y, X, groups, cov_type, cov_struct=None):
    """statsmodels GEE, Gaussian identity, iterated far past its default tolerance."""
    model = sm.GEE(y, X, groups=groups, cov_struct=cov_struct or sm.cov_struct.Exchangeable())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(cov_type=cov_type, ctol=1e-12, maxiter=100)


@pytest.mark.parametrize("seed, kw", CASES)
@pytest.mark.parametrize("cov_type, correction", [("robust", "none"),
                                                  ("bias_reduced", "mancl_derouen")])
def test_agrees_with_statsmodels(seed, kw, cov_type, correction):
    y, X, groups = simulate(seed, **kw)
    ref = statsmodels_gee(y, X, groups, cov_type)
    assert ref.model.cov_struct.dep_params > 0  # truncation at 0 not involved here
    fit = fit_exchangeable(y, X, groups, correction=correction)
    assert fit.converged
    np.testing.assert_allclose(fit.rho, ref.model.cov_struct.dep_params, rtol=1e-6)
    np.testing.assert_allclose(fit.beta, ref.params, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov_beta)), ref.bse, rtol=1e-6)


def test_negative_moment_correlation_is_independence():
    """A negative moment ρ̂ is set to 0: the fit is then the independence GEE (OLS + sandwich)."""
    y, X, groups = simulate(3, teams=20, icc=0.0)
    assert statsmodels_gee(y, X, groups, "robust").model.cov_struct.dep_params < 0
    ref = statsmodels_gee(y, X, groups, "bias_reduced", sm.cov_struct.Independence())
    fit = fit_exchangeable(y, X, groups, correction="mancl_derouen")
    assert fit.rho == 0.0
    np.testing.assert_allclose(fit.beta, ref.params, rtol=1e-9)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov_beta)), ref.bse, rtol=1e-9)


def dense_sandwich(y, X, groups, rho, power):
    """A⁻¹ Σ U_j U_j' A⁻¹ with U_j = X_j'V_j⁻¹ (I − H_jj)^(−power) e_j, by dense algebra."""
    blocks = [np.flatnonzero(groups == g) for g in range(groups.max() + 1)]
    vinv = [np.linalg.inv((1 - rho) * np.eye(b.size) + rho) for b in blocks]
    A = sum(X[b].T @ v @ X[b] for b, v in zip(blocks, vinv))
    beta = np.linalg.solve(A, sum(X[b].T @ v @ y[b] for b, v in zip(blocks, vinv)))
    meat = np.zeros_like(A)
    for b, v in zip(blocks, vinv):
        H = X[b] @ np.linalg.solve(A, X[b].T) @ v
        lam, P = np.linalg.eig(np.eye(b.size) - H)  # diagonalisable, eigenvalues in (0, 1]
        adj = np.real(P @ np.diag(lam ** -power) @ np.linalg.inv(P))
        u = X[b].T @ v @ adj @ (y[b] - X[b] @ beta)
        meat += np.outer(u, u)
    Ainv = np.linalg.inv(A)
    return beta, Ainv @ meat @ Ainv


@pytest.mark.parametrize("seed, kw", CASES[:4])
@pytest.mark.parametrize("correction, power", [("none", 0.0), ("kauermann_carroll", 0.5),
                                               ("mancl_derouen", 1.0)])
def test_corrections_match_dense_definition(seed, kw, correction, power):
    y, X, groups = simulate(seed, **kw)
    fit = fit_exchangeable(y, X, groups, correction=correction)
    beta, cov = dense_sandwich(y, X, groups, fit.rho, power)
    np.testing.assert_allclose(fit.beta, beta, rtol=1e-9)
    np.testing.assert_allclose(fit.cov_beta, cov, rtol=1e-8, atol=1e-12 * np.abs(cov).max())


@pytest.mark.parametrize("seed, kw", CASES)
def test_corrected_se_at_least_uncorrected(seed, kw):
    y, X, groups = simulate(seed, **kw)
    se = {c: np.sqrt(fit_exchangeable(y, X, groups, correction=c).cov_beta[1, 1])
          for c in ("none", "kauermann_carroll", "mancl_derouen")}
    assert se["none"] <= se["kauermann_carroll"] <= se["mancl_derouen"]


def trial_from(y, X, groups, strata=None, missing=()):
    """An ObservedTrial whose ancova design is (y, X[:, :3], groups)."""
    teams = groups.max() + 1
    arm = np.zeros(teams, dtype=int)
    arm[groups] = X[:, 1].astype(int)
    followup = y.copy()
    followup[list(missing)] = np.nan
    return ObservedTrial(team=groups, arm=arm, baseline=X[:, 2], followup=followup,
                         strata=np.zeros(teams, int) if strata is None else strata,
                         participation=np.zeros(teams))


def test_gee_robust_estimate_and_df():
    y, X, groups = simulate(5, teams=14, strata=1)
    trial = trial_from(y, X, groups, missing=(0, 3, 10))
    keep = np.isfinite(trial.followup)
    fit = fit_exchangeable(y[keep], X[keep], groups[keep], correction="kauermann_carroll")
    est = gee_robust(trial, alpha=0.05, correction="kauermann_carroll")
    assert est.converged and est.df == 12
    assert est.estimate == pytest.approx(fit.beta[1], rel=1e-12)
    assert est.se == pytest.approx(np.sqrt(fit.cov_beta[1, 1]), rel=1e-12)
    strata = np.arange(14) % 3
    assert gee_robust(trial_from(y, X, groups, strata), alpha=0.05).df == 10


def test_failures_are_records():
    y, X, groups = simulate(1, teams=10)
    one_arm = trial_from(y, X, groups)
    one_arm = ObservedTrial(one_arm.team, np.ones(10, int), one_arm.baseline, one_arm.followup,
                            one_arm.strata, one_arm.participation)
    assert not gee_robust(one_arm, alpha=0.05).converged
    lonely = np.r_[1, np.zeros(9, int)]  # a stratum of one team: full leverage
    assert not gee_robust(trial_from(y, X, groups, lonely), alpha=0.05).converged
    assert gee_robust(trial_from(y, X, groups, lonely), alpha=0.05, correction="none").converged
    with pytest.raises(ValueError, match="correction"):
        gee_robust(trial_from(y, X, groups), alpha=0.05, correction="wrong")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), shift=st.floats(-50, 50), factor=st.floats(0.1, 10))
def test_location_scale_equivariance(seed, shift, factor):
    """y → a + b y moves the arm effect to b·effect and its SE to |b|·SE; ρ̂ is unchanged."""
    y, X, groups = simulate(seed, teams=12)
    fit = fit_exchangeable(y, X, groups)
    moved = fit_exchangeable(shift + factor * y, X, groups)
    assert moved.rho == pytest.approx(fit.rho, rel=1e-6, abs=1e-9)
    assert moved.beta[1] == pytest.approx(factor * fit.beta[1], rel=1e-6, abs=1e-9)
    assert moved.cov_beta[1, 1] == pytest.approx(factor**2 * fit.cov_beta[1, 1], rel=1e-6)
