"""Satterthwaite and Kenward–Roger df for mixed_ancova: against lmerTest / pbkrtest output
committed in tests/reference (R not needed here), against a slow dense implementation with
numerical derivatives, the balanced-design K − 2 result, and stability to tiny perturbations."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from simulator.analysis.mixed import mixed_ancova
from simulator.analysis.mixed.df import kenward_roger, satterthwaite, variance_derivatives
from simulator.analysis.mixed.reml import RemlFit, fit_reml
from simulator.analysis.mixed.stats import design_stats
from simulator.analysis.records import ObservedTrial

REFERENCE = Path(__file__).resolve().parent / "reference"
METHODS = ("satterthwaite", "kenward_roger")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def reference_trial(name: str) -> ObservedTrial:
    """One reference data set (make_mixed_df_data.py) as the trial a simulation would give."""
    rows = read_rows(REFERENCE / f"mixed_df_{name}.csv")
    team = np.array([int(r["team"]) for r in rows])
    arm, stratum = np.zeros(team.max() + 1, int), np.zeros(team.max() + 1, int)
    arm[team] = [int(r["arm"]) for r in rows]
    stratum[team] = [int(r["stratum"]) for r in rows]
    return ObservedTrial(team=team, arm=arm, baseline=np.array([float(r["baseline"]) for r in rows]),
                         followup=np.array([float(r["y"]) for r in rows]), strata=stratum,
                         participation=np.zeros(arm.size))


def adjustments(terms: str) -> tuple[str, ...]:
    """The lmer formula terms of mixed_df_datasets.csv as mixed_ancova's ``adjust_for``."""
    return (("baseline",) if "baseline" in terms else ()) + (("strata",) if "stratum" in terms else ())


REFERENCE_CASES = [(d["name"], d["terms"], r["method"], r)
                   for d in read_rows(REFERENCE / "mixed_df_datasets.csv")
                   for r in read_rows(REFERENCE / "mixed_df_reference.csv") if r["name"] == d["name"]]


@pytest.mark.parametrize("name, terms, method, ref", REFERENCE_CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in REFERENCE_CASES])
def test_matches_lmertest_and_pbkrtest(name, terms, method, ref):
    """lme4 1.1.31 / lmerTest 3.1.3 / pbkrtest 0.5.2 output of tests/reference/mixed_df.R."""
    est = mixed_ancova(reference_trial(name), df_method=method, adjust_for=adjustments(terms))
    assert est.converged
    assert est.estimate == pytest.approx(float(ref["estimate"]), rel=1e-6)
    assert est.se == pytest.approx(float(ref["se"]), rel=1e-6)
    assert est.df == pytest.approx(float(ref["df"]), rel=1e-4)
    assert est.p_value == pytest.approx(float(ref["p_value"]), abs=1e-5)


def test_reference_covers_the_boundary_and_both_methods():
    assert {c[2] for c in REFERENCE_CASES} == set(METHODS) and len(REFERENCE_CASES) >= 12
    boundary = [c[3] for c in REFERENCE_CASES if c[0] == "boundary"]
    assert boundary and all(float(r["var_between"]) == 0.0 for r in boundary)


def simulate(seed, *, teams=12, sizes=None, icc=0.1, baseline=True, strata=1):
    """y, X = [1, arm, baseline?, stratum dummies], groups: a seeded random-intercept data set."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 14, teams) if sizes is None else np.full(teams, sizes)
    groups = np.repeat(np.arange(teams), sizes)
    arm = rng.permutation(np.arange(teams) % 2)
    stratum = (np.arange(teams) * 5) % strata
    b = rng.normal(40.0, 10.0, groups.size)
    u = rng.normal(0.0, 10.0 * np.sqrt(icc), teams)
    y = 20.0 + 2.0 * arm[groups] + 0.5 * b + u[groups] + rng.normal(0.0, 10.0, groups.size)
    dummies = (stratum[groups][:, None] == np.arange(1, strata)[None, :]).astype(float)
    cols = [np.ones(groups.size), arm[groups]] + ([b] if baseline else []) + [dummies]
    return y, np.column_stack(cols), groups


def derivatives(y, X, groups):
    s = design_stats(y, X, groups)  # one trial: a batch of one
    f = fit_reml(s)
    assert f.ok.all()
    return RemlFit.of(s, f), variance_derivatives(s, f).trial(0)


def arm_contrast(X):
    """c selecting the arm coefficient (column 1 of X)."""
    return np.eye(X.shape[1])[1]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), teams=st.integers(4, 30), size=st.integers(2, 20),
       icc=st.sampled_from([0.02, 0.1, 0.5]))
def test_balanced_design_without_covariates_has_k_minus_2_df(seed, teams, size, icc):
    """Equal team sizes, y ~ arm: the REML fit is the ANOVA fit and both df are K − 2."""
    y, X, groups = simulate(seed, teams=teams, sizes=size, icc=icc, baseline=False)
    fit, d = derivatives(y, X, groups)
    assert kenward_roger(d, arm_contrast(X))[1] == pytest.approx(teams - 2, rel=1e-9)
    assume(fit.gamma > 0.0)  # Satterthwaite at the boundary: n − p (test below)
    assert satterthwaite(d, arm_contrast(X))[1] == pytest.approx(teams - 2, rel=1e-8)


def dense_model(X, groups, theta):
    """Dense V(θ) and its derivatives ZZ', I for θ = (σ²_b, σ²_w)."""
    Z = (groups[:, None] == np.arange(groups.max() + 1)[None, :]).astype(float)
    V1, V2 = Z @ Z.T, np.eye(groups.size)
    return theta[0] * V1 + theta[1] * V2, (V1, V2)


def dense_deviance(y, X, groups, theta):
    """(REML deviance up to a constant, Φ) from dense matrices."""
    V, _ = dense_model(X, groups, theta)
    Vi = np.linalg.inv(V)
    H = X.T @ Vi @ X
    r = y - X @ np.linalg.solve(H, X.T @ Vi @ y)
    return np.linalg.slogdet(V)[1] + np.linalg.slogdet(H)[1] + r @ Vi @ r, np.linalg.inv(H)


def rounding_noise(f, theta):
    """Rounding noise δ of one evaluation of f near θ, on this machine: the largest change of
    f over a 5 × 5 grid of points θ(1 + 1e-13 k), |k| ≤ 2. The true change there is at most
    2e-13 |θ·∇f| (nil at the REML optimum), which can only make δ larger; never less than
    one ulp of f(θ)."""
    f0 = f(theta)
    grid = [f(theta * (1 + 1e-13 * np.array([a, b]))) for a in range(-2, 3) for b in range(-2, 3)]
    return max(max(abs(x - f0) for x in grid), float(np.spacing(abs(f0))))


def second_differences(f, theta, h):
    """Central second differences with steps h: [f(θ+h_i+h_j) − f(θ+h_i−h_j) − f(θ−h_i+h_j)
    + f(θ−h_i−h_j)] / (4 h_i h_j); each carries rounding at most 4δ / (4 h_i h_j)."""
    e = np.diag(h)
    return np.array([[(f(theta + e[i] + e[j]) - f(theta + e[i] - e[j]) - f(theta - e[i] + e[j])
                       + f(theta - e[i] - e[j])) / (4 * h[i] * h[j]) for j in range(2)]
                     for i in range(2)])


def first_differences(f, theta, h):
    """Central first differences (f(θ+h_i) − f(θ−h_i)) / (2h_i); rounding at most δ / h_i."""
    e = np.diag(h)
    return np.array([(f(theta + e[i]) - f(theta - e[i])) / (2 * h[i]) for i in range(2)])


# Reference derivatives and their error bound. A central difference with steps h = sθ is
# D(s) = D + a s² + b s⁴ + O(s⁶) (even in s: f is smooth). Richardson's table:
# R(s) = (4 D(s/2) − D(s)) / 3 = D − b s⁴/4 + O(s⁶) and R₂ = (16 R(s) − R(2s)) / 15 = D + O(s⁶).
# - Truncation: R₂'s error is bounded by that of the lower-order R(s), |R₂ − R(s)| =
#   |R(s) − R(2s)| / 15 (Ridders' estimate; for the REML deviance it overstates R₂'s error by
#   about 1/(2s)² — its σ²_w part behaves like m (log u + 1/u) in u = σ²_w/σ̂²_w, with s⁴ and
#   s⁶ errors 0.42 (2s)⁴ ≈ 7e-8 and ~(2s)⁶ ≈ 6e-11 relative at s = 0.01).
# - Rounding: with each f value off by at most δ, D(s) is off by at most δ/(h_i h_j) (second
#   differences) or δ/h_i (first), D(s/2) by 4× or 2× that, D(2s) by ¼ or ½. Through the
#   table's weights R₂ is off by at most (16·17/3 + 17/12)/15 < 6.15 δ/(h_i h_j), or
#   (16·3 + 3/2)/15 = 3.3 δ/h_i: about 4e-8 relative at s = 0.01 with δ ≈ 1e-15 |f|.
# (The old single difference at s = 1e-4 had rounding ε|f|/h² up to ~1e-5 relative: the size
# of its tolerance, rtol = 1e-5, which it exceeded on some machines.)
STEP = 0.01


def richardson(differences, f, theta, s=STEP):
    """(Richardson-extrapolated central differences at steps sθ, bound on their error)."""
    d = {k: differences(f, theta, k * s * theta) for k in (0.5, 1.0, 2.0)}
    fine, coarse = (4 * d[0.5] - d[1.0]) / 3, (4 * d[1.0] - d[2.0]) / 3
    h, delta = s * theta, rounding_noise(f, theta)
    rounding = 6.15 * delta / np.outer(h, h) if fine.ndim == 2 else 3.3 * delta / h
    return (16 * fine - coarse) / 15, np.abs(fine - coarse) / 15 + rounding


def numerical_satterthwaite(y, X, groups, theta, c):
    """lmerTest's recipe with numerical derivatives: A = 2 Hess⁻¹ of the REML deviance,
    g = ∂(c'Φc)/∂θ, df = 2(c'Φc)² / (g'Ag) = (c'Φc)² / (g'Hess⁻¹g). Returns the Hessian, its
    error bound, the df and the df's error bound: to first order, with u = Hess⁻¹g,
    δ(g'Hess⁻¹g) = 2u'δg − u'δHess u, so |δdf| / df ≤ (2|u|'εg + |u|'εHess|u|) / (g'Hess⁻¹g)."""
    f = lambda t: dense_deviance(y, X, groups, t)[0]  # noqa: E731
    v = lambda t: c @ dense_deviance(y, X, groups, t)[1] @ c  # noqa: E731
    hess, hess_err = richardson(second_differences, f, theta)
    g, g_err = richardson(first_differences, v, theta)
    u = np.linalg.solve(hess, g)
    quad = g @ u
    df = v(theta) ** 2 / quad
    df_err = df * (2 * np.abs(u) @ g_err + np.abs(u) @ hess_err @ np.abs(u)) / quad
    return hess, hess_err, df, df_err


def dense_kenward_roger(X, groups, theta, c):
    """pbkrtest ``vcovAdj16_internal`` and the general ``Lb_ddf`` (q = 1), transcribed."""
    V, G = dense_model(X, groups, theta)
    Vi = np.linalg.inv(V)
    phi = np.linalg.inv(X.T @ Vi @ X)
    O = [g @ Vi @ X for g in G]
    P = [-(o.T @ Vi @ X) for o in O]
    Q = [[O[i].T @ Vi @ O[j] for j in range(2)] for i in range(2)]
    K = [[np.trace(G[i] @ Vi @ G[j] @ Vi) for j in range(2)] for i in range(2)]
    IE = np.array([[K[i][j] - 2 * np.sum(phi * Q[i][j]) + np.sum((phi @ P[i]) * (P[j] @ phi))
                    for j in range(2)] for i in range(2)])
    W = 2 * np.linalg.inv(IE)
    U = sum(W[i, j] * (Q[i][j] - P[i] @ phi @ P[j]) for i in range(2) for j in range(2))
    Theta = np.outer(c, c) / (c @ phi @ c)
    u = [Theta @ phi @ P[i] @ phi for i in range(2)]
    A1 = sum(W[i, j] * np.trace(u[i]) * np.trace(u[j]) for i in range(2) for j in range(2))
    A2 = sum(W[i, j] * np.sum(u[i] * u[j].T) for i in range(2) for j in range(2))
    B = (A1 + 6 * A2) / 2
    g = (2 * A1 - 5 * A2) / (3 * A2)
    c1, c2, c3 = g / (3 + 2 * (1 - g)), (1 - g) / (3 + 2 * (1 - g)), (3 - g) / (3 + 2 * (1 - g))
    rho = ((1 - A2) / (1 - c2 * B)) ** 2 * (1 + c1 * B) / (1 - c3 * B)
    return IE, c @ (phi + 2 * phi @ U @ phi) @ c, 4 + 3 / (rho - 1)


@pytest.mark.parametrize("seed, kw", [(0, {}), (1, dict(strata=3)), (2, dict(icc=0.4, teams=8)),
                                      (3, dict(teams=15, icc=0.03, strata=2))])
def test_closed_forms_match_dense_numerical_derivatives(seed, kw):
    """Observed Hessian and Satterthwaite df against numerical derivatives of the dense REML
    deviance, within the reference's own error bound (``richardson``); that bound is at most
    1e-6 relative, so any closed-form error above 2e-6 fails. KR's quantities are computed
    in closed form both ways: they agree to rounding (1e-9)."""
    y, X, groups = simulate(seed, **kw)
    fit, d = derivatives(y, X, groups)
    theta, c = np.array([fit.var_between, fit.var_within]), arm_contrast(X)
    assert fit.gamma > 0.0
    hess, hess_err, df, df_err = numerical_satterthwaite(y, X, groups, theta, c)
    assert np.all(hess_err <= 1e-6 * np.abs(hess)) and df_err <= 1e-6 * df
    assert np.all(np.abs(d.observed - hess) <= hess_err), (d.observed - hess) / hess_err
    assert abs(satterthwaite(d, c)[1] - df) <= df_err
    IE, var_adj, kr_df = dense_kenward_roger(X, groups, theta, c)
    np.testing.assert_allclose(d.expected, IE, rtol=1e-9)
    assert kenward_roger(d, c) == pytest.approx((var_adj, kr_df), rel=1e-9)


def test_boundary_satterthwaite_is_residual_df():
    """σ̂²_b = 0: lmerTest's ∂Φ/∂σ_b vanishes there, and the df is n − p (σ²_w alone)."""
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(14), 8)
    e = rng.normal(0.0, 1.0, groups.size)
    e -= 0.9 * (np.bincount(groups, weights=e) / 8)[groups]
    X = np.column_stack([np.ones(groups.size), (np.arange(14) % 2)[groups],
                         rng.normal(size=groups.size)])
    fit, d = derivatives(1.0 + e, X, groups)
    c = arm_contrast(X)
    assert fit.gamma == 0.0 and d.boundary
    assert satterthwaite(d, c)[1] == pytest.approx(groups.size - 3, rel=1e-12)
    assert 1.0 < kenward_roger(d, c)[1] < 14.0


def trial_from(y, X, groups, strata=None):
    arm = np.zeros(groups.max() + 1, int)
    arm[groups] = X[:, 1]
    return ObservedTrial(team=groups, arm=arm, baseline=X[:, 2], followup=y,
                         strata=np.zeros(arm.size, int) if strata is None else strata,
                         participation=np.zeros(arm.size))


@pytest.mark.parametrize("seed, kw", [(5, {}), (6, dict(teams=27, icc=0.05)),
                                      (7, dict(teams=8, icc=0.5)), (8, dict(teams=20, icc=0.01))])
def test_p_values_are_stable_to_tiny_perturbations(seed, kw):
    """Exact derivatives: perturbing the data by 1e-12 moves p by far less than 1e-6."""
    y, X, groups = simulate(seed, **kw)
    noise = np.random.default_rng(seed).normal(0.0, 1e-12, y.size)
    for method in ("between_within",) + METHODS:
        a = mixed_ancova(trial_from(y, X, groups), df_method=method)
        b = mixed_ancova(trial_from(y * (1 + noise), X, groups), df_method=method)
        assert a.converged and abs(a.p_value - b.p_value) < 1e-6
        assert a.df == pytest.approx(b.df, rel=1e-6)


def test_methods_share_the_estimate_and_kr_inflates_the_se():
    y, X, groups = simulate(9, teams=16)
    trial = trial_from(y, X, groups)
    bw, sw, kr = (mixed_ancova(trial, df_method=m) for m in ("between_within",) + METHODS)
    assert bw.estimate == sw.estimate == kr.estimate
    assert bw.se == sw.se and kr.se > sw.se
    assert bw.df == 16 - 2 and 1.0 < kr.df and 1.0 < sw.df


def test_unknown_df_method_is_an_error():
    y, X, groups = simulate(10)
    with pytest.raises(ValueError, match="df_method"):
        mixed_ancova(trial_from(y, X, groups), df_method="containment")
