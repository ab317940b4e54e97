"""The fast engine on its own: reproducible whatever the chunking, workers or executor; its
timeline against closed forms; the coverage whitelist; ``--engine`` on the command line."""
from __future__ import annotations

import csv
import json
from contextlib import nullcontext
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from simulator.cli import main
from simulator.model.fast import choose_engine, simulate_chunk, uncovered
from simulator.model.fast import coverage
from simulator.model.fast import posts as posts_module
from simulator.model.fast.posts import chunk_spells, first_block
from simulator.montecarlo.runner import RunSettings, run_scenario
from simulator.montecarlo.seeds import stream
from simulator.scenario.files import parse_scenario

from conftest import SCENARIOS

DYNAMIC = {
    "name": "fast_dynamic", "seed": 3, "replicates": 30,
    "trial": {"teams": 12, "patients_per_team": {"mean": 8, "cv": 0.6},
              "sites": {"a": 0.5, "b": 0.5}},
    "intervention": {"refresher_every_months": 3, "leadership_on_attendance": 0.5},
    "staff_turnover": {"annual_rate": 0.6, "vacancy_months": 1.5, "leadership_on_turnover": -0.3},
    "reconfiguration": {"disband_rate_per_team_year": 0.2, "scheduled": [{"month": 5, "teams": 1}]},
    "dropout": {"mechanism": "MAR", "strength": 0.4, "disruption_effect": 0.5},
    "analysis": {"estimators": ["mixed_ancova", "cluster_summary"]},
}


# Every process of issues 13 and 14 too: components (one for the manager post), refreshers for
# newcomers only, rating weights, a staff outcome and the score-based analyses; merges at random
# and on schedule, across arms, between teams with their own leave rates.
DYNAMIC_COMPONENTS = {
    **DYNAMIC, "name": "fast_components",
    "reconfiguration": {"disband_rate_per_team_year": 0.2, "scheduled": [{"month": 5, "teams": 1}],
                        "merges": {"rate_per_team_year": 0.4, "within": "site",
                                   "scheduled": [{"month": 3, "pairs": 1}]}},
    "intervention": {"refresher_every_months": 3, "refresher_for": "newcomers",
                     "leadership_on_attendance": 0.5,
                     "participation_weights": {"coaching": 2.0}, "components": [
                         {"name": "information", "session_months": [0], "attendance": 0.8,
                          "weight": 0.5},
                         {"name": "coaching", "session_months": [1, 2, 3], "attendance": 0.5,
                          "sessions_to_complete": 2},
                         {"name": "reflection", "session_months": [2, 5], "attendance": 0.7,
                          "sessions_to_complete": 2, "audience": "manager"}]},
    "staff_outcome": {"name": "behaviour", "effect_at_full_dose": 0.4},
    "analysis": {"estimators": ["mixed_ancova", "implementation_split", "cace_iv"]},
}


# Staff moves (issue 14) with everything above: the moves event loop (``model/fast/moves.py``),
# with merges and disbanding in it, and training carried from spell to spell.
DYNAMIC_MOVES = {
    **DYNAMIC_COMPONENTS, "name": "fast_moves",
    "staff_turnover": {**DYNAMIC["staff_turnover"], "move_share": 0.5},
}
SPECS = [DYNAMIC, DYNAMIC_COMPONENTS, DYNAMIC_MOVES]
SPEC_IDS = ["one", "components", "moves"]


def _streams(scenario):
    return lambda r, stage, label=None: stream(scenario.seed, r, stage, label)


def _same_staff(h, g) -> bool:
    a, b = h.staff, g.staff
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in (
        "staff_id", "team", "role", "origin", "start", "end", "why_ended", "attended", "moved"))


def _same_diagnostics(a: dict, b: dict) -> bool:
    """Equal, nan for nan (a diagnostic of no team, e.g. no control team still running)."""
    return a.keys() == b.keys() and all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k])
                                        for k in a)


def _same(a, b) -> bool:
    h, g = a.history, b.history
    return (np.array_equal(a.trial.followup, b.trial.followup, equal_nan=True)
            and np.array_equal(h.exposure, g.exposure) and np.array_equal(h.team_dose, g.team_dose)
            and np.array_equal(a.trial.participation, b.trial.participation, equal_nan=True)
            and _same_diagnostics(a.diagnostics, b.diagnostics) and _same_staff(h, g)
            and all(np.array_equal(x.trial.followup, y.trial.followup, equal_nan=True)
                    for x, y in zip(a.outcome_trials, b.outcome_trials)))


@settings(deadline=None, max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 40), min_size=1, max_size=6, unique=True), st.data(),
       st.sampled_from(SPECS))
def test_a_replicate_does_not_depend_on_its_chunk(replicates, data, spec):
    scenario = parse_scenario(spec)
    r = data.draw(st.sampled_from(replicates))
    alone = simulate_chunk(scenario, [r], _streams(scenario))[0]
    together = simulate_chunk(scenario, replicates, _streams(scenario))[replicates.index(r)]
    assert _same(alone, together)


@settings(deadline=None, max_examples=10, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 200), min_size=1, max_size=4, unique=True))
def test_rosters_fidelity_and_staff_records_stay_consistent(replicates):
    """With components, merges and disbanding: fidelity in [0, 1], rosters never negative nor
    above the posts, and the staff records' spells open at follow-up are the staff in post;
    every spell that began with a merge ended one in another team at the same month."""
    scenario = parse_scenario(DYNAMIC_COMPONENTS)
    for rep in simulate_chunk(scenario, replicates, _streams(scenario), detail=True):
        h, staff = rep.history, rep.history.staff
        for path in h.paths:
            assert np.all((path.fidelity >= 0) & (path.fidelity <= 1 + 1e-12))
            assert np.all(path.in_post >= 0)
        assert np.all(h.staff_flow["in_post"] <= h.staff_flow["posts"])
        open_at_followup = np.bincount(staff.team[staff.why_ended == "followup"],
                                       minlength=rep.world.n_teams)
        assert np.array_equal(open_at_followup, h.staff_flow["in_post"])
        pooled = sorted(staff.start[staff.moved].tolist())
        assert pooled == sorted(staff.end[staff.why_ended == "merged"].tolist())
        assert np.array_equal(np.bincount(staff.team[staff.why_ended == "merged"],
                                          minlength=rep.world.n_teams),
                              h.staff_flow["merged_out"])


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_a_replicate_needing_more_cycles_does_not_depend_on_its_chunk(spec):
    scenario = parse_scenario(spec)
    with patch.object(posts_module, "_cycles", lambda *a: 1):   # every replicate draws more
        together = simulate_chunk(scenario, range(4), _streams(scenario))
        alone = [simulate_chunk(scenario, [r], _streams(scenario))[0] for r in range(4)]
    assert all(_same(a, b) for a, b in zip(alone, together))


def _replicates_csv(tmp_path, spec, name, **kw) -> str:
    scenario = parse_scenario(spec)
    run_scenario(scenario, RunSettings(out_dir=tmp_path / name, quiet=True, engine="fast", **kw))
    return (tmp_path / name / "replicates.csv").read_text()


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_fast_results_do_not_depend_on_chunk_size_workers_or_executor(tmp_path, spec):
    serial = _replicates_csv(tmp_path, spec, "a", executor="serial", chunk_size=7)
    assert serial == _replicates_csv(tmp_path, spec, "b", executor="local", workers=2,
                                     chunk_size=11)
    assert serial == _replicates_csv(tmp_path, spec, "c", executor="serial")


def test_exposure_follows_the_closed_form_with_immediate_replacement():
    """Attendance 1, one session at month 0, vacancy 0, turnover h per year: fidelity at month
    t is exp(-h t / 12), so mean exposure over 12 months is (1 - e^-h)/h (DESIGN.md)."""
    h = 0.8
    scenario = parse_scenario({
        "name": "closed", "seed": 9, "trial": {"teams": 40, "patients_per_team": {"mean": 5, "cv": 0}},
        "intervention": {"attendance": 1.0, "session_months": [0], "sessions_to_train": 1},
        "staff_turnover": {"annual_rate": h, "vacancy_months": 0.0}, "dropout": {"attrition": 0.0}})
    reps = simulate_chunk(scenario, range(40), _streams(scenario))
    dose = np.array([r.history.team_dose[r.arm == 1].mean() for r in reps])
    expected = (1 - np.exp(-h)) / h
    assert abs(dose.mean() - expected) < 4 * dose.std(ddof=1) / np.sqrt(dose.size)


@settings(deadline=None, max_examples=40)
@given(st.integers(1, 6), st.floats(0.0, 3.0), st.floats(0.0, 4.0), st.integers(0, 2**31),
       st.booleans())
def test_spells_tile_each_post_in_time_order(teams, rate, vacancy, seed, small_blocks):
    """Each post's spells start at 0 or after a vacancy, never overlap, end by the team's end;
    only spells that end before the team's end have left (also when the first block of
    cycles is too short and more are drawn)."""
    posts = np.arange(1, teams + 1)
    end = np.linspace(3.0, 12.0, teams)
    rng = np.random.default_rng(seed)
    with patch.object(posts_module, "_cycles", lambda *a: 1) if small_blocks else nullcontext():
        block = first_block(posts, np.full(teams, rate), vacancy, end, rng)
    s = chunk_spells([block], np.array([0]), vacancy, [rng])
    assert np.all(s.start < s.end + 1e-12) and np.all(s.end <= end[s.team])
    assert np.all(s.left == (s.end < end[s.team]))
    assert np.array_equal(np.bincount(s.team[s.baseline], minlength=teams), posts)
    later = ~s.baseline
    assert np.all(s.start[later] >= s.end[np.flatnonzero(later) - 1] - 1e-12)


def test_keys_outside_the_whitelist_fall_back_to_simpy(monkeypatch):
    moves = parse_scenario({"name": "m", "staff_turnover": {"move_share": 0.3},
                            "reconfiguration": {"merges": {"rate_per_team_year": 0.2}}})
    assert uncovered(moves) == [] and choose_engine([moves], "auto")[0] == "fast"
    plain = parse_scenario({"name": "p", "intervention": {"attendance": 0.3}})
    assert choose_engine([plain], "auto")[0] == "fast"
    monkeypatch.delitem(coverage.COVERED, "intervention.attendance")   # a key added later
    assert choose_engine([plain], "auto") == (
        "simpy", "auto: the fast engine does not cover intervention.attendance")
    with pytest.raises(coverage.EngineNotCovered, match="intervention.attendance"):
        choose_engine([plain], "fast")


def test_engine_fast_on_a_scenario_it_does_not_cover_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.delitem(coverage.COVERED, "staff_turnover.move_share")   # as if added later
    assert main(["run", str(SCENARIOS / "staff_moves.yaml"), "--engine", "fast",
                 "--replicates", "2"]) == 2
    err = capsys.readouterr().err
    assert "does not cover staff_turnover.move_share" in err and "Traceback" not in err


@settings(deadline=None, max_examples=50)
@given(st.floats(0.0, 10.0), st.floats(0.0, 8.0), st.floats(0.01, 3.0), st.floats(0.01, 3.0),
       st.floats(0.1, 12.0))
def test_a_holder_in_post_at_a_merge_leaves_at_the_receiving_teams_rate(start, hazard, r0, r1,
                                                                         merge):
    """∫ r = hazard with r = r0 before the merge month and r1 after it (posts.after_hazard)."""
    from simulator.model.fast.posts import after_hazard
    x = after_hazard(np.array([start]), np.array([hazard]),
                     (np.array([[merge]]), np.array([[r0, r1]])))[0]
    before = max(merge - start, 0.0) * r0
    expected = start + hazard / r0 if hazard <= before else \
        max(merge, start) + (hazard - before) / r1
    assert np.isclose(x, expected, rtol=1e-12, atol=1e-12)


def test_merges_are_covered_with_leave_rates_that_differ_by_team():
    merges = parse_scenario({"name": "m", "staff_turnover": {"leadership_on_turnover": -0.5},
                             "reconfiguration": {"merges": {"rate_per_team_year": 0.2}}})
    assert uncovered(merges) == []


def test_draw_shows_runs_replicate_and_run_json_names_the_engine(tmp_path, write_yaml, capsys):
    import yaml
    path = write_yaml(yaml.safe_dump({**DYNAMIC, "replicates": 6}))
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--quiet", "--no-plots",
                 "--executor", "serial"]) == 0
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["engine"] == "fast" and "covers" in info["engine_reason"]
    assert main(["draw", str(path), "--replicate", "4", "--out", str(tmp_path / "draw")]) == 0
    assert "engine fast" in capsys.readouterr().out
    with open(tmp_path / "run" / "replicates.csv") as fh:
        row = next(r for r in csv.DictReader(fh) if r["replicate"] == "4")
    with open(tmp_path / "draw" / "patients.csv") as fh:
        patients = list(csv.DictReader(fh))
    assert sum(p["status"] == "analysed" for p in patients) == int(row["patients_analysed"])
    with open(tmp_path / "draw" / "events.csv") as fh:
        events = list(csv.DictReader(fh))
    months = [float(e["month"]) for e in events]
    assert months == sorted(months)
    kinds = {e["kind"] for e in events}
    assert {"staff_leave", "staff_join", "session", "dropout"} <= kinds
    with open(tmp_path / "draw" / "staff.csv") as fh:   # the staff records (model/fast/staff.py)
        staff = list(csv.DictReader(fh))
    assert sum(s["origin"] == "newcomer" for s in staff) == \
        sum(e["kind"] == "staff_join" for e in events)
    assert all(s["why_ended"] in ("left", "disbanded", "followup") for s in staff)


class _Process:
    def interrupt(self, cause):   # the staffing process a disbanding stops: not needed here
        pass


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**31), st.floats(0.0, 2.0), st.integers(0, 3), st.floats(0.0, 1.0))
def test_disbanding_makes_the_simpy_engines_choices_from_the_same_draws(seed, rate, scheduled, p):
    import simpy

    from simulator.model.fast.reconfiguration import reconfigure
    from simulator.model.timeline.reconfiguration import Membership, disband_plan, reconfiguration

    scenario = parse_scenario({"name": "r", "trial": {"teams": 16, "sites": {"a": 0.5, "b": 0.5}},
                               "reconfiguration": {"disband_rate_per_team_year": rate,
                                                   "scheduled": [{"month": 4, "teams": scheduled}] if scheduled else [],
                                                   "patient_transfer_probability": p}})
    rng = np.random.default_rng(seed)
    site = rng.choice(np.array(["a", "b", "c"]), size=16)
    arm, patient_team = rng.integers(2, size=16), np.repeat(np.arange(16), rng.integers(1, 6, size=16))
    fast = reconfigure(site, arm, patient_team, scenario, np.random.default_rng(seed + 1))
    env, membership, log, draws = simpy.Environment(), Membership(patient_team, 16), [], np.random.default_rng(seed + 1)
    plan = disband_plan(scenario.reconfiguration, 16, 12.0, draws)
    env.process(reconfiguration(env, plan, site, arm, [_Process()] * 16, membership, p, rng=draws, log=log))
    env.run(until=12.0)
    # SimPy's clock reaches a month by adding timeouts: the same month to within rounding
    assert [m[1:] for m in fast.membership.moves] == [m[1:] for m in membership.moves]
    assert np.allclose([m[0] for m in fast.membership.moves], [m[0] for m in membership.moves],
                       rtol=1e-12, atol=0)
    assert np.array_equal(fast.membership.current, membership.current)
    assert np.allclose(fast.membership.lost_month, membership.lost_month, rtol=1e-12, atol=0,
                       equal_nan=True)
    assert [e[1:] for e in fast.events] == [e[1:] for e in log]


@pytest.mark.parametrize("teams,chunk", [(28, 200), (30, 200), (60, 100), (327, 25), (5000, 25)])
def test_big_trials_get_smaller_fast_chunks(teams, chunk):
    """At most 6,000 teams in a fast chunk (a worker's memory stays flat), never fewer than
    25 replicates; the sweep's biggest trial decides."""
    from simulator.montecarlo.runner import fast_chunk
    from simulator.scenario.files import design_points

    scenario = parse_scenario({"name": "big", "trial": {"teams": 28},
                               "sweep": {"trial.teams": [28, teams]}})
    assert fast_chunk(design_points(scenario)) == chunk
