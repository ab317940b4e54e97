"""The baseline world: category counts, team sizes, and the ICC / autocorrelations it generates."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from simulator.model.outcomes import untreated_followup
from simulator.scenario.files import parse_scenario
from simulator.model.world import build_world, team_sizes
from simulator.scenario.counts import category_counts


@given(n=st.integers(1, 300), weights=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=8))
def test_largest_remainder_counts_sum_and_stay_within_one(n, weights):
    shares = {f"c{i}": w / sum(weights) for i, w in enumerate(weights)}
    counts = category_counts(n, shares)
    assert sum(counts.values()) == n
    for k, c in counts.items():
        assert abs(c - n * shares[k]) < 1.0 + 1e-9


def test_cv_zero_gives_equal_sizes_and_gamma_sizes_have_the_right_moments():
    rng = np.random.default_rng(7)
    assert set(team_sizes(50, 15, 0.0, rng)) == {15}
    sizes = team_sizes(20_000, 30, 0.4, rng)
    mcse_mean = sizes.std(ddof=1) / np.sqrt(sizes.size)
    assert abs(sizes.mean() - 30) < 4 * mcse_mean
    # Rounding to whole patients adds variance 1/12 (Sheppard's correction; the gamma's SD of
    # 12 is far above the unit step), so the sample CV estimates √(0.4² + 1/(12·30²)); its
    # MCSE from the influence function of s/x̄: ((x − x̄)²/(2s) − s/2 − CV (x − x̄)) / x̄.
    dev, cv = sizes - sizes.mean(), sizes.std(ddof=1) / sizes.mean()
    influence = ((dev**2 - sizes.var(ddof=1)) / (2 * sizes.std(ddof=1)) - cv * dev) / sizes.mean()
    target = np.sqrt(0.4**2 + 1 / (12 * 30**2))
    assert abs(cv - target) < 4 * influence.std(ddof=1) / np.sqrt(sizes.size)
    assert sizes.min() >= 1


def _big_world(icc=0.2, r=0.5, c=0.8, m=10, teams=4000, seed=11):
    s = parse_scenario({"name": "x", "trial": {"teams": teams, "patients_per_team": {"mean": m, "cv": 0},
                                               "team_types": {"cmht": 1.0}},
                        "outcome": {"icc": icc, "individual_autocorrelation": r,
                                    "cluster_autocorrelation": c, "team_type_effects": {}}})
    rng = np.random.default_rng(seed)
    world = build_world(s.trial, s.outcome, rng=rng)
    return s, world, untreated_followup(world, s.outcome, rng)


def _anova_icc(y, team, m):
    k = team.max() + 1
    means = np.bincount(team, y) / m
    msb = m * np.sum((means - y.mean()) ** 2) / (k - 1)
    msw = np.sum((y - means[team]) ** 2) / (y.size - k)
    return (msb - msw) / (msb + (m - 1) * msw)


@pytest.mark.parametrize("icc", [0.05, 0.2])
def test_generated_icc_recovers_the_input(icc):
    m, k = 10, 4000
    s, world, y0 = _big_world(icc=icc, m=m, teams=k)
    # Large-sample SE of the ANOVA ICC (Donner & Koval 1980; Fisher 1925).
    se = np.sqrt(2 * (1 - icc) ** 2 * (1 + (m - 1) * icc) ** 2 / (m * (m - 1) * (k - 1)))
    for y in (world.baseline, y0):
        assert abs(_anova_icc(y, world.patient_team, m) - icc) < 4 * se
    # SD of all baseline scores against σ: MCSE of s² from its team-level influence sums
    # (teams are independent; patients within a team are not), and SE(s) = SE(s²)/(2s).
    x = world.baseline
    sq = np.bincount(world.patient_team, (x - x.mean()) ** 2 - x.var())
    se_sd = np.sqrt(np.sum(sq**2)) / x.size / (2 * x.std())
    assert abs(x.std() - s.outcome.sd) < 4 * se_sd


def test_individual_and_cluster_autocorrelation_recover_the_inputs():
    icc, r, c, m, k = 0.2, 0.5, 0.8, 10, 4000
    s, world, y0 = _big_world(icc=icc, r=r, c=c, m=m, teams=k)
    team = world.patient_team
    x_dev = world.baseline - (np.bincount(team, world.baseline) / m)[team]
    y_dev = y0 - (np.bincount(team, y0) / m)[team]
    within = np.corrcoef(x_dev, y_dev)[0, 1]
    assert abs(np.arctanh(within) - np.arctanh(r)) < 4 / np.sqrt(y0.size - k - 3)
    xbar, ybar = np.bincount(team, world.baseline) / m, np.bincount(team, y0) / m
    var_b, var_w = icc, 1 - icc
    expected = (var_b * c + var_w * r / m) / (var_b + var_w / m)
    assert abs(np.arctanh(np.corrcoef(xbar, ybar)[0, 1]) - np.arctanh(expected)) < 4 / np.sqrt(k - 3)


def test_world_is_determined_by_the_generator_state():
    s = parse_scenario({"name": "x"})
    a = build_world(s.trial, s.outcome, rng=np.random.default_rng(3))
    b = build_world(s.trial, s.outcome, rng=np.random.default_rng(3))
    assert np.array_equal(a.baseline, b.baseline) and np.array_equal(a.site, b.site)
