"""Binary estimators against statsmodels, scipy and dense algebra; batching and failures.

Tolerances: statsmodels solves the same GEE equations (ctol 1e-12): rtol 1e-7. The dense
Kauermann–Carroll sandwich is the same quantity by other algebra: rtol 1e-9. The AGQ
likelihood against adaptive quadrature: |Δ log L| below the 25-node rule's error (< 1e-8).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import statsmodels.api as sm
from scipy import integrate, special, stats

from binary_data_helpers import one_trial, simulate_batch
from simulator.analysis.binary_cluster import cluster_summary_binary
from simulator.analysis.binary_data import BinaryTrials, layout
from simulator.analysis.binary_gee import design, fit_gee, gee_binary
from simulator.analysis.binary_glmm import fit_glmm, glmm_binary

CASES = [dict(teams=12, mean_size=20, icc=0.1), dict(teams=20, mean_size=15, cv=0.6, icc=0.15,
                                                      x_effect=0.5),
         dict(teams=8, mean_size=30, cv=0.3, p=0.5, icc=0.2, log_or=0.5, x_effect=-0.4)]


def statsmodels_gee(y, X, groups, cov_type):
    model = sm.GEE(y, X, groups=groups, family=sm.families.Binomial(),
                   cov_struct=sm.cov_struct.Exchangeable())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(cov_type=cov_type, ctol=1e-12, maxiter=200)


@pytest.mark.parametrize("seed, case", list(enumerate(CASES)))
@pytest.mark.parametrize("cov_type, correction", [("robust", "none"),
                                                  ("bias_reduced", "mancl_derouen")])
def test_gee_matches_statsmodels(seed, case, cov_type, correction):
    trial = one_trial(simulate_batch(np.random.default_rng(seed), 1, **case), 0)
    lay = layout(trial)
    ref = statsmodels_gee(lay.y, design(lay), lay.group, cov_type)
    assert ref.model.cov_struct.dep_params > 0
    fit = fit_gee(lay, correction=correction)
    np.testing.assert_allclose(fit.beta[0], ref.params, rtol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov[0])), ref.bse, rtol=1e-7)
    np.testing.assert_allclose(fit.rho[0], ref.model.cov_struct.dep_params, rtol=1e-7)


def dense_sandwich(lay, beta, rho, power):
    """A⁻¹ Σ U_j U_j' A⁻¹ with n_j × n_j matrices: U_j = D_j'V_j⁻¹ (I − H_jj)^(−power) e_j."""
    X = design(lay)
    mu = special.expit(X @ beta)
    pieces, A = [], 0.0
    for j in range(lay.n_j.size):
        i = lay.group == j
        s, n = np.sqrt(mu[i] * (1 - mu[i])), int(i.sum())
        V = np.diag(s) @ ((1 - rho) * np.eye(n) + rho) @ np.diag(s)
        D = (mu[i] * (1 - mu[i]))[:, None] * X[i]
        Vinv = np.linalg.inv(V)
        A = A + D.T @ Vinv @ D
        pieces.append((D, Vinv, lay.y[i] - mu[i], n))
    Ainv, B = np.linalg.inv(A), 0.0
    for D, Vinv, e, n in pieces:
        M = scipy.linalg.fractional_matrix_power(np.eye(n) - D @ Ainv @ D.T @ Vinv, -power)
        U = D.T @ Vinv @ np.real(M) @ e
        B = B + np.outer(U, U)
    return Ainv @ B @ Ainv


@pytest.mark.parametrize("seed, case", list(enumerate(CASES)))
@pytest.mark.parametrize("correction, power", [("kauermann_carroll", 0.5),
                                               ("mancl_derouen", 1.0), ("none", 0.0)])
def test_corrected_sandwich_matches_dense_algebra(seed, case, correction, power):
    lay = layout(one_trial(simulate_batch(np.random.default_rng(seed), 1, **case), 0))
    fit = fit_gee(lay, correction=correction)
    ref = dense_sandwich(lay, fit.beta[0], fit.rho[0], power)
    np.testing.assert_allclose(fit.cov[0], ref, rtol=1e-9, atol=1e-14)


def test_cluster_summary_is_scipy_t_test_on_team_proportions():
    batch = simulate_batch(np.random.default_rng(7), 3, teams=14, cv=0.5, icc=0.1)
    got = cluster_summary_binary(batch)
    for r in range(3):
        t = one_trial(batch, r)
        prop = np.bincount(t.team, t.y) / np.bincount(t.team)
        ref = stats.ttest_ind(prop[t.arm[0] == 1], prop[t.arm[0] == 0])
        assert abs(got.p_value[r] - ref.pvalue) < 1e-12 and got.df[r] == 12


def exact_loglik(lay, beta, sigma):
    """Σ_j log ∫ Π_i Bernoulli(y_ij | expit(x'β + σz)) φ(z) dz by adaptive quadrature."""
    eta, total = design(lay) @ beta, 0.0
    for j in range(lay.n_j.size):
        i = lay.group == j
        sign = 2 * lay.y[i] - 1

        def f(z, sign=sign, eta_i=eta[i]):
            return np.prod(special.expit(sign * (eta_i + sigma * z))) * stats.norm.pdf(z)
        total += np.log(integrate.quad(f, -12, 12, epsabs=0, epsrel=1e-12, limit=200)[0])
    return total


def test_glmm_is_the_exact_maximum_likelihood():
    """With 25 nodes the AGQ log-likelihood is the integral's, and the fit is its maximum:
    the exactly integrated log-likelihood's central-difference gradient vanishes."""
    lay = layout(one_trial(simulate_batch(np.random.default_rng(11), 1, teams=8, icc=0.2,
                                          log_or=0.5, x_effect=0.5), 0))
    fit = fit_glmm(lay, n_agq=25)
    beta, sigma = fit.beta[0], fit.sigma[0]
    assert abs(fit.loglik[0] - exact_loglik(lay, beta, sigma)) < 1e-8
    h = 1e-4
    for a in range(beta.size + 1):
        up, down = np.r_[beta, sigma].copy(), np.r_[beta, sigma].copy()
        up[a] += h
        down[a] -= h
        rise = exact_loglik(lay, up[:-1], up[-1]) - exact_loglik(lay, down[:-1], down[-1])
        slope = rise / (2 * h)
        assert abs(slope) < 1e-5


@pytest.mark.parametrize("estimator", [cluster_summary_binary, gee_binary, glmm_binary])
def test_a_trial_gets_the_same_answer_alone_or_in_a_batch(estimator):
    batch = simulate_batch(np.random.default_rng(3), 6, teams=10, cv=0.5, icc=0.1,
                           x_effect=0.3)
    together = estimator(batch)
    for r in range(6):
        alone = estimator(one_trial(batch, r))
        np.testing.assert_allclose(alone.estimate[0], together.estimate[r], rtol=1e-12)
        np.testing.assert_allclose(alone.se[0], together.se[r], rtol=1e-10)


def _degenerate_batch():
    """Trial 0 fine; trial 1 all outcomes 0; trial 2 every team in one arm; trial 3 arm
    perfectly separates the outcome; trial 4 nobody observed."""
    batch = simulate_batch(np.random.default_rng(5), 5, teams=8, icc=0.1)
    y, arm = batch.y.copy(), batch.arm.copy()
    y[batch.trial == 1] = 0.0
    arm[2] = 1
    rows = batch.trial == 3
    y[rows] = arm[3][batch.team[rows]]
    y[batch.trial == 4] = np.nan
    return BinaryTrials(batch.trial, batch.team, arm, y)


@pytest.mark.parametrize("estimator", [cluster_summary_binary, gee_binary, glmm_binary])
def test_failures_are_nan_not_exceptions(estimator):
    out = estimator(_degenerate_batch())
    assert out.converged[0] and np.isfinite(out.estimate[0])
    assert not out.converged[1:].any() and np.isnan(out.estimate[1:]).all()
    assert np.isnan(out.p_value[1:]).all()


def test_ratio_residuals_are_log_observed_over_expected():
    """Hayes & Moulton ratio residuals: t-test of log(O_j/E_j), E_j from a statsmodels
    logistic regression on x without arm; df K − 2."""
    batch = simulate_batch(np.random.default_rng(9), 1, teams=14, mean_size=30, icc=0.05,
                           x_effect=0.6)
    t = one_trial(batch, 0)
    got = cluster_summary_binary(t, adjusted=True, residual="ratio")
    X = sm.add_constant(np.asarray(t.x, float))
    expected = sm.GLM(t.y, X, family=sm.families.Binomial()).fit(tol=1e-14).fittedvalues
    log_ratio = np.log(np.bincount(t.team, t.y) / np.bincount(t.team, expected))
    ref = stats.ttest_ind(log_ratio[t.arm[0] == 1], log_ratio[t.arm[0] == 0])
    diff = log_ratio[t.arm[0] == 1].mean() - log_ratio[t.arm[0] == 0].mean()
    assert got.converged[0] and got.df[0] == 12
    np.testing.assert_allclose([got.estimate[0], got.p_value[0]], [diff, ref.pvalue], rtol=1e-9)
