"""REML random-intercept fit and mixed_ancova, checked against statsmodels and dense algebra."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import assume, given, settings, strategies as st
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLMParams

from simulator.analysis.mixed import fit_random_intercept, mixed_ancova
from simulator.analysis.records import ObservedTrial

from clustered_data import simulate_clustered


def simulate(seed, *, teams=27, mean_size=15.0, icc=0.05, strata=1, singletons=0, cv=0.5):
    """y, X = [1, arm, baseline, stratum dummies], groups: one seeded random-intercept data set."""
    return simulate_clustered(seed, teams=teams, mean_size=mean_size, icc=icc, strata=strata,
                              singletons=singletons, cv=cv)


# (seed, settings): unbalanced teams throughout (CV 0.5), teams of one patient, strata dummies,
# few and many teams, ICC from near 0 to large.
CASES = [(seed, dict(teams=t, mean_size=m, icc=icc, strata=s, singletons=one))
         for seed, (t, m, icc, s, one) in enumerate([
             (27, 15, 0.05, 1, 0), (27, 15, 0.05, 3, 2), (27, 15, 0.01, 2, 4), (27, 15, 0.2, 1, 3),
             (27, 8, 0.05, 4, 5), (12, 15, 0.1, 1, 2), (12, 6, 0.3, 2, 3), (40, 10, 0.02, 3, 6),
             (40, 4, 0.1, 1, 10), (8, 20, 0.05, 1, 1), (8, 5, 0.5, 2, 2), (20, 15, 0.05, 5, 0),
             (27, 15, 0.003, 1, 2), (27, 3, 0.15, 1, 8), (16, 25, 0.08, 2, 0), (30, 12, 0.05, 3, 7),
             (10, 10, 0.8, 1, 1), (27, 15, 0.05, 2, 0), (27, 15, 0.05, 1, 1), (50, 6, 0.04, 2, 12),
             (14, 30, 0.02, 1, 0), (6, 12, 0.3, 1, 1), (27, 15, 0.12, 4, 3), (33, 9, 0.06, 2, 5)])]


def statsmodels_reml(y, X, groups):
    """statsmodels MixedLM (REML), best of Powell and BFGS. Powell is the more reliable (BFGS
    stops early near γ = 0, and L-BFGS often ends at a spurious +inf log-likelihood there)."""
    model = sm.MixedLM(y, X, groups=groups)
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("powell", "bfgs"):
            fits.append(model.fit(reml=True, method=[method], maxiter=5000))
    best = max(fits, key=lambda r: r.llf if np.isfinite(r.llf) else -np.inf)
    return model, best


def dense_gls(y, X, groups, gamma):
    """β, (X'V⁻¹X)⁻¹ and the REML log-likelihood (statsmodels' constant) at γ, inverting each
    group's explicit block W_j = I + γJ numerically: independent of the closed forms."""
    H, hy, logdet_w = 0.0, 0.0, 0.0
    winv = {}
    for j in range(groups.max() + 1):
        rows = groups == j
        W = np.eye(rows.sum()) + gamma
        winv[j] = np.linalg.inv(W)
        H = H + X[rows].T @ winv[j] @ X[rows]
        hy = hy + X[rows].T @ winv[j] @ y[rows]
        logdet_w += np.linalg.slogdet(W)[1]
    beta = np.linalg.solve(H, hy)
    r = y - X @ beta
    dof = y.size - X.shape[1]
    sigma2 = sum(r[groups == j] @ winv[j] @ r[groups == j] for j in winv) / dof
    loglik = -0.5 * (dof * (1 + np.log(2 * np.pi * sigma2)) + logdet_w + np.linalg.slogdet(H)[1])
    return beta, sigma2 * np.linalg.inv(H), loglik


def statsmodels_at(model, y, X, gamma):
    """statsmodels' own formulas at a given γ: (GLS β, profiled σ²_w, SE of β from the
    fixed-effects block of its Hessian, X'V⁻¹X). (Its bse_fe inverts the whole observed
    Hessian, including the β × variance cross terms, and so differs from (X'V⁻¹X)⁻¹ by up to
    ~1 %.) At γ = 0 its GLS is singular there: V = σ²I, so OLS."""
    if gamma == 0.0:
        ols = sm.OLS(y, X).fit()
        return ols.params, ols.scale, ols.bse
    cov_re, p = np.array([[gamma]]), X.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        beta = model.get_fe_params(cov_re, np.zeros(0))[0]   # (β, singular?)
        scale = model.get_scale(beta, cov_re, np.zeros(0))
        hess, _ = model.hessian(MixedLMParams.from_components(fe_params=beta, cov_re=cov_re))
    return beta, scale, np.sqrt(np.diag(np.linalg.inv(-hess[:p, :p])))


@pytest.mark.parametrize("seed, kw", CASES)
def test_reml_matches_statsmodels(seed, kw):
    """Same criterion as statsmodels (its REML log-likelihood at our γ̂), an optimum at least
    as good as its best, and its β, σ²_w and SE at our γ̂. The estimates are compared at our γ̂,
    where both compute the same formulas and agree to rounding (1e-9), not at statsmodels' own
    optimum: its optimisers stop within their tolerance of it, at a point that shifts with the
    machine's rounding, which the old comparison (1e-4 relative) absorbed with only a few-fold
    margin. γ̂ itself is pinned down by the criterion checks and test_optimum_beats_a_fine_grid."""
    y, X, groups = simulate(seed, **kw)
    fit = fit_random_intercept(y, X, groups)
    model, ref = statsmodels_reml(y, X, groups)
    assert fit.converged and fit.n_obs == y.size and fit.n_groups == kw["teams"]
    # Same criterion: a dense REML log-likelihood, and statsmodels', at our γ equal ours ...
    assert fit.reml_loglik == pytest.approx(dense_gls(y, X, groups, fit.gamma)[2], rel=1e-10)
    if fit.gamma > 1e-3:  # statsmodels' loglike is inaccurate as γ → 0 (inf at γ = 0)
        at_ours = model.loglike(MixedLMParams.from_components(cov_re=np.array([[fit.gamma]])))
        assert fit.reml_loglik == pytest.approx(at_ours, rel=1e-10)
    # ... and our optimum is at least as good as statsmodels' best.
    assert fit.reml_loglik >= ref.llf - 1e-9 * abs(ref.llf)
    beta, scale, ref_se = statsmodels_at(model, y, X, fit.gamma)
    se = np.sqrt(np.diag(fit.cov_beta))
    assert np.all(np.abs(fit.beta - beta) <= 1e-9 * np.maximum(np.abs(fit.beta), se))
    np.testing.assert_allclose(se, ref_se, rtol=1e-9)
    assert fit.var_within == pytest.approx(scale, rel=1e-9)
    assert fit.var_between == pytest.approx(fit.gamma * scale, rel=1e-9, abs=0.0)


@pytest.mark.parametrize("seed, kw", CASES)
def test_closed_forms_match_dense_gls(seed, kw):
    y, X, groups = simulate(seed, **kw)
    fit = fit_random_intercept(y, X, groups)
    beta, cov, _ = dense_gls(y, X, groups, fit.gamma)
    np.testing.assert_allclose(fit.beta, beta, rtol=1e-9)
    np.testing.assert_allclose(fit.cov_beta, cov, rtol=1e-8, atol=1e-12)
    assert fit.var_between == pytest.approx(fit.gamma * fit.var_within, rel=1e-12)


def dense_criterion(y, X, groups, gammas):
    """f(γ) = −2 × REML log-likelihood (statsmodels' constant) at each of ``gammas``, from the
    explicit n × n matrices V = I + γZZ': independent of the closed forms, all γ at once."""
    Z = (groups[:, None] == np.arange(groups.max() + 1)[None, :]).astype(float)
    V = np.eye(y.size) + np.asarray(gammas, float)[:, None, None] * (Z @ Z.T)
    Vi = np.linalg.inv(V)
    H = X.T @ Vi @ X
    beta = np.linalg.solve(H, (X.T @ Vi @ y)[..., None])[..., 0]
    r = y - beta @ X.T
    dof = y.size - X.shape[1]
    sigma2 = np.einsum("ki,kij,kj->k", r, Vi, r) / dof
    return (dof * (1 + np.log(2 * np.pi * sigma2)) + np.linalg.slogdet(V)[1]
            + np.linalg.slogdet(H)[1])


@pytest.mark.parametrize("seed, kw", [c for c in CASES if c[0] in (0, 3, 6, 10, 16, 21)])
def test_optimum_is_a_stationary_point_of_the_dense_criterion(seed, kw):
    """γ̂ (Newton on the closed-form slope f') is where the dense criterion's derivative
    vanishes: a Newton step on central differences of it moves γ̂ by < 1e-6 relative."""
    y, X, groups = simulate(seed, **kw)
    fit = fit_random_intercept(y, X, groups)
    assert fit.converged and fit.gamma > 0.0
    h = 1e-4 * fit.gamma
    lo, mid, hi = (dense_gls(y, X, groups, g)[2] for g in (fit.gamma - h, fit.gamma, fit.gamma + h))
    slope, curvature = (hi - lo) / (2 * h), (hi - 2 * mid + lo) / h ** 2
    assert curvature < 0.0 and abs(slope / curvature) <= 1e-6 * fit.gamma


def negatively_correlated(seed, teams=15, size=10):
    """No team effect and negative within-team correlation: the REML optimum is γ = 0."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(teams), size)
    x = rng.normal(0.0, 1.0, groups.size)
    e = rng.normal(0.0, 1.0, groups.size)
    e -= 0.9 * (np.bincount(groups, weights=e) / size)[groups]  # shrink team means of e
    X = np.column_stack([np.ones(groups.size), x, (np.arange(teams) % 2)[groups]])
    return 1.0 + 0.5 * x + e, X, groups


@pytest.mark.parametrize("seed", range(3))
def test_boundary_optimum_is_exactly_ols(seed):
    y, X, groups = negatively_correlated(seed)
    fit = fit_random_intercept(y, X, groups)
    ols = sm.OLS(y, X).fit()
    h = 1e-5  # the criterion rises from γ = 0 (one-sided second-order difference)
    crit = dense_criterion(y, X, groups, [0.0, h, 2 * h])
    assert (-3 * crit[0] + 4 * crit[1] - crit[2]) / (2 * h) > 0.0
    assert fit.converged and fit.gamma == 0.0 and fit.var_between == 0.0
    np.testing.assert_allclose(fit.beta, ols.params, rtol=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov_beta)), ols.bse, rtol=1e-8)
    assert fit.var_within == pytest.approx(ols.scale, rel=1e-8)
    _, ref = statsmodels_reml(y, X, groups)
    assert fit.reml_loglik >= ref.llf - 1e-9 * abs(ref.llf)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), teams=st.integers(3, 12),
       icc=st.sampled_from([0.0, 0.05, 0.4]))
def test_optimum_beats_a_fine_grid(seed, teams, icc):
    """Property: no γ on a fine grid has a better REML criterion than the fitted γ̂."""
    y, X, groups = simulate(seed, teams=teams, mean_size=4.0, icc=icc, cv=1.0)
    # Identifiable: X of full rank and within-team residual df left (with none, the REML
    # optimum is the σ²_w = 0 boundary, γ = ∞, which the fit reports as a failure).
    assume(np.linalg.matrix_rank(X) == X.shape[1] and y.size - teams >= X.shape[1])
    fit = fit_random_intercept(y, X, groups)
    assert fit.converged
    fine = np.concatenate([[0.0], np.logspace(-6, 3, 400)])
    crit = dense_criterion(y, X, groups, fine)
    assert -2.0 * fit.reml_loglik <= np.nanmin(crit) + 1e-9 * abs(np.nanmin(crit))


def failure_inputs():
    y, X, groups = simulate(0, teams=6, mean_size=5.0)
    y_nan, X_inf = y.copy(), X.copy()
    y_nan[3], X_inf[2, 2] = np.nan, np.inf
    gaps = groups.copy()
    gaps[gaps == 2] = 3  # code 2 absent
    return {
        "singular X": (y, np.column_stack([X, 2.0 * X[:, 2]]), groups),
        "one group": (y, X, np.zeros_like(groups)),
        "nan y": (y_nan, X, groups),
        "inf X": (y, X_inf, groups),
        "missing group code": (y, X, gaps),
        "negative group code": (y, X, groups - 1),
        "float groups": (y, X, groups.astype(float)),
        "n <= p": (y[:3], X[:3], np.array([0, 1, 1])),
        "shape mismatch": (y[:-1], X, groups),
        "exact fit": (X @ np.array([1.0, 2.0, 0.5]), X, groups),
        "1-d X": (y, X[:, 2], groups),
        # 5 patients in 4 teams, no within-team residual df: f(γ) falls towards γ = ∞
        "optimum at γ = ∞": simulate(219146, teams=4, mean_size=4.0, icc=0.4, cv=1.0),
        # 4 teams, 4 team-level columns: no between-team df, the criterion is flat in γ
        "γ not identified": simulate(0, teams=4, mean_size=4.0, strata=3),
        "text": (np.full(y.size, "a"), X, groups),
    }


@pytest.mark.parametrize("name", list(failure_inputs()))
def test_bad_input_fails_cleanly(name):
    y, X, groups = failure_inputs()[name]
    fit = fit_random_intercept(y, X, groups)
    assert not fit.converged
    assert np.isnan(fit.beta).all() and np.isnan(fit.cov_beta).all()
    assert np.isnan([fit.gamma, fit.var_between, fit.var_within, fit.reml_loglik]).all()


# ---------------------------------------------------------------- mixed_ancova

def make_trial(seed, *, teams=14, strata=1, dropout=0.3, empty_teams=(), icc=0.1):
    """A small ObservedTrial: unbalanced teams, MCAR dropout, optional teams with no follow-up."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 12, teams)
    team = np.repeat(np.arange(teams), sizes)
    arm = rng.permutation(np.arange(teams) % 2)
    strata_codes = (np.arange(teams) * 7) % strata  # not aligned with arm
    baseline = rng.normal(40.0, 10.0, team.size)
    u = rng.normal(0.0, 10.0 * np.sqrt(icc), teams)
    followup = 25.0 + 1.5 * arm[team] + 0.4 * baseline + u[team] + rng.normal(0.0, 9.0, team.size)
    followup[rng.random(team.size) < dropout] = np.nan
    followup[np.isin(team, empty_teams)] = np.nan
    return ObservedTrial(team=team, arm=arm, baseline=baseline, followup=followup,
                         strata=strata_codes, participation=arm * rng.random(teams))


def manual_design(trial, with_strata):
    """Design built independently in the test: complete cases, teams re-coded, arm by team."""
    keep = ~np.isnan(trial.followup)
    kept_teams = np.unique(trial.team[keep])
    code = {t: i for i, t in enumerate(kept_teams)}
    groups = np.array([code[t] for t in trial.team[keep]])
    cols = [np.ones(keep.sum()), trial.arm[trial.team[keep]], trial.baseline[keep]]
    levels = np.unique(trial.strata[kept_teams])
    if with_strata:
        cols += [(trial.strata[trial.team[keep]] == lv).astype(float) for lv in levels[1:]]
    return trial.followup[keep], np.column_stack(cols), groups, kept_teams.size, levels.size


@pytest.mark.parametrize("seed, strata, empty",
                         [(0, 1, ()), (1, 3, ()), (2, 2, (4, 9)), (3, 3, (0,))])
def test_mixed_ancova_is_the_arm_coefficient_with_bw_df(seed, strata, empty):
    trial = make_trial(seed, strata=strata, empty_teams=empty)
    y, X, groups, k, n_strata = manual_design(trial, with_strata=True)
    fit = fit_random_intercept(y, X, groups)
    est = mixed_ancova(trial, alpha=0.1)
    se = np.sqrt(fit.cov_beta[1, 1])
    df = k - 2 - (n_strata - 1)
    assert set(empty).isdisjoint(np.unique(trial.team[trial.observed])) and k <= 14 - len(empty)
    assert est.converged and est.df == df
    assert est.estimate == pytest.approx(fit.beta[1], rel=1e-12)
    assert est.se == pytest.approx(se, rel=1e-12)
    half = stats.t.ppf(0.95, df) * se
    ci = (fit.beta[1] - half, fit.beta[1] + half)
    assert (est.ci_low, est.ci_high) == pytest.approx(ci, rel=1e-10)
    assert est.p_value == pytest.approx(2 * stats.t.sf(abs(fit.beta[1] / se), df), rel=1e-9)


def test_mixed_ancova_without_strata_adjustment():
    trial = make_trial(5, strata=3)
    y, X, groups, k, _ = manual_design(trial, with_strata=False)
    est = mixed_ancova(trial, adjust_for_strata=False)
    assert est.df == k - 2
    assert est.estimate == pytest.approx(fit_random_intercept(y, X, groups).beta[1], rel=1e-12)
    assert est.estimate != pytest.approx(mixed_ancova(trial).estimate, rel=1e-6)


def test_single_stratum_among_analysed_teams_adds_no_dummies():
    trial = make_trial(6, teams=12, strata=2)
    only_stratum_0 = np.where(trial.strata[trial.team] == 0, trial.followup, np.nan)
    trial = ObservedTrial(trial.team, trial.arm, trial.baseline, only_stratum_0, trial.strata,
                          trial.participation)
    est = mixed_ancova(trial)
    assert est.converged and est.df == np.unique(trial.team[trial.observed]).size - 2


def test_mixed_ancova_failures():
    t = make_trial(7, teams=10)
    arm1_teams = np.flatnonzero(t.arm == 1)
    only_control = ObservedTrial(t.team, t.arm, t.baseline,
                                 np.where(np.isin(t.team, arm1_teams), np.nan, t.followup),
                                 t.strata, t.participation)
    assert not mixed_ancova(only_control).converged
    two_teams = make_trial(8, teams=2, dropout=0.0)
    assert not mixed_ancova(two_teams).converged  # df = 0
    aligned = ObservedTrial(t.team, t.arm, t.baseline, t.followup, t.arm.copy(), t.participation)
    assert not mixed_ancova(aligned).converged  # stratum dummy = arm: not identifiable
    assert mixed_ancova(aligned, adjust_for_strata=False).converged
    nothing = ObservedTrial(t.team, t.arm, t.baseline, np.full(t.team.size, np.nan), t.strata,
                            t.participation)
    assert not mixed_ancova(nothing).converged
    assert np.isnan(mixed_ancova(nothing).estimate)


# ---------------------------------------------------------------- adjust_for

def with_covariates(trial, *, sites=4, types=3, missing_baseline=0.0, seed=0):
    """The trial with team-level "site" and "team_type" factors (codes not starting at 0, so
    "first level" means lowest present) and optionally some baseline scores missing."""
    k = trial.n_teams
    rng = np.random.default_rng(seed)
    baseline = np.where(rng.random(trial.team.size) < missing_baseline, np.nan, trial.baseline)
    covariates = {"site": 10 + rng.permutation(np.arange(k) % sites),
                  "team_type": np.array(["a", "b", "c", "d"])[(np.arange(k) * 5) % types]}
    return ObservedTrial(trial.team, trial.arm, baseline, trial.followup, trial.strata,
                         trial.participation, covariates)


def factor_columns(codes_by_patient, kept_levels):
    """Drop-first dummies of the levels present, built independently of the code."""
    return [(codes_by_patient == lv).astype(float) for lv in kept_levels[1:]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adjust_for_site_and_team_type(seed):
    trial = with_covariates(make_trial(seed, teams=20, dropout=0.2), seed=seed)
    keep = trial.observed
    team = trial.team[keep]
    kept = np.unique(team)
    site, kind = trial.covariates["site"], trial.covariates["team_type"]
    cols = ([np.ones(keep.sum()), trial.arm[team], trial.baseline[keep]]
            + factor_columns(site[team], np.unique(site[kept]))
            + factor_columns(kind[team], np.unique(kind[kept])))
    groups = np.searchsorted(kept, team)
    fit = fit_random_intercept(trial.followup[keep], np.column_stack(cols), groups)
    est = mixed_ancova(trial, adjust_for=("baseline", "site", "team_type"))
    assert est.converged and est.estimate == pytest.approx(fit.beta[1], rel=1e-12)
    assert est.se == pytest.approx(np.sqrt(fit.cov_beta[1, 1]), rel=1e-12)
    n_site, n_type = np.unique(site[kept]).size, np.unique(kind[kept]).size
    assert est.df == kept.size - 2 - (n_site - 1) - (n_type - 1)
    sw = mixed_ancova(trial, adjust_for=("baseline", "site", "team_type"), df_method="satterthwaite")
    assert sw.estimate == est.estimate and sw.df != est.df


def test_adjust_for_none_is_baseline_and_strata():
    trial = with_covariates(make_trial(11, strata=3))
    assert mixed_ancova(trial, adjust_for=("baseline", "strata")) == mixed_ancova(trial)
    assert (mixed_ancova(trial, adjust_for=("baseline",))
            == mixed_ancova(trial, adjust_for_strata=False))
    # adjust_for wins over adjust_for_strata when both are given
    assert (mixed_ancova(trial, adjust_for=("baseline",), adjust_for_strata=True)
            == mixed_ancova(trial, adjust_for_strata=False))


def test_without_baseline_patients_missing_it_are_analysed():
    trial = with_covariates(make_trial(12, teams=16), missing_baseline=0.3)
    keep = trial.observed  # baseline not needed
    kept = np.unique(trial.team[keep])
    X = np.column_stack([np.ones(keep.sum()), trial.arm[trial.team[keep]]])
    fit = fit_random_intercept(trial.followup[keep], X, np.searchsorted(kept, trial.team[keep]))
    est = mixed_ancova(trial, adjust_for=())
    assert est.converged and est.estimate == pytest.approx(fit.beta[1], rel=1e-12)
    assert est.df == kept.size - 2
    with_baseline = mixed_ancova(trial, adjust_for=("baseline",))
    assert with_baseline.converged and with_baseline.estimate != pytest.approx(est.estimate)


def test_redundant_factor_columns_are_dropped():
    """Sites nested in strata: the site dummies already span the stratum dummies; a factor
    equal to the strata adds nothing; levels absent among analysed teams add no column."""
    base = make_trial(13, teams=24, dropout=0.1)
    site = np.arange(24) % 6
    nested = ObservedTrial(base.team, base.arm, base.baseline, base.followup, site // 2,
                           base.participation, {"site": site, "team_type": site // 2})
    k = np.unique(nested.team[nested.observed]).size
    est = mixed_ancova(nested, adjust_for=("baseline", "strata", "site", "team_type"))
    assert est.converged and est.df == k - 2 - 5
    same_space = mixed_ancova(nested, adjust_for=("baseline", "site"))  # same model
    assert (est.estimate, est.se) == pytest.approx((same_space.estimate, same_space.se), rel=1e-9)
    assert est.df == same_space.df
    gone = np.isin(nested.team, np.flatnonzero(site == 5))  # site 5 not analysed
    sub = ObservedTrial(nested.team, nested.arm, nested.baseline,
                        np.where(gone, np.nan, nested.followup), nested.strata,
                        nested.participation, nested.covariates)
    k_sub = np.unique(sub.team[sub.observed]).size
    assert mixed_ancova(sub, adjust_for=("baseline", "site")).df == k_sub - 2 - 4


def test_bad_adjustment_names_are_errors():
    trial = make_trial(14)
    with pytest.raises(ValueError, match="unknown"):
        mixed_ancova(trial, adjust_for=("baseline", "age"))
    with pytest.raises(ValueError, match="site"):
        mixed_ancova(trial, adjust_for=("site",))  # no covariates recorded
