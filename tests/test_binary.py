"""Binary estimators against independent references.

R (committed in tests/reference/binary_reference.csv by binary.R, R 4.2.2, lme4 1.1.31,
geepack 1.3.9, on the data sets of make_binary_data.py), and here statsmodels, scipy and dense
algebra. Tolerances, from each method's numerical error:
- cluster-level t-tests: the same closed-form arithmetic, rtol 1e-10;
- GEE: both solve the same estimating equations to a step of 1e-12 (geepack epsilon), so
  estimates, robust SEs and ρ̂ agree to rounding, rtol 1e-8 (observed ≤ 3e-12);
- GLMM, nAGQ = 10: both maximise the same AGQ approximation; lme4 stops at its optimiser's
  tolerance and its SE comes from a finite-difference Hessian of the deviance, so
  |Δβ| ≤ 1e-5, |Δσ| ≤ 1e-5, |Δ log L| ≤ 1e-6, SE rtol 1e-4 (observed 3.4e-7, 1e-6, 3e-8, 6e-6);
- GLMM, Laplace (nAGQ = 1): lme4's optimum is less tight (its log-likelihood is up to 1.3e-5
  below ours), so ours must be at least as high, and |Δβ| ≤ 1e-4, SE rtol 5e-3 (observed
  4.4e-5 and 2.4e-3).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from simulator.analysis.binary_cluster import cluster_summary_binary
from simulator.analysis.binary_data import BinaryTrials, layout
from simulator.analysis.binary_gee import fit_gee
from simulator.analysis.binary_glmm import fit_glmm, glmm_binary

HERE = Path(__file__).resolve().parent / "reference"
NAMES = [row["name"] for row in csv.DictReader(open(HERE / "binary_datasets.csv"))]


def _reference() -> dict:
    out = {}
    for row in csv.DictReader(open(HERE / "binary_reference.csv")):
        out[row["name"], row["method"]] = {k: float("nan") if v == "NA" else float(v)
                                           for k, v in row.items() if k not in ("name", "method")}
    return out


REF = _reference()


def load(name: str) -> BinaryTrials:
    """The data set as one trial, with the covariates of its R formula."""
    rows = csv.DictReader(open(HERE / "binary_datasets.csv"))
    terms = {r["name"]: r["terms"] or "" for r in rows}
    data = np.loadtxt(HERE / f"binary_{name}.csv", delimiter=",", skiprows=1)
    team = data[:, 0].astype(int)
    arm = np.zeros(team.max() + 1, int)
    arm[team] = data[:, 1]
    columns = [c.strip() for c in terms[name].split("+") if c.strip()]
    x = np.column_stack([data[:, 2 if c == "x" else 3] for c in columns]) if columns else None
    return BinaryTrials.single(team, arm, data[:, 4], x)


@pytest.mark.parametrize("name", NAMES)
def test_cluster_summaries_match_t_test(name):
    trial = load(name)
    for method, kw in (("cluster_t", {}), ("cluster_hm_difference", {"adjusted": True})):
        ref, got = REF[name, method], cluster_summary_binary(trial, **kw)
        assert got.converged[0]
        np.testing.assert_allclose([got.estimate[0], got.se[0], got.df[0], got.p_value[0]],
                                   [ref["estimate"], ref["se"], ref["df"], ref["p_value"]],
                                   rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("correction", ["none", "mancl_derouen", "kauermann_carroll"])
def test_gee_matches_geepack(name, correction):
    """geepack's own san.se for "none"; the corrections against binary.R's dense sandwich on
    geepack's fit. geepack keeps a negative ρ̂; so does the fit here for the comparison."""
    fit = fit_gee(layout(load(name)), correction=correction, moments="geepack",
                  keep_negative_rho=True)
    ref, base = REF[name, f"gee_{correction}"], REF[name, "gee_none"]
    assert fit.converged[0]
    np.testing.assert_allclose([fit.beta[0, 1], np.sqrt(fit.cov[0, 1, 1]), fit.rho[0]],
                               [ref["estimate"], ref["se"], base["alpha"]], rtol=1e-8)


def test_negative_rho_is_set_to_zero_by_default():
    name = next(n for n in NAMES if REF[n, "gee_none"]["alpha"] < 0)
    fit = fit_gee(layout(load(name)), correction="none", moments="geepack")
    assert fit.rho[0] == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_glmm_matches_glmer_agq10(name):
    fit, ref = fit_glmm(layout(load(name)), n_agq=10), REF[name, "glmm_agq10"]
    assert fit.converged[0]
    assert abs(fit.beta[0, 1] - ref["estimate"]) <= 1e-5
    assert abs(fit.sigma[0] - ref["sigma"]) <= 1e-5
    assert abs(fit.loglik[0] - ref["loglik"]) <= 1e-6
    np.testing.assert_allclose(np.sqrt(fit.cov[0, 1, 1]), ref["se"], rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_glmm_matches_glmer_laplace(name):
    fit, ref = fit_glmm(layout(load(name)), n_agq=1), REF[name, "glmm_agq1"]
    assert fit.converged[0]
    assert fit.loglik[0] >= ref["loglik"] - 1e-8
    assert abs(fit.beta[0, 1] - ref["estimate"]) <= 1e-4
    np.testing.assert_allclose(np.sqrt(fit.cov[0, 1, 1]), ref["se"], rtol=5e-3)


def test_glmm_boundary_is_the_logistic_regression():
    """k12_m20_x: glmer's σ̂ is 0; so is ours, flagged, and the df are K − 2."""
    name = next(n for n in NAMES if REF[n, "glmm_agq10"]["sigma"] < 1e-6)
    fit = fit_glmm(layout(load(name)))
    assert fit.boundary[0] and fit.sigma[0] == 0.0
    assert glmm_binary(load(name)).df[0] == 12 - 2


def test_team_level_covariate_costs_a_df():
    """z is constant within teams: the between-within df are K − 3."""
    name = "k16_team_covariate"
    assert glmm_binary(load(name)).df[0] == 16 - 3
    assert cluster_summary_binary(load(name), adjusted=True).df[0] == 16 - 3
