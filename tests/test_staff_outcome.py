"""Issue 13: the staff outcome — its model, truth, estimators and type I error at 27 teams."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.analysis.cluster import cluster_summary_batch
from simulator.analysis.implementation import participation_high_low
from simulator.analysis.mixed import mixed_ancova_batch
from simulator.analysis.records import ObservedTrial
from simulator.model.staff_outcome import own_dose, staff_outcome_trial
from simulator.model.timeline.staff_records import StaffSpells
from simulator.montecarlo.engine import draw_replicate
from simulator.scenario.files import parse_scenario
from simulator.scenario.staff_outcome import StaffOutcome

TEAMS, PER_TEAM = 27, 8


def _stayers(rng, per_team=PER_TEAM, attended=None):
    team = np.repeat(np.arange(TEAMS), per_team)
    n = team.size
    att = np.zeros((n, 1), dtype=np.int64) if attended is None else attended
    return StaffSpells(("training",), np.array([1]), np.array([False]),
                       np.array([f"s{i}" for i in range(n)]), team, np.full(n, "staff"),
                       np.zeros(n, np.int64), np.zeros(n), np.full(n, 12.0),
                       np.full(n, "followup"), att, np.zeros(n, bool))


def _patient_trial(arm, score):
    return ObservedTrial(team=np.zeros(0, np.int64), arm=arm, baseline=np.zeros(0),
                         followup=np.zeros(0), strata=np.zeros(TEAMS, np.int64),
                         participation=score)


def test_staff_outcome_type_one_error_is_nominal_at_27_teams():
    """Null effect, 27 teams (14 vs 13), 8 stayers each, ICC 0.1: the mixed ANCOVA
    (Satterthwaite df) and the cluster-level analysis reject 5 % of the time, within 3 MCSE
    (both sides) over 4,000 trials."""
    rng = np.random.default_rng(20260113)
    spec = StaffOutcome(icc=0.1, autocorrelation=0.5, effect_at_full_dose=0.0)
    arm = np.r_[np.ones(14, int), np.zeros(13, int)]
    staff = _stayers(rng)
    trials = [staff_outcome_trial(staff, arm, spec, np.ones(1),
                                  _patient_trial(arm, np.zeros(TEAMS)), rng=rng).trial
              for _ in range(4000)]
    mcse = math.sqrt(0.05 * 0.95 / len(trials))
    mixed = mixed_ancova_batch(trials, alpha=0.05, adjust_for_strata=False,
                               df_method="satterthwaite")
    cluster = cluster_summary_batch(trials, alpha=0.05, adjusted=True, adjust_for_strata=False)
    for fit in (mixed, cluster):
        rejection = float(np.mean(fit.p_value < 0.05))
        assert abs(rejection - 0.05) < 3 * mcse, rejection


def test_staff_truth_is_the_mean_own_dose_effect_among_measured_staff():
    rng = np.random.default_rng(3)
    arm = np.r_[np.ones(14, int), np.zeros(13, int)]
    attended = rng.integers(0, 2, size=(TEAMS * 4, 1)) * (np.repeat(arm, 4)[:, None] == 1)
    staff = _stayers(rng, 4, attended)
    spec = StaffOutcome(effect_at_full_dose=2.0)
    out = staff_outcome_trial(staff, arm, spec, np.ones(1), _patient_trial(arm, np.zeros(TEAMS)),
                              rng=rng)
    treated = np.repeat(arm, 4) == 1
    assert out.true_itt == pytest.approx(2.0 * attended[treated, 0].mean(), abs=1e-12)
    assert out.true_efficacy == 2.0
    np.testing.assert_array_equal(own_dose(staff, np.ones(1)), attended[:, 0])


def test_high_low_compares_high_with_low_intervention_teams_only():
    """Follow-up = team score + noise, the same noise in every team: high minus low is the
    difference in mean score between the halves, 0.6; control teams play no part (their
    outcomes are shifted by 100 and change nothing)."""
    arm = np.r_[np.ones(6, int), np.zeros(4, int)]
    score = np.r_[0.1, 0.2, 0.3, 0.7, 0.8, 0.9, 0, 0, 0, 0]
    team = np.repeat(np.arange(10), 4)
    noise = np.tile([-0.2, 0.1, 0.3, -0.2], 10)
    base = np.tile([0.5, -0.1, 0.2, 0.4], 10)
    y = score[team] + noise + 100.0 * (arm[team] == 0)
    trial = ObservedTrial(team=team, arm=arm, baseline=base, followup=y,
                          strata=np.zeros(10, np.int64), participation=score)
    est = participation_high_low(trial, adjust_for=("baseline",))
    assert est.converged and est.estimate == pytest.approx(0.6, abs=1e-9)


def test_a_scenario_with_a_staff_outcome_gives_its_rows():
    s = parse_scenario({"name": "t", "trial": {"teams": 8},
                        "staff_outcome": {"name": "behaviour", "effect_at_full_dose": 1.0}})
    rep = draw_replicate(s, 0)
    labels = [o.label for o in rep.outcome_trials]
    assert labels == ["patient:QPR", "staff:behaviour"]
    staff = rep.outcome_trials[1].trial
    assert staff.team.size == int(rep.history.staff.stayer.sum())
