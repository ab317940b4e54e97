"""The SimPy timeline: invariants (hypothesis) and agreement with closed forms (fixed seeds, MCSE)."""
import math

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy import stats

from simulator.scenario.files import parse_scenario
from simulator.model.timeline import run_timeline
from simulator.model.world import build_world


def _run(overrides, seed=0, arm=None):
    s = parse_scenario({"name": "t", **overrides})
    rng = np.random.default_rng(seed)
    world = build_world(s.trial, s.outcome, rng=rng)
    if arm is None:
        arm = np.zeros(world.n_teams, dtype=int)
        arm[: world.n_teams // 2] = 1
    return s, world, arm, run_timeline(world, arm, s, rng=rng)


scenarios = st.fixed_dictionaries({
    "trial": st.fixed_dictionaries({
        "teams": st.integers(4, 14), "months": st.sampled_from([6.0, 12.0, 18.0]),
        "patients_per_team": st.fixed_dictionaries({"mean": st.integers(1, 12),
                                                    "cv": st.sampled_from([0.0, 0.5])}),
        "staff_per_team": st.fixed_dictionaries({"mean": st.integers(1, 10), "min": st.just(1)}),
    }),
    "staff_turnover": st.fixed_dictionaries({
        "annual_rate": st.floats(0, 3), "vacancy_months": st.sampled_from([0.0, 0.5, 3.0]),
        "leadership_on_turnover": st.floats(-1, 1)}),
    "intervention": st.fixed_dictionaries({
        "attendance": st.floats(0, 1), "session_months": st.just([0, 1, 2]),
        "sessions_to_train": st.integers(1, 3),
        "refresher_every_months": st.sampled_from([None, 1.0, 2.5])}),
    "reconfiguration": st.fixed_dictionaries({
        "disband_rate_per_team_year": st.floats(0, 2),
        "patient_transfer_probability": st.floats(0, 1)}),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=scenarios, seed=st.integers(0, 2**32 - 1))
def test_timeline_invariants(overrides, seed):
    s, world, arm, h = _run(overrides, seed)
    months = [e.month for e in h.events]
    assert months == sorted(months) and all(0 <= m < s.trial.months for m in months)
    for j, path in enumerate(h.paths):
        assert np.all(path.in_post >= 0) and np.all(path.in_post <= world.staff[j])
        assert np.all((path.fidelity >= 0) & (path.fidelity <= 1))
        assert np.all(np.diff(path.times) > 0)
        if arm[j] == 0:
            assert np.all(path.fidelity == 0)
    assert np.all((h.exposure >= 0) & (h.exposure <= 1))
    _check_membership(world, h)


def _check_membership(world, h):
    """Every patient is in exactly one team at every moment until lost; receivers are alive."""
    current = world.patient_team.copy()
    for month, i, origin, to in h.moves:
        assert current[i] == origin, "a move must start from the patient's current team"
        assert h.disband_month[origin] == month
        if to >= 0:
            assert to != origin and (np.isnan(h.disband_month[to]) or h.disband_month[to] > month)
        current[i] = to
    assert np.array_equal(current, h.final_team)
    assert np.array_equal(np.isnan(h.lost_month), h.final_team >= 0)


def test_baseline_staff_in_post_at_month_12_is_exp_minus_rate():
    rate = 0.5
    _, world, _, h = _run({"trial": {"teams": 300, "staff_per_team": {"mean": 12, "sd": 0}},
                           "staff_turnover": {"annual_rate": rate, "vacancy_months": 0}}, seed=5)
    n = world.staff.sum()
    share = h.baseline_staff_in_post.sum() / n
    truth = math.exp(-rate)
    assert abs(share - truth) < 4 * math.sqrt(truth * (1 - truth) / n)


def test_fidelity_without_turnover_matches_binomial_closed_form():
    p, k = 0.6, 2
    s, world, arm, h = _run({"trial": {"teams": 400, "staff_per_team": {"mean": 10, "sd": 0}},
                             "staff_turnover": {"annual_rate": 0.0},
                             "intervention": {"attendance": p, "sessions_to_train": k,
                                              "session_months": [1, 2, 3, 4]}}, seed=9)
    staff = world.staff[arm == 1].sum()
    truth = stats.binom.sf(k - 1, 4, p)
    observed = h.fidelity_at_followup[arm == 1].mean()
    assert abs(observed - truth) < 4 * math.sqrt(truth * (1 - truth) / staff)
    # Mean exposure: (1/12) Σ over inter-session intervals of P(trained after the sessions so far).
    trained_by = [stats.binom.sf(k - 1, n, p) for n in range(5)]
    truth_exposure = sum(trained_by[n] * (b - a) for n, (a, b) in
                         enumerate(zip([0, 1, 2, 3, 4], [1, 2, 3, 4, 12]))) / 12
    assert abs(h.team_dose[arm == 1].mean() - truth_exposure) < \
        4 * h.team_dose[arm == 1].std(ddof=1) / math.sqrt((arm == 1).sum())


def test_design_check_fidelity_decays_as_exp_and_exposure_is_closed_form():
    """DESIGN.md: attendance 1, one session at month 0, vacancy 0: F(t) = e^(−h t/12),
    mean exposure over 12 months (1 − e^(−h))/h."""
    h_rate = 0.8
    s, world, arm, h = _run({"trial": {"teams": 400, "staff_per_team": {"mean": 10, "sd": 0}},
                             "staff_turnover": {"annual_rate": h_rate, "vacancy_months": 0},
                             "intervention": {"attendance": 1.0, "session_months": [0],
                                              "sessions_to_train": 1}}, seed=13)
    _, fidelity, _ = h.monthly()
    f6 = fidelity[arm == 1, 6]
    assert abs(f6.mean() - math.exp(-h_rate / 2)) < 4 * f6.std(ddof=1) / math.sqrt(f6.size)
    dose = h.team_dose[arm == 1]
    assert abs(dose.mean() - (1 - math.exp(-h_rate)) / h_rate) < 4 * dose.std(ddof=1) / math.sqrt(dose.size)


def test_scheduled_disbanding_moves_patients_and_keeps_each_site_arm_covered():
    s, world, arm, h = _run({"trial": {"teams": 12}, "reconfiguration": {
        "scheduled": [{"month": 6, "teams": 2}], "patient_transfer_probability": 1.0}}, seed=3)
    gone = np.flatnonzero(~np.isnan(h.disband_month))
    assert gone.size == 2 and np.all(h.disband_month[gone] == 6)
    survivors = np.isnan(h.disband_month)
    for site in np.unique(world.site):
        for a in (0, 1):
            had = ((world.site == site) & (arm == a)).sum()
            if had:
                assert ((world.site == site) & (arm == a) & survivors).sum() >= 1
    moved = np.isin(world.patient_team, gone)
    assert np.all(h.final_team[moved] >= 0) and np.all(np.isin(h.final_team[moved], gone, invert=True))
    assert np.all(world.site[h.final_team[moved]] == world.site[world.patient_team[moved]])


def test_transfer_probability_zero_loses_every_patient_of_a_disbanded_team():
    s, world, arm, h = _run({"trial": {"teams": 10}, "reconfiguration": {
        "scheduled": [{"month": 2, "teams": 1}], "patient_transfer_probability": 0.0}}, seed=4)
    gone = np.flatnonzero(~np.isnan(h.disband_month))
    lost = np.isin(world.patient_team, gone)
    assert np.all(h.lost_month[lost] == 2.0) and np.all(np.isnan(h.lost_month[~lost]))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), attendance=st.floats(0, 1), k=st.integers(1, 3),
       months=st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0, 7.0]), min_size=1, max_size=4))
def test_static_fast_path_equals_the_simpy_run(seed, attendance, k, months):
    s = parse_scenario({"name": "t", "trial": {"teams": 9}, "staff_turnover": {"annual_rate": 0.0},
                        "intervention": {"attendance": attendance, "sessions_to_train": k,
                                         "session_months": months, "refresher_every_months": 2.0}})
    world = build_world(s.trial, s.outcome, rng=np.random.default_rng(seed))
    arm = (np.arange(9) % 2).astype(int)
    fast = run_timeline(world, arm, s, rng=np.random.default_rng(seed + 1))
    slow = run_timeline(world, arm, s, rng=np.random.default_rng(seed + 1), engine="simpy")
    assert fast.events == slow.events
    for a, b in zip(fast.paths, slow.paths):
        assert np.array_equal(a.times, b.times) and np.array_equal(a.fidelity, b.fidelity)
    assert np.array_equal(fast.exposure, slow.exposure)
