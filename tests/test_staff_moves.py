"""Staff who move between teams of a site (issue 14, item 2): contamination of the control arm,
the ITT truth, staff conservation, and nothing changed when nobody moves."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from simulator.montecarlo.engine import draw_replicate
from simulator.scenario.files import parse_scenario
from simulator.model.timeline import run_timeline
from simulator.model.world import build_world
from simulator.model.timeline.roster import MOVER


def _small_sites(share, rate=1.0, vacancy=1.0):
    """Four sites of six teams, three per arm in each (stratified), sessions at month 0 only,
    heavy turnover: a trained mover from an intervention team goes to a control team 3 times in 5."""
    return parse_scenario({
        "name": "moves", "trial": {"teams": 24, "sites": {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25},
                                   "patients_per_team": {"mean": 10, "cv": 0}},
        "intervention": {"attendance": 1.0, "session_months": [0], "sessions_to_train": 1},
        "allocation": {"method": "stratified", "strata": ["site"]},
        "staff_turnover": {"annual_rate": rate, "vacancy_months": vacancy, "move_share": share},
        "dropout": {"attrition": 0.0}})


def test_without_moves_control_patients_have_exactly_zero_exposure():
    for s in (_small_sites(0.0), _small_sites(0.0, rate=0.3, vacancy=0.0)):
        for r in range(5):
            d = draw_replicate(s, r).diagnostics
            assert d["mean_exposure_ctl"] == 0.0 and d["mean_fidelity_ctl"] == 0.0
            assert d["staff_moves"] == 0


def test_without_moves_control_teams_have_no_fidelity_even_when_teams_disband():
    """Disbanding transfers control patients into intervention teams (their exposure is then
    positive), but no trained member of staff ever works in a control team."""
    s = parse_scenario({"name": "x", "staff_turnover": {"annual_rate": 0.8},
                        "reconfiguration": {"disband_rate_per_team_year": 0.5}})
    for r in range(5):
        rep = draw_replicate(s, r)
        assert all(np.all(p.fidelity == 0) for p, a in zip(rep.history.paths, rep.arm) if a == 0)


def test_moves_give_control_patients_exposure_and_the_itt_truth_falls():
    """Paired over replicates (same worlds and allocations): ITT truth with every leaver moving
    minus without, bounded away from 0 by its Monte Carlo SE."""
    replicates = 60
    without, with_moves = _small_sites(0.0), _small_sites(1.0)
    rows = []
    for r in range(replicates):
        a, b = draw_replicate(without, r), draw_replicate(with_moves, r)
        rows.append((b.outcomes.true_itt - a.outcomes.true_itt, b.diagnostics["mean_exposure_ctl"],
                     b.diagnostics["mean_fidelity_ctl"], b.diagnostics["staff_moves"]))
    diff, exposure, fidelity, moves = np.array(rows).T
    assert diff.mean() + 4 * diff.std(ddof=1) / math.sqrt(replicates) < 0
    assert np.all(exposure > 0) and np.all(fidelity >= 0) and fidelity.mean() > 0
    assert np.all(moves > 0)


@pytest.mark.parametrize("engine", ["simpy", "fast"])
def test_movers_keep_their_training(engine):
    """Attendance 1 and one session at month 0: every baseline member is trained, newcomers never
    are; so a control team's trained staff are exactly the movers from intervention teams."""
    s = _small_sites(1.0)
    rep = draw_replicate(s, 3, engine=engine)
    h = rep.history
    ctl = rep.arm == 0
    assert h.staff_flow["moved_in"][ctl].sum() > 0
    trained_ctl = (h.fidelity_at_followup * np.array([p.in_post[-1] for p in h.paths]))[ctl]
    assert np.all(np.abs(trained_ctl - np.round(trained_ctl)) < 1e-9)
    assert np.all(np.round(trained_ctl) <= h.staff_flow["moved_in"][ctl])


def check_staff(world, h):
    """Staff are conserved: those at baseline plus newcomers are in post, left the service,
    went with a disbanded team, or are waiting to move; rosters never negative nor above posts."""
    f = h.staff_flow
    in_post = np.array([p.in_post[-1] for p in h.paths])
    left = h.staff_departures - f["moved_out"]
    assert world.staff.sum() + f["joined"].sum() == \
        in_post.sum() + left.sum() + f["removed"].sum() + f["waiting"].sum()
    assert f["moved_out"].sum() >= f["moved_in"].sum()
    assert np.all(left >= 0) and np.all(f["waiting"] >= 0)
    kinds = [e.kind for e in h.events]
    assert kinds.count("staff_move_out") == f["moved_out"].sum()
    assert kinds.count("staff_move_in") == f["moved_in"].sum()
    for j, path in enumerate(h.paths):
        assert np.all(path.in_post >= 0)
        assert np.all(path.in_post <= max(world.staff[j], f["posts"][j]))
        assert np.all((path.fidelity >= 0) & (path.fidelity <= 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), share=st.floats(0.01, 1), rate=st.floats(0, 3),
       vacancy=st.sampled_from([0.0, 0.5, 3.0]), teams=st.integers(4, 14),
       disband=st.floats(0, 1.5), sites=st.sampled_from([1, 2, 3]))
def test_staff_are_conserved_and_rosters_stay_in_bounds_with_moves(seed, share, rate, vacancy,
                                                                   teams, disband, sites):
    s = parse_scenario({"name": "t", "trial": {
        "teams": teams, "sites": {f"s{i}": 1 / sites for i in range(sites)},
        "staff_per_team": {"mean": 5, "min": 1}, "patients_per_team": {"mean": 4}},
        "staff_turnover": {"annual_rate": rate, "vacancy_months": vacancy, "move_share": share},
        "intervention": {"session_months": [0, 1, 2], "refresher_every_months": 2.0},
        "reconfiguration": {"disband_rate_per_team_year": disband}})
    rng = np.random.default_rng(seed)
    world = build_world(s.trial, s.outcome, rng=rng)
    arm = (np.arange(world.n_teams) % 2).astype(int)
    h = run_timeline(world, arm, s, rng=rng)
    months = [e.month for e in h.events]
    assert months == sorted(months) and all(0 <= m < s.trial.months for m in months)
    check_staff(world, h)
    assert np.all((h.exposure >= 0) & (h.exposure <= 1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), share=st.floats(0.01, 1), rate=st.floats(0.05, 3),
       vacancy=st.sampled_from([0.0, 0.5, 3.0]), teams=st.integers(4, 14),
       disband=st.floats(0, 1.5), sites=st.sampled_from([1, 2, 3]),
       merge=st.sampled_from([0.0, 0.8]))
def test_the_fast_engine_conserves_staff_and_keeps_movers_records(seed, share, rate, vacancy,
                                                                  teams, disband, sites, merge):
    """The fast engine's moves (``model/fast/moves.py``), with or without merges: the same
    conservation as SimPy's, and
    in the staff records every move out of a team is a spell ending "moved", every arrival a
    spell of origin MOVER that starts when, or after (having waited for a post), the same
    person's last spell ended by moving, with at least the sessions that spell had attended."""
    s = parse_scenario({"name": "t", "seed": seed % 1000, "trial": {
        "teams": teams, "sites": {f"s{i}": 1 / sites for i in range(sites)},
        "staff_per_team": {"mean": 5, "min": 1}, "patients_per_team": {"mean": 4}},
        "staff_turnover": {"annual_rate": rate, "vacancy_months": vacancy, "move_share": share},
        "intervention": {"session_months": [0, 1, 2], "refresher_every_months": 2.0},
        "reconfiguration": {"disband_rate_per_team_year": disband,
                            "merges": {"rate_per_team_year": merge, "within": "site"}}})
    rep = draw_replicate(s, seed % 97, engine="fast")
    h, staff = rep.history, rep.history.staff
    months = [e.month for e in h.events]
    assert months == sorted(months) and all(0 <= m < s.trial.months for m in months)
    check_staff(rep.world, h)
    assert np.count_nonzero(staff.why_ended == "moved") == h.staff_flow["moved_out"].sum()
    ids = staff.staff_id.tolist()
    pooled = {(ids[k], staff.end[k]) for k in np.flatnonzero(staff.why_ended == "merged")}
    arrived = [i for i in np.flatnonzero(staff.origin == MOVER)
               if (ids[i], staff.start[i]) not in pooled]   # not a mover's piece after a merge
    assert len(arrived) == h.staff_flow["moved_in"].sum()
    for i in arrived:
        before = [k for k in range(len(ids)) if ids[k] == ids[i] and staff.end[k] <= staff.start[i]
                  and staff.why_ended[k] == "moved"]
        last = max(before, key=lambda k: staff.end[k])
        assert np.all(staff.attended[i] >= staff.attended[last])
