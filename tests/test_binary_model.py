"""The random-intercept logistic model: proportion-scale ICC, intercept, true estimands, draws.

References: adaptive quadrature (scipy.integrate.quad, tolerances 1e-13) for the integrals;
Monte Carlo with MCSE bounds for what the draws produce.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import integrate, special, stats

from simulator.analysis.binary_model import (SIGMA_MAX, draw_binary, draw_team_effects,
                                             expected_expit, intercept_for_proportion,
                                             latent_sd_for_icc, parameters_from_design,
                                             proportion_icc, true_estimands)


def quad_moment(eta: float, sigma: float, power: int = 1) -> float:
    """E_Z expit(η + σZ)^power by adaptive quadrature (independent of Gauss–Hermite)."""
    f = lambda z: special.expit(eta + sigma * z) ** power * stats.norm.pdf(z)  # noqa: E731
    return integrate.quad(f, -np.inf, np.inf, epsabs=1e-14, epsrel=1e-13, limit=200)[0]


@pytest.mark.parametrize("sigma", [0.0, 0.3, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("eta", [-3.0, -0.5, 1.2])
def test_gauss_hermite_moments_match_adaptive_quadrature(eta, sigma):
    """Error bound of the module docstring: < 1e-12 for σ ≤ 2, < 1e-9 for σ ≤ 3."""
    tol = 1e-12 if sigma <= 2 else 1e-9
    for power in (1, 2):
        assert abs(float(expected_expit(eta, sigma, power)) - quad_moment(eta, sigma, power)) < tol


def test_error_stays_small_at_sigma_max():
    assert abs(float(expected_expit(-1.0, SIGMA_MAX)) - quad_moment(-1.0, SIGMA_MAX)) < 1e-6


@pytest.mark.parametrize("p, sigma", [(0.3, 0.5), (0.05, 1.5), (0.8, 2.5), (0.5, 0.0)])
def test_intercept_gives_the_marginal_proportion(p, sigma):
    b0 = intercept_for_proportion(p, sigma)
    assert abs(quad_moment(b0, sigma) - p) < 1e-11


@pytest.mark.parametrize("p, icc", [(0.3, 0.05), (0.1, 0.02), (0.6, 0.2), (0.3, 0.4)])
def test_latent_sd_reproduces_the_icc(p, icc):
    sigma = latent_sd_for_icc(icc, p)
    b0 = intercept_for_proportion(p, sigma)
    var_pi = quad_moment(b0, sigma, 2) - quad_moment(b0, sigma) ** 2
    assert abs(var_pi / (p * (1 - p)) - icc) < 1e-10


def test_zero_icc_is_zero_sd_and_bad_icc_raises():
    assert latent_sd_for_icc(0.0, 0.3) == 0.0
    with pytest.raises(ValueError):
        latent_sd_for_icc(0.95, 0.3)
    with pytest.raises(ValueError):
        intercept_for_proportion(1.2, 0.5)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 0.95), st.floats(0.05, 3.0), st.floats(0.05, 1.0))
def test_icc_increases_with_sigma(p, sigma, bump):
    assert proportion_icc(p, sigma + bump) > proportion_icc(p, sigma)


def test_true_estimands_by_quadrature():
    par = parameters_from_design(0.3, 0.1, 2.0)
    truth = true_estimands(par.intercept, par.sigma_u, par.log_or)
    p0, p1 = quad_moment(par.intercept, par.sigma_u), quad_moment(par.intercept + par.log_or,
                                                                   par.sigma_u)
    assert truth.conditional_log_or == np.log(2.0)
    assert abs(truth.proportion_ctl - 0.3) < 1e-11 and abs(truth.proportion_int - p1) < 1e-11
    assert abs(truth.risk_difference - (p1 - p0)) < 1e-11
    assert abs(truth.marginal_log_or - (special.logit(p1) - special.logit(p0))) < 1e-9
    assert 0 < truth.marginal_log_or < truth.conditional_log_or   # attenuation


def test_draws_have_the_model_moments():
    """Many teams of two: the mean proportion and the within-team correlation of y are p and
    the proportion-scale ICC, within 3.5 MCSE (MCSE from the sample's own spread)."""
    rng = np.random.default_rng(20250115)
    p, icc, teams = 0.3, 0.1, 200_000
    par = parameters_from_design(p, icc, 1.0)
    u = draw_team_effects(par.sigma_u, teams, rng=rng)
    y = draw_binary(np.repeat(par.intercept + u, 2).reshape(teams, 2), rng=rng)
    mean, mean_se = y.mean(), y.mean(axis=1).std() / np.sqrt(teams)
    assert abs(mean - p) < 3.5 * mean_se
    prod = (y[:, 0] - p) * (y[:, 1] - p) / (p * (1 - p))
    assert abs(prod.mean() - icc) < 3.5 * prod.std() / np.sqrt(teams)


def test_draws_depend_only_on_the_generator():
    eta = np.linspace(-2, 2, 50)
    a = draw_binary(eta, rng=np.random.default_rng(3))
    b = draw_binary(eta, rng=np.random.default_rng(3))
    assert np.array_equal(a, b) and set(np.unique(a)) <= {0.0, 1.0}
