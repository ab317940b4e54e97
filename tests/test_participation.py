"""Issue 13: participation ratings per member of staff, the stayers-only team score, staff.csv."""
from __future__ import annotations

import csv

import numpy as np

from simulator.montecarlo.engine import draw_replicate
from simulator.outputs.draw import write_replicate
from simulator.outputs.files import parse_cell
from simulator.scenario.files import parse_scenario


def _read(path):
    with open(path, newline="") as f:
        return [{k: parse_cell(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _scenario(**intervention):
    return parse_scenario({"name": "p", "trial": {"teams": 12},
                           "staff_turnover": {"annual_rate": 0.6, "vacancy_months": 1,
                                              "move_share": 0.3},
                           "intervention": {"components": [
                               {"name": "training", "session_months": [1, 2], "attendance": 0.6,
                                "sessions_to_complete": 2},
                               {"name": "reflection", "session_months": [3], "attendance": 0.8,
                                "audience": "manager", "weight": 3}], **intervention}})


def test_team_score_is_the_mean_rating_of_the_stayers_in_staff_csv(tmp_path):
    rep = draw_replicate(_scenario(), 2)
    write_replicate(rep, tmp_path)
    staff, teams = _read(tmp_path / "staff.csv"), _read(tmp_path / "teams.csv")
    for team in teams:
        if team["arm"] != 1:
            assert team["measured_participation"] == 0
            continue
        ratings = [r["participation_rating"] for r in staff
                   if r["team"] == team["team"] and r["counts_for_score"] == 1]
        assert team["participation_staff_pooled"] == len(ratings)
        if ratings:
            assert np.isclose(team["measured_participation"], np.mean(ratings), rtol=0, atol=1e-12)
        else:
            assert np.isnan(team["measured_participation"])
    counted = [r for r in staff if r["counts_for_score"] == 1]
    assert counted and all(r["start_month"] == 0 and r["why_ended"] == "followup"
                           and r["origin"] == "baseline" for r in counted)


def test_staff_csv_has_one_row_per_spell_and_the_roster_at_followup(tmp_path):
    rep = draw_replicate(_scenario(), 4)
    write_replicate(rep, tmp_path)
    staff = _read(tmp_path / "staff.csv")
    names = rep.world.team_names.tolist()
    for j, path in enumerate(rep.history.paths):
        at_end = sum(str(r["team"]) == str(names[j]) and r["why_ended"] == "followup" for r in staff)
        assert at_end == path.in_post[-1]
    for r in staff:
        assert r["start_month"] <= r["end_month"]
        assert r["completed_training"] == int(r["attended_training"] >= 2)
        if r["role"] == "staff":
            assert r["attended_reflection"] == 0
    managers = {(r["team"]) for r in staff if r["role"] == "manager" and r["why_ended"] == "followup"}
    assert len(managers) <= rep.world.n_teams


def test_noiseless_rating_is_the_weighted_share_of_required_sessions():
    """Rating = Σ_c v_c attended_c / k_c / Σ_c v_c over the member's own components."""
    rep = draw_replicate(_scenario(measurement_noise_sd=0.0,
                                   participation_weights={"training": 1, "reflection": 3}), 1)
    st, p = rep.history.staff, rep.participation
    rated = rep.arm[st.team] == 1
    share = st.attended / np.array([2, 1])
    manager = st.role == "manager"
    expected = np.where(manager, (share[:, 0] + 3 * share[:, 1]) / 4, share[:, 0])
    np.testing.assert_allclose(p.rating[rated], expected[rated], rtol=0, atol=1e-15)
    assert np.isnan(p.rating[~rated]).all()
