"""Tests of simulator.allocation in three layers (STYLE.md principle 9):

1. exact seeded regressions on a small fixture and the Ivers et al. (2012) Table 4 example;
2. hypothesis properties: exact arm sizes, strata respected, pairs split, constrained draws within
   the kept set, determinism, relabelling;
3. distributional agreement: uniformity (chi-square) and enumerate() against resample().
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from simulator.allocation import (METHODS, Allocation, AllocationSettings, allocate,
                                  build_scheme, intervention_count, strata_codes)
from simulator.allocation.scoring import balance_matrix, l2_scores
from simulator.allocation.space import all_subsets

FIXTURE = {
    "site": np.array(["trust_a", "trust_a", "trust_b", "trust_b", "trust_b", "trust_a", "trust_b",
                      "trust_a"]),
    "team_type": np.array(["cmht", "recovery", "cmht", "cmht", "recovery", "cmht",
                           "early_intervention", "cmht"]),
    "patients": np.array([12.0, 20, 9, 15, 11, 18, 7, 14]),
}
SITES = np.array(["trust_a", "trust_b", "trust_c"])
TYPES = np.array(["cmht", "recovery", "assertive_outreach", "early_intervention"])
PROPERTY = settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])


def rows_as_set(arms: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in np.asarray(arms, dtype=np.int8)}


def settings_for(method: str, **kw) -> AllocationSettings:
    base = dict(method=method, strata=("site", "team_type"), max_enumerate=400)
    return AllocationSettings(**{**base, **kw})


@st.composite
def trials(draw, min_teams=2, max_teams=60):
    """(covariates, n_intervention): sites, team types and sizes for K teams, and an arm size."""
    k = draw(st.integers(min_teams, max_teams))
    n_sites, n_types = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    site = SITES[draw(st.lists(st.integers(0, n_sites - 1), min_size=k, max_size=k))]
    team_type = TYPES[draw(st.lists(st.integers(0, n_types - 1), min_size=k, max_size=k))]
    patients = np.array(draw(st.lists(st.integers(1, 40), min_size=k, max_size=k)), float)
    share = draw(st.sampled_from([0.5, 0.5, 0.3, 0.6, 0.75]))
    covariates = {"site": site, "team_type": team_type, "patients": patients}
    return covariates, intervention_count(k, share)


def pairable(k: int, n: int) -> bool:
    return n in (k // 2, (k + 1) // 2)


# ---------------------------------------------------------------- layer 1: exact, seeded

@pytest.mark.parametrize("method, expected", [
    ("simple", [1, 1, 0, 0, 1, 1, 0, 0]),
    ("stratified", [0, 1, 0, 0, 1, 1, 1, 0]),
    ("matched_pairs", [1, 0, 1, 1, 0, 1, 0, 0]),
    ("minimisation", [0, 0, 1, 0, 0, 1, 1, 1]),
    ("constrained", [0, 1, 0, 1, 0, 0, 1, 1]),
])
def test_seeded_regression(method, expected):
    a = allocate(AllocationSettings(method=method), FIXTURE, 4, rng=np.random.default_rng(2015))
    assert isinstance(a, Allocation) and a.arm.dtype == np.int8
    assert a.arm.tolist() == expected
    assert a.info["method"] == method and not a.arm.flags.writeable


@pytest.mark.parametrize("k, share, expected", [(27, 0.5, 14), (26, 0.5, 13), (2, 0.5, 1),
                                                (10, 0.0, 1), (10, 1.0, 9), (10, 0.25, 3)])
def test_intervention_count(k, share, expected):
    assert intervention_count(k, share) == expected


def test_bad_inputs_are_reported_together():
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="method=.*fraction=.*minimisation_probability"):
        AllocationSettings(method="coin", constrained_fraction=0, minimisation_probability=0.2)
    with pytest.raises(ValueError, match="'staff' is missing"):
        allocate(AllocationSettings(balance_on=("staff",)), FIXTURE, 4, rng=rng)
    with pytest.raises(ValueError, match="n_intervention"):
        allocate(AllocationSettings(), FIXTURE, 8, rng=rng)
    with pytest.raises(ValueError, match="matched_pairs"):
        allocate(AllocationSettings(method="matched_pairs"), FIXTURE, 2, rng=rng)
    with pytest.raises(ValueError):
        intervention_count(1, 0.5)


IVERS = {"baseline": np.array([25.0, 50, 60, 75]), "covariate": np.array([80.0, 60, 75, 70])}
IVERS_ALLOCATIONS = {"A": (0, 1), "B": (0, 2), "C": (0, 3), "D": (1, 2), "E": (1, 3), "F": (2, 3)}
IVERS_TABLE4 = {"baseline": [30, 20, 5, 5, 20, 30], "covariate": [2.5, 12.5, 7.5, 7.5, 12.5, 2.5]}


def ivers_arm(label: str) -> np.ndarray:
    arm = np.zeros(4, dtype=np.int8)
    arm[list(IVERS_ALLOCATIONS[label])] = 1
    return arm


def test_ivers_table4_differences():
    """The reconstructed clusters give all twelve published absolute between-arm differences."""
    for name, published in IVERS_TABLE4.items():
        x = IVERS[name]
        got = [abs(x[ivers_arm(lab) == 1].mean() - x[ivers_arm(lab) == 0].mean())
               for lab in IVERS_ALLOCATIONS]
        np.testing.assert_allclose(got, published)


def test_ivers_constrained_keeps_c_and_d():
    s = AllocationSettings(method="constrained", strata=(), balance_on=("baseline", "covariate"),
                           constrained_fraction=1 / 3)
    a = allocate(s, IVERS, 2, rng=np.random.default_rng(12))
    assert a.info["n_candidates"] == 6 and a.info["enumerated"] == 1 and a.info["n_kept"] == 2
    assert rows_as_set(a.scheme.kept) == rows_as_set([ivers_arm("C"), ivers_arm("D")])
    assert a.info["pair_together_min"] == 0 and a.info["pair_together_max"] == 1
    assert "near-deterministic" in a.info["warning"]
    assert a.arm.tolist() in ([1, 0, 0, 1], [0, 1, 1, 0])


# ---------------------------------------------------------------- layer 2: properties

@PROPERTY
@given(trials(), st.sampled_from(METHODS), st.integers(0, 2**32 - 1))
def test_arm_size_is_exact(trial, method, seed):
    cov, n = trial
    k = len(cov["site"])
    if method == "matched_pairs" and not pairable(k, n):
        with pytest.raises(ValueError, match="matched_pairs"):
            allocate(settings_for(method), cov, n, rng=np.random.default_rng(seed))
        return
    a = allocate(settings_for(method), cov, n, rng=np.random.default_rng(seed))
    again = a.scheme.resample(np.random.default_rng(seed + 1), 25)
    assert a.arm.shape == (k,) and a.arm.sum() == n
    assert again.shape == (25, k) and again.dtype == np.int8 and np.all(again.sum(axis=1) == n)
    assert set(np.unique(again)) <= {0, 1}


@PROPERTY
@given(trials(), st.sampled_from(METHODS), st.integers(0, 2**32 - 1))
def test_same_rng_state_same_allocation(trial, method, seed):
    cov, n = trial
    if method == "matched_pairs" and not pairable(len(cov["site"]), n):
        return
    first = allocate(settings_for(method), cov, n, rng=np.random.default_rng(seed))
    second = allocate(settings_for(method), cov, n, rng=np.random.default_rng(seed))
    assert np.array_equal(first.arm, second.arm) and first.info == second.info
    np.testing.assert_array_equal(first.scheme.resample(np.random.default_rng(seed), 5),
                                  second.scheme.resample(np.random.default_rng(seed), 5))


def check_strata(arms: np.ndarray, stratum: np.ndarray, n: int) -> None:
    k = stratum.size
    for s in np.unique(stratum):
        in_s = stratum == s
        n1, m = arms[:, in_s].sum(axis=1), in_s.sum()
        if pairable(k, n):
            assert np.all(np.abs(2 * n1 - m) <= 1)            # arms differ by at most one
        else:
            assert np.all(np.abs(n1 - m * n / k) < 1)        # floor or ceil of its share


@PROPERTY
@given(trials(), st.integers(0, 2**32 - 1))
def test_stratified_respects_strata(trial, seed):
    cov, n = trial
    a = allocate(settings_for("stratified"), cov, n, rng=np.random.default_rng(seed))
    stratum = strata_codes(cov, ("site", "team_type"))
    check_strata(a.arm[None, :], stratum, n)
    check_strata(a.scheme.resample(np.random.default_rng(seed), 50), stratum, n)


def pairs_split(sorted_arm: np.ndarray, n: int) -> bool:
    """True if consecutive pairs are split, leaving out (for odd K) one team that takes n - K//2."""
    k = sorted_arm.size
    if k % 2 == 0:
        return bool(np.all(sorted_arm[0::2] != sorted_arm[1::2]))
    return any(sorted_arm[t] == n - k // 2
               and pairs_split(np.delete(sorted_arm, t), n - sorted_arm[t]) for t in range(k))


@PROPERTY
@given(trials(), st.integers(0, 2**32 - 1))
def test_matched_pairs_split_every_pair(trial, seed):
    cov, _ = trial
    k = len(cov["site"])
    n = (k + seed % 2) // 2
    a = allocate(settings_for("matched_pairs"), cov, n, rng=np.random.default_rng(seed))
    order = np.lexsort((cov["patients"], cov["team_type"], cov["site"]))
    for arm in [a.arm, *a.scheme.resample(np.random.default_rng(seed), 10)]:
        assert pairs_split(arm[order], n)


@PROPERTY
@given(trials(), st.sampled_from([0.05, 0.1, 0.25, 1.0]), st.integers(0, 2**32 - 1))
def test_constrained_draws_are_in_the_kept_set(trial, fraction, seed):
    cov, n = trial
    a = allocate(settings_for("constrained", constrained_fraction=fraction), cov, n,
                 rng=np.random.default_rng(seed))
    scheme = a.scheme
    again = scheme.resample(np.random.default_rng(seed), 30)
    assert np.all(scheme.score(np.vstack([a.arm, again])) <= scheme.cutoff)
    assert rows_as_set(again) | {a.arm.tobytes()} <= rows_as_set(scheme.kept)
    assert len(rows_as_set(scheme.kept)) == scheme.kept.shape[0]            # distinct
    assert scheme.kept.shape[0] >= max(1, math.floor(fraction * a.info["n_candidates"] + 1e-9))
    if a.info["enumerated"]:                                     # kept = all below the cutoff
        z, _ = balance_matrix(cov, settings_for("constrained").balance_on)
        everything = all_subsets(len(cov["site"]), n)
        assert rows_as_set(scheme.kept) == rows_as_set(everything[l2_scores(everything, z)
                                                                  <= scheme.cutoff])


@PROPERTY
@given(trials(max_teams=9), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_relabelling_teams_permutes_the_constrained_space(trial, seed, perm_seed):
    """With full enumeration the kept set depends only on the teams, not their labels: permuting
    the covariate rows permutes the kept allocations the same way (the draw itself may differ)."""
    cov, n = trial
    perm = np.random.default_rng(perm_seed).permutation(len(cov["site"]))
    relabelled = {name: col[perm] for name, col in cov.items()}
    s = settings_for("constrained", constrained_fraction=0.2, max_enumerate=10_000)
    kept = allocate(s, cov, n, rng=np.random.default_rng(seed)).scheme.kept
    kept_relabelled = allocate(s, relabelled, n, rng=np.random.default_rng(seed)).scheme.kept
    assert rows_as_set(kept_relabelled) == rows_as_set(kept[:, perm])


@PROPERTY
@given(trials(max_teams=10), st.integers(0, 2**32 - 1))
def test_relabelling_teams_permutes_the_stratified_distribution(trial, perm_seed):
    cov, n = trial
    perm = np.random.default_rng(perm_seed).permutation(len(cov["site"]))
    relabelled = {name: col[perm] for name, col in cov.items()}
    s = settings_for("stratified", max_enumerate=100_000)
    rng = np.random.default_rng(0)
    arms, probs = build_scheme(s, cov, n, rng=rng).enumerate()
    arms2, probs2 = build_scheme(s, relabelled, n, rng=rng).enumerate()
    original = dict(zip((row.tobytes() for row in arms[:, perm]), probs))
    assert set(original) == rows_as_set(arms2)
    assert all(math.isclose(original[row.tobytes()], p) for row, p in zip(arms2, probs2))


@PROPERTY
@given(trials(max_teams=12), st.sampled_from(METHODS))
def test_enumerate_is_a_distribution_over_valid_allocations(trial, method):
    cov, n = trial
    if method == "matched_pairs" and not pairable(len(cov["site"]), n):
        return
    scheme = build_scheme(settings_for(method, max_enumerate=5_000), cov, n,
                          rng=np.random.default_rng(0))
    listed = scheme.enumerate()
    if listed is None:
        return
    arms, probs = listed
    assert math.isclose(probs.sum(), 1.0) and np.all(probs > 0)
    assert np.all(arms.sum(axis=1) == n) and len(rows_as_set(arms)) == arms.shape[0]


# ---------------------------------------------------------------- layer 3: distributions

def chi_square_p(arms: np.ndarray, support: np.ndarray, probs: np.ndarray) -> float:
    counts = Counter(row.tobytes() for row in arms)
    assert set(counts) <= rows_as_set(support)
    observed = np.array([counts[row.tobytes()] for row in support])
    return stats.chisquare(observed, probs * arms.shape[0]).pvalue


def test_simple_is_uniform_over_its_20_allocations():
    covariates = {"site": np.array(["a"] * 6), "team_type": np.array(["cmht"] * 6),
                  "patients": np.arange(6.0)}
    rng = np.random.default_rng(20)
    draws = np.array([allocate(AllocationSettings(), covariates, 3, rng=rng).arm
                      for _ in range(4_000)])
    support = all_subsets(6, 3)
    assert support.shape[0] == 20
    assert chi_square_p(draws, support, np.full(20, 1 / 20)) > 0.001
    scheme = allocate(AllocationSettings(), covariates, 3, rng=rng).scheme
    assert chi_square_p(scheme.resample(rng, 6_000), support, np.full(20, 1 / 20)) > 0.001


def test_constrained_picks_each_kept_allocation_uniformly():
    rng = np.random.default_rng(7)
    covariates = {"site": np.array(["a", "b"] * 5),
                  "team_type": np.array(["x", "y", "y", "x", "x"] * 2),
                  "patients": rng.integers(5, 30, 10).astype(float)}
    s = AllocationSettings(method="constrained", constrained_fraction=0.2)
    a = allocate(s, covariates, 5, rng=rng)
    kept = a.scheme.kept
    assert a.info["enumerated"] == 1 and kept.shape[0] >= 50          # 20 % of C(10, 5) = 252
    uniform = np.full(kept.shape[0], 1 / kept.shape[0])
    draws = np.array([a.scheme.draw(rng) for _ in range(3_000)])
    assert chi_square_p(draws, kept, uniform) > 0.001
    assert chi_square_p(a.scheme.resample(rng, 20_000), kept, uniform) > 0.001


@pytest.mark.parametrize("method, n", [("stratified", 3), ("stratified", 2), ("matched_pairs", 4),
                                       ("minimisation", 3)])
def test_enumerate_matches_resample_frequencies(method, n):
    covariates = {"site": np.array(["a", "a", "a", "b", "b", "b", "b"]),
                  "team_type": np.array(["x", "y", "x", "y", "y", "x", "x"]),
                  "patients": np.array([3.0, 9, 4, 7, 1, 8, 5])}
    scheme = build_scheme(settings_for(method, max_enumerate=5_000), covariates, n,
                          rng=np.random.default_rng(0))
    arms, probs = scheme.enumerate()
    assert math.isclose(probs.sum(), 1.0)
    assert chi_square_p(scheme.resample(np.random.default_rng(3), 20_000), arms, probs) > 0.001


def test_matched_pairs_gives_every_team_the_same_chance():
    covariates = {"site": np.array(["a"] * 7), "team_type": np.array(["x"] * 7),
                  "patients": np.arange(7.0)}
    arms, probs = build_scheme(settings_for("matched_pairs"), covariates, 4,
                               rng=np.random.default_rng(0)).enumerate()
    np.testing.assert_allclose(probs @ arms, np.full(7, 4 / 7))


@PROPERTY
@given(k=st.integers(4, 15), seed=st.integers(0, 2**32 - 1))
def test_matched_pairs_labels_split_every_pair_of_a_draw(k, seed):
    rng = np.random.default_rng(seed)
    cov = {"site": rng.choice(SITES, size=k), "team_type": rng.choice(TYPES, size=k),
           "patients": rng.integers(1, 30, size=k).astype(float)}
    scheme = build_scheme(settings_for("matched_pairs", strata=("site",)), cov, k // 2, rng=rng)
    arm = scheme.draw(rng)
    labels = scheme.pair_labels(arm)
    assert sorted(Counter(labels[labels >= 0].tolist()).values()) == [2] * (k // 2)
    assert int(np.sum(labels < 0)) == k % 2
    for p in range(k // 2):
        assert sorted(arm[labels == p].tolist()) == [0, 1]
