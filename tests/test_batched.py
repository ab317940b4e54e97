"""The batched estimators (team summaries of ``analysis.teams``, teams padded to K, trials in
blocks) give, trial by trial, the answers of independent per-trial computations on the
design a reader would build: for the mixed model, the REML core on the sufficient statistics
of ``ancova_design``'s X (``design_stats``), and for the cluster summary, least squares on
the patients and the pooled t on team means. The per-trial estimators are the batch of one.

Agreement is to 1e-9 relative: estimates and CI limits relative to max(|estimate|, SE)
(an estimate that is 0 up to rounding has no relative accuracy), SE relative, df and the
converged flag exactly (Satterthwaite df, a computed number, to 1e-9 relative), and the
p-value within the range those tolerances imply (``p_value_band``: far in the tail a p-value
is df times more sensitive than t, so a fixed relative tolerance on p would hold only where
rounding happens to be small). One deliberate exception: where the mixed model's X is
rank deficient (constant baseline, arm aliased with strata), a least-squares answer
depends on rounding (it may report a huge-SE "converged" fit); the batch always fails.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import special

from simulator.analysis.cluster import cluster_summary, cluster_summary_batch
from simulator.analysis.inference import (ancova_design, resolve_adjustments, t_estimate,
                                          team_dummies)
from simulator.analysis.mixed import fit_random_intercept, mixed_ancova, mixed_ancova_batch
from simulator.analysis.mixed.df import kenward_roger, satterthwaite, variance_derivatives
from simulator.analysis.mixed.reml import RemlFit, fit_reml
from simulator.analysis.mixed.stats import design_stats, usable_design
from simulator.analysis.records import Estimate, ObservedTrial

RTOL = 1e-9
FIELDS = ("estimate", "se", "df", "ci_low", "ci_high", "p_value")


def random_trial(seed: int, *, kind: str | None = None) -> ObservedTrial:
    """One seeded trial: 4-40 teams, sizes with CV 0-1 and forced singletons, ICC 0-0.5,
    MCAR dropout, strata with non-contiguous codes; ``kind`` adds a failure or edge case."""
    rng = np.random.default_rng(seed)
    kinds = ["plain"] * 6 + ["one arm", "arm lost", "empty teams", "baseline missing",
                             "strata heavy", "exact fit", "tiny"]
    kind = kind or kinds[rng.integers(len(kinds))]
    teams = int(rng.integers(4, 7 if kind in ("tiny", "strata heavy") else 41))
    cv, mean = rng.choice([0.0, 0.3, 0.6, 1.0]), rng.choice([2.0, 5.0, 10.0, 20.0])
    sizes = (np.full(teams, int(mean)) if cv == 0 else
             np.maximum(1, np.round(rng.gamma(1 / cv**2, mean * cv**2, teams))).astype(int))
    sizes[:rng.integers(0, 3)] = 1
    team = np.repeat(np.arange(teams), sizes)
    arm = rng.permutation(np.arange(teams) % 2)
    if kind == "one arm":
        arm[:] = rng.integers(0, 2)
    n_strata = 3 if kind == "strata heavy" else int(rng.choice([1, 1, 2, 3, 4]))
    strata = rng.integers(0, n_strata, teams) * 7 + 3
    icc = rng.choice([0.0, 0.05, 0.2, 0.5])
    baseline = rng.normal(40.0, 10.0, team.size)
    u = rng.normal(0.0, 10.0 * np.sqrt(icc), teams)
    noise = 0.0 if kind == "exact fit" else rng.normal(0.0, 10.0 * np.sqrt(1 - icc), team.size)
    followup = 20.0 + 2.0 * arm[team] + 0.5 * baseline + u[team] * (kind != "exact fit") + noise
    followup[rng.random(team.size) < rng.choice([0.0, 0.2, 0.5])] = np.nan
    if kind == "empty teams":
        followup[np.isin(team, rng.choice(teams, teams // 3, replace=False))] = np.nan
    if kind == "baseline missing":
        baseline[rng.random(team.size) < 0.2] = np.nan
    if kind == "arm lost":
        followup[arm[team] == 1] = np.nan
    return ObservedTrial(team=team, arm=arm, baseline=baseline, followup=followup,
                         strata=strata, participation=arm * rng.random(teams))


@lru_cache(maxsize=None)
def trials(n: int = 240) -> tuple[ObservedTrial, ...]:
    return tuple(random_trial(seed) for seed in range(n))


def assert_same(got: list[Estimate], ref: list[Estimate], exact_df: bool = True) -> None:
    """Trial by trial: converged and df exactly (or df to RTOL), the rest to RTOL (module
    docstring)."""
    g = np.array([[getattr(e, f) for f in FIELDS] for e in got]).reshape(-1, len(FIELDS))
    r = np.array([[getattr(e, f) for f in FIELDS] for e in ref]).reshape(-1, len(FIELDS))
    conv = np.array([e.converged for e in ref], bool)
    np.testing.assert_array_equal([e.converged for e in got], conv)
    assert np.isnan(g[~conv]).all()
    g, r = g[conv], r[conv]
    if exact_df:
        np.testing.assert_array_equal(g[:, 2], r[:, 2])
    else:
        np.testing.assert_allclose(g[:, 2], r[:, 2], rtol=RTOL, atol=0)
    scale = np.maximum(np.abs(r[:, 0]), r[:, 1])[:, None]
    assert (np.abs(g - r)[:, [0, 3, 4]] <= RTOL * scale).all()
    np.testing.assert_allclose(g[:, 1], r[:, 1], rtol=RTOL, atol=0)
    low, high = p_value_band(r[:, 0], r[:, 1], r[:, 2], 0.0 if exact_df else RTOL)
    assert ((low <= g[:, 5]) & (g[:, 5] <= high)).all()


def p_value_band(estimate, se, df, df_rtol):
    """The range of p = min(1, 2 T_df(−|t|)) over every t = estimate/SE and df that the
    tolerances above allow: |estimate| within RTOL·max(|estimate|, SE) and SE within RTOL
    relative move |t| by at most RTOL (max(|t|, 1) + |t|) (to first order), df by df_rtol·df.
    p falls with |t| and with df, so its extremes are at the corners; a further RTOL relative
    covers the evaluation of T_df itself."""
    t = np.abs(estimate / se)
    dt = RTOL * (np.maximum(t, 1.0) + t)
    p = lambda tt, nu: np.minimum(1.0, 2.0 * special.stdtr(nu, -tt))  # noqa: E731
    low = p(t + dt, df * (1 + df_rtol)) * (1 - RTOL)
    high = p(np.maximum(t - dt, 0.0), df * (1 - df_rtol)) * (1 + RTOL)
    return low, high


def bits(records: list[Estimate]) -> bytes:
    """The records' fields as raw float64 bytes (nan equal to nan)."""
    return np.array([[float(getattr(e, f)) for f in FIELDS + ("converged",)]
                     for e in records]).tobytes()


def batch_mixed(batch, **options) -> list[Estimate]:
    return mixed_ancova_batch(list(batch), **options).records()


def batch_cluster(batch, **options) -> list[Estimate]:
    return cluster_summary_batch(list(batch), **options).records()


def rank_deficient(trial: ObservedTrial, strata: bool = True, adjust_for=None) -> bool:
    X = ancova_design(trial, strata, adjust_for)[1]
    return X.shape[0] > 0 and np.linalg.matrix_rank(X) < X.shape[1]


def reference_mixed(trial: ObservedTrial, *, alpha=0.05, adjust_for_strata=True,
                    df_method="between_within", adjust_for=None) -> Estimate:
    """``mixed_ancova`` from the general design path: the REML core on ``design_stats`` of
    ``ancova_design``'s (y, X, groups), t with the between-within df (analysed teams −
    team-level columns) or the Satterthwaite / Kenward–Roger df of that fit. A failure
    where an arm has no analysed team, no df is left, or X is rank deficient."""
    y, X, groups, team_arm = ancova_design(trial, adjust_for_strata, adjust_for)
    baseline = "baseline" in resolve_adjustments(adjust_for, adjust_for_strata)
    bw_df = team_arm.size - (X.shape[1] - baseline)
    if (not (team_arm == 1).any() or not (team_arm == 0).any() or bw_df < 1
            or not usable_design(y, X, groups)
            or rank_deficient(trial, adjust_for_strata, adjust_for)):
        return Estimate.failed()
    with np.errstate(all="ignore"):
        s = design_stats(y, X, groups)
        f = fit_reml(s)
        fit, c = RemlFit.of(s, f), np.eye(X.shape[1])[1]
        if not fit.converged:
            return Estimate.failed()
        var, df = fit.cov_beta[1, 1], bw_df
        if df_method != "between_within":
            method = satterthwaite if df_method == "satterthwaite" else kenward_roger
            var, df = (float(v[0]) for v in method(variance_derivatives(s, f), c))
        return t_estimate(float(fit.beta[1]), float(np.sqrt(var)), float(df), alpha)


def reference_cluster(trial: ObservedTrial, *, alpha=0.05, adjusted=True, adjust_for_strata=True,
                      adjust_for=None) -> Estimate:
    """``cluster_summary`` by least squares on the analysed patients' [1, baseline?, factor
    dummies], team means of the residuals, and the pooled two-sample t (zero SD: failure)."""
    terms = resolve_adjustments(adjust_for, adjust_for_strata) if adjusted else ()
    keep = trial.observed & (np.isfinite(trial.baseline) if "baseline" in terms else True)
    y, team = trial.followup[keep], trial.team[keep]
    teams, groups = np.unique(team, return_inverse=True)
    dummies = team_dummies(trial, teams, terms)[groups]
    if adjusted and y.size:
        base = [trial.baseline[keep]] if "baseline" in terms else []
        X = np.column_stack([np.ones(y.size), *base, dummies])
        y = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    means = np.bincount(groups, weights=y) / np.maximum(np.bincount(groups), 1)
    t1, t0 = means[trial.arm[teams] == 1], means[trial.arm[teams] == 0]
    df = t1.size + t0.size - 2 - dummies.shape[1]
    if t1.size < 1 or t0.size < 1 or df < 1:
        return Estimate.failed()
    sd = np.sqrt((((t1 - t1.mean()) ** 2).sum() + ((t0 - t0.mean()) ** 2).sum())
                 / (t1.size + t0.size - 2))
    if not sd > 1e-12 * (1.0 + np.abs(means).max()):
        return Estimate.failed()
    se = float(sd * np.sqrt(1 / t1.size + 1 / t0.size))
    return t_estimate(float(t1.mean() - t0.mean()), se, df, alpha)


@pytest.mark.parametrize("strata", [True, False])
def test_mixed_ancova_batch_equals_per_trial(strata):
    ref = [reference_mixed(t, adjust_for_strata=strata) for t in trials()]
    assert_same(batch_mixed(trials(), adjust_for_strata=strata), ref)
    conv = np.array([e.converged for e in ref])
    assert 100 < conv.sum() < conv.size  # successes and failures both exercised


@pytest.mark.parametrize("strata", [True, False])
def test_mixed_ancova_batch_satterthwaite_equals_per_trial(strata):
    """The Satterthwaite df (observed information; σ²_b dropped at γ̂ = 0) per trial."""
    options = dict(adjust_for_strata=strata, df_method="satterthwaite")
    ref = [reference_mixed(t, **options) for t in trials()]
    assert_same(batch_mixed(trials(), **options), ref, exact_df=False)
    df = np.array([e.df for e in ref if e.converged])
    assert df.size > 100 and (df != np.round(df)).any()   # not the between-within df
    gammas = [fit_random_intercept(*ancova_design(t, strata)[:3]).gamma for t in trials()[:60]]
    assert 0.0 in gammas   # the boundary case is exercised


def test_unknown_df_method_is_refused():
    with pytest.raises(ValueError, match="kenward_roger"):
        mixed_ancova_batch(list(trials()[:2]), df_method="containment")


def with_covariates(trial: ObservedTrial, seed: int) -> ObservedTrial:
    """The trial with team-level "site" (4 levels) and "team_type" (3) factors."""
    rng = np.random.default_rng(seed)
    k = trial.n_teams
    covariates = {"site": 10 + rng.permutation(np.arange(k) % 4),
                  "team_type": np.array(["a", "b", "c"])[rng.integers(0, 3, k)]}
    return ObservedTrial(trial.team, trial.arm, trial.baseline, trial.followup, trial.strata,
                         trial.participation, covariates)


ADJUSTMENTS = [("baseline", "site", "team_type"), ("strata",), (), ("baseline", "strata", "site")]


@pytest.mark.parametrize("adjust_for", ADJUSTMENTS, ids=lambda a: "+".join(a) or "none")
@pytest.mark.parametrize("df_method", ["between_within", "satterthwaite", "kenward_roger"])
def test_any_adjustment_and_df_method_equals_the_design_path(adjust_for, df_method):
    """Factor dummies of any terms (redundant columns dropped), without the baseline, and
    every df method, Kenward–Roger's adjusted SE included."""
    batch = [with_covariates(t, seed) for seed, t in enumerate(trials()[:80])]
    options = dict(adjust_for=adjust_for, df_method=df_method)
    ref = [reference_mixed(t, **options) for t in batch]
    assert_same(batch_mixed(batch, **options), ref, exact_df=df_method == "between_within")
    assert sum(e.converged for e in ref) > 30


@pytest.mark.parametrize("adjust_for", ADJUSTMENTS, ids=lambda a: "+".join(a) or "none")
def test_cluster_summary_any_adjustment_equals_least_squares(adjust_for):
    batch = [with_covariates(t, seed) for seed, t in enumerate(trials()[:80])]
    ref = [reference_cluster(t, adjust_for=adjust_for) for t in batch]
    assert_same(batch_cluster(batch, adjust_for=adjust_for), ref)
    assert sum(e.converged for e in ref) > 30


@pytest.mark.parametrize("adjusted, strata", [(True, True), (True, False), (False, True)])
def test_cluster_summary_batch_equals_per_trial(adjusted, strata):
    options = dict(adjusted=adjusted, adjust_for_strata=strata)
    assert_same(batch_cluster(trials(), **options),
                [reference_cluster(t, **options) for t in trials()])


def test_alpha_is_passed_through():
    batch = trials()[:40]
    assert_same(batch_mixed(batch, alpha=0.1), [reference_mixed(t, alpha=0.1) for t in batch])
    assert_same(batch_cluster(batch, alpha=0.2), [reference_cluster(t, alpha=0.2) for t in batch])


def test_boundary_and_interior_optima_both_covered():
    """The random set holds REML optima at γ = 0 (OLS) and inside the grid."""
    gammas = [fit_random_intercept(*ancova_design(t, True)[:3]).gamma for t in trials()[:80]
              if mixed_ancova(t).converged]
    assert 0.0 in gammas and any(g > 0 for g in gammas)


def test_rank_deficient_designs_fail_in_the_batch():
    """Constant baseline, or arm aliased with the strata: X'X singular, a failed fit
    (module docstring); the cluster summary still agrees (its stage 1 drops the baseline)."""
    base = [random_trial(seed, kind="plain") for seed in range(12)]
    constant = [ObservedTrial(t.team, t.arm, np.full(t.team.size, 37.3), t.followup,
                              t.strata, t.participation) for t in base]
    aliased = [ObservedTrial(t.team, t.arm, t.baseline, t.followup, t.arm * 5 + 1,
                             t.participation) for t in base]
    assert all(rank_deficient(t) for t in constant + aliased)
    assert not any(e.converged for e in batch_mixed(constant + aliased))
    assert_same(batch_cluster(constant), [reference_cluster(t) for t in constant])


def test_edge_inputs():
    """No trials; a trial with no follow-up at all; an infinite follow-up score."""
    t = random_trial(3, kind="plain")
    nobody = ObservedTrial(t.team, t.arm, t.baseline, np.full(t.team.size, np.nan), t.strata,
                           t.participation)
    inf_y = ObservedTrial(t.team, t.arm, t.baseline, np.where(t.team == 0, np.inf, t.followup),
                          t.strata, t.participation)
    assert batch_mixed([]) == [] and batch_cluster([]) == []
    assert_same(batch_mixed([nobody, t, inf_y]), [reference_mixed(x) for x in (nobody, t, inf_y)])
    assert_same(batch_cluster([nobody, t]), [reference_cluster(x) for x in (nobody, t)])


def test_arrays_hold_the_records():
    arrays = mixed_ancova_batch(list(trials()[:30]))
    assert arrays.converged.dtype == bool and arrays.estimate.shape == (30,)
    records = arrays.records()
    assert all(isinstance(e.converged, bool) and isinstance(e.se, float) for e in records)
    np.testing.assert_array_equal([e.p_value for e in records], arrays.p_value)


POOL = 40


@settings(max_examples=25, deadline=None)
@given(order=st.lists(st.integers(0, POOL - 1), min_size=1, max_size=15))
def test_batching_order_does_not_matter(order):
    """Any selection and order of trials (repeats allowed): the answers follow the trials."""
    pool = trials()[:POOL]
    whole_m, whole_c = batch_mixed(pool), batch_cluster(pool)
    picked = [pool[i] for i in order]
    assert_same(batch_mixed(picked), [whole_m[i] for i in order])
    assert_same(batch_cluster(picked), [whole_c[i] for i in order])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_batch_of_one_equals_single_call(seed):
    """The per-trial estimators are the batch of one (exactly), and agree with the
    references."""
    trial = random_trial(seed)
    assert bits(batch_mixed([trial])) == bits([mixed_ancova(trial)])
    assert bits(batch_cluster([trial])) == bits([cluster_summary(trial)])
    assert_same(batch_mixed([trial]), [reference_mixed(trial)])
    assert_same(batch_cluster([trial]), [reference_cluster(trial)])
