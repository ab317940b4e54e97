"""A team list (trial.teams_file / trial.team_list) drives world, allocation and outputs; bad
tables are rejected like bad YAML: every problem with file, row, column, value, what is allowed."""
import csv
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from simulator.cli import main
from simulator.montecarlo.engine import draw_replicate
from simulator.scenario.files import ScenarioError, load_scenario, parse_scenario

TEAMS = [
    {"team": "North CMHT", "site": "trust_a", "team_type": "cmht", "patients": 15, "staff": 12,
     "deprivation": 0.3, "borough": "x"},
    {"team": "South CMHT", "site": "trust_a", "team_type": "cmht", "patients": 18, "staff": 14,
     "deprivation": 0.8, "borough": "y"},
    {"team": "East Recovery", "site": "trust_a", "team_type": "recovery", "patients": 12,
     "staff": 8, "deprivation": 0.1, "borough": "x"},
    {"team": "West AOT", "site": "trust_b", "team_type": "assertive_outreach", "patients": 10,
     "staff": 9, "deprivation": 1.2, "borough": "y"},
    {"team": "Central EIS", "site": "trust_b", "team_type": "early_intervention",
     "patients": 14, "staff": 10, "deprivation": 0.5, "borough": "x"},
    {"team": "River CMHT", "site": "trust_b", "team_type": "cmht", "patients": 16, "staff": 13,
     "deprivation": 0.9, "borough": "y"},
]
HEADER = list(TEAMS[0])


def _scenario(**trial):
    return parse_scenario({"name": "t", "replicates": 4, "trial": {"team_list": TEAMS, **trial},
                           "analysis": {"estimators": ["cluster_summary"]}})


def _write_csv(path, rows, header=HEADER):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_the_list_fixes_names_sites_types_and_sizes_in_every_replicate():
    s = _scenario()
    assert s.trial.teams == 6 and s.trial.patients_per_team.cv == 0
    assert s.trial.sites == {"trust_a": 0.5, "trust_b": 0.5}
    assert s.trial.team_types["cmht"] == 0.5
    assert s.outcome.team_type_effects == {"assertive_outreach": -3.0}
    for r in range(3):
        w = draw_replicate(s, r).world
        assert w.team_names.tolist() == [t["team"] for t in TEAMS]
        assert w.site.tolist() == [t["site"] for t in TEAMS]
        assert w.patients.tolist() == [t["patients"] for t in TEAMS]
        assert w.staff.tolist() == [t["staff"] for t in TEAMS]
        assert w.covariates()["deprivation"].tolist() == [t["deprivation"] for t in TEAMS]
    leadership = [draw_replicate(s, r).world.leadership[0] for r in range(2)]
    assert leadership[0] != leadership[1]          # not listed: drawn in each replicate


def test_recruitment_varies_around_the_listed_sizes_by_the_cv():
    s = _scenario(patients_per_team={"cv": 0.3})
    sizes = np.array([draw_replicate(s, r).world.patients for r in range(300)])
    listed = np.array([t["patients"] for t in TEAMS])
    assert not np.all(sizes == listed)
    # mean of round(Gamma) around p_j: within 4 MCSE (sd ~ 0.3 p_j / sqrt(300))
    assert np.all(np.abs(sizes.mean(axis=0) - listed) < 4 * 0.3 * listed / np.sqrt(300) + 0.1)


def test_a_listed_leadership_column_is_used_as_given():
    rows = [{**t, "leadership": str(i - 2.5)} for i, t in enumerate(TEAMS)]
    s = parse_scenario({"name": "t", "trial": {"team_list": rows}})
    assert draw_replicate(s, 0).world.leadership.tolist() == [i - 2.5 for i in range(6)]


def test_covariate_effects_shift_each_team_by_points_per_unit_from_the_mean():
    plain = _scenario()
    shifted = parse_scenario({**plain.model_dump(mode="json"),
                              "outcome": {"covariate_effects": {"deprivation": -4.0}}})
    a, b = draw_replicate(plain, 0), draw_replicate(shifted, 0)
    dep = np.array([t["deprivation"] for t in TEAMS])
    expected = -4.0 * (dep - dep.mean())
    np.testing.assert_allclose(b.world.baseline - a.world.baseline,
                               expected[a.world.patient_team], atol=1e-12)
    np.testing.assert_allclose(b.outcomes.untreated - a.outcomes.untreated,
                               expected[a.world.patient_team], atol=1e-12)


@pytest.mark.parametrize("method, names", [("stratified", {"strata": ["borough"]}),
                                           ("minimisation", {"strata": ["borough", "site"]}),
                                           ("constrained", {"balance_on": ["deprivation",
                                                                           "borough"]})])
def test_allocation_uses_team_covariates(method, names):
    s = parse_scenario({"name": "t", "trial": {"team_list": TEAMS},
                        "allocation": {"method": method, **names}})
    arm = draw_replicate(s, 0).arm
    if method == "stratified":
        borough = np.array([t["borough"] for t in TEAMS])
        assert [int(arm[borough == b].sum()) for b in ("x", "y")] in ([1, 2], [2, 1])
    assert arm.sum() == 3


def test_team_names_reach_the_draw_tables(tmp_path):
    path = _write_csv(tmp_path / "teams.csv", [list(t.values()) for t in TEAMS])
    (tmp_path / "s.yaml").write_text("name: t\ntrial: {teams_file: teams.csv}\n")
    assert main(["draw", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "d")]) == 0
    teams = list(csv.DictReader(open(tmp_path / "d" / "teams.csv")))
    patients = list(csv.DictReader(open(tmp_path / "d" / "patients.csv")))
    assert [t["team"] for t in teams] == [t["team"] for t in TEAMS]
    assert teams[0]["borough"] == "x" and float(teams[3]["deprivation"]) == 1.2
    assert {p["team_baseline"] for p in patients} == {t["team"] for t in TEAMS}
    assert path.exists()


def _problems(tmp_path, rows, yaml_extra="", header=HEADER, capsys=None):
    _write_csv(tmp_path / "teams.csv", rows, header)
    (tmp_path / "s.yaml").write_text(f"name: t\ntrial: {{teams_file: teams.csv}}\n{yaml_extra}")
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_a_bad_table_reports_every_problem_with_row_column_and_value(tmp_path, capsys):
    rows = [list(t.values()) for t in TEAMS]
    rows[1][0] = "North CMHT"                 # duplicate name, row 3
    rows[2][0] = ""                           # missing name, row 4
    rows[3][3] = "ten"                        # non-numeric size, row 5
    rows[4][4] = "9.5"                        # fractional staff, row 6
    rows[5][5] = ""                           # empty cell in a used column, row 7
    err = _problems(tmp_path, rows, "allocation: {method: constrained, balance_on: "
                    "[deprivation, caseload]}\n", capsys=capsys)
    for text in ("teams.csv row 3, column team: 'North CMHT' -- repeats the name at "
                 "teams.csv row 2, column team",
                 "teams.csv row 4, column team: '' -- every team needs a name",
                 "teams.csv row 5, column patients: 'ten' -- patients must be a whole number",
                 "teams.csv row 6, column staff: '9.5' -- staff must be a whole number",
                 "teams.csv row 7, column deprivation: '' -- empty cell",
                 "allocation.balance_on[1]: 'caseload' -- unknown column"):
        assert text in err, err
    assert "6 problem(s)" in err


@pytest.mark.parametrize("content, expected", [
    (b"\x50\x4b\x03\x04\x00\x00binary", "not a CSV text file"),
    (b"team;site;patients\nA;x;3\n", "separated by ';'"),
    (b"team,site\nA,x,extra\nB,y\n", "row 2: 3 cell(s), but the header has 2 columns"),
    (b"", "the team file is empty"),
    (b"team,team\nA,B\n", "column 'team' appears twice"),
])
def test_a_file_that_is_not_a_csv_table_is_rejected(tmp_path, capsys, content, expected):
    (tmp_path / "teams.csv").write_bytes(content)
    (tmp_path / "s.yaml").write_text("name: t\ntrial: {teams_file: teams.csv}\n")
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "teams.csv" in err and "Traceback" not in err


def test_a_missing_team_file_and_both_kinds_of_list_are_errors(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text("name: t\ntrial: {teams_file: nope.csv, team_list: "
                                     "[{team: a}]}\n")
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    assert "give the teams in a file or inline, not both" in capsys.readouterr().err
    (tmp_path / "s.yaml").write_text("name: t\ntrial: {teams_file: nope.csv}\n")
    assert main(["validate", str(tmp_path / "s.yaml")]) == 2
    assert "nope.csv: cannot read the team file" in capsys.readouterr().err


@pytest.mark.parametrize("trial, where", [
    ({"teams": 27}, "trial.teams: 27 -- the team list has 6 teams"),
    ({"sites": {"trust_a": 0.7, "trust_b": 0.3}}, "trial.sites"),
    ({"team_types": {"cmht": 1.0}}, "trial.team_types"),
    ({"patients_per_team": {"mean": 20}}, "trial.patients_per_team.mean: 20"),
])
def test_trial_keys_that_contradict_the_list_are_errors(trial, where):
    with pytest.raises(ScenarioError) as err:
        _scenario(**trial)
    assert any(where in p for p in err.value.problems), err.value.problems


def test_consistent_trial_keys_are_accepted_and_a_list_cannot_be_swept():
    assert _scenario(teams=6, sites={"trust_a": 0.5, "trust_b": 0.5}).trial.teams == 6
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"name": "t", "trial": {"team_list": TEAMS},
                        "sweep": {"trial.team_list": [TEAMS]}})
    assert "cannot be swept" in err.value.problems[0]


def test_names_that_need_a_team_list_say_so():
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"name": "t", "allocation": {"strata": ["borough"]},
                        "outcome": {"covariate_effects": {"deprivation": 1.0}}})
    text = "\n".join(err.value.problems)
    assert "allocation.strata[0]: 'borough' -- unknown" in text and "no team list" in text
    assert "outcome.covariate_effects.deprivation" in text
    with pytest.raises(ScenarioError) as err:
        _scenario_with(allocation={"strata": ["deprivation"]},
                       outcome={"covariate_effects": {"borough": 1.0}})
    text = "\n".join(err.value.problems)
    assert "strata need a categorical" in text and "covariate effects are points per unit" in text


def _scenario_with(**sections):
    return parse_scenario({"name": "t", "trial": {"team_list": TEAMS}, **sections})


def test_a_resolved_scenario_round_trips_through_its_dump():
    s = load_scenario_from_rows(TEAMS)
    again = parse_scenario(s.model_dump(mode="json"))
    assert again == s and again.trial.team_table.names.tolist() == s.trial.team_table.names.tolist()


def load_scenario_from_rows(rows):
    return parse_scenario({"name": "t", "trial": {"team_list": rows}})


# Fuzzed tables: valid tables load; each corruption is reported at its own row and column.
FUZZ_HEADER = ["team", "site", "team_type", "patients", "staff", "leadership", "size", "area"]
team_names = st.text(string.ascii_letters + " -'&", min_size=1, max_size=8).map(str.strip) \
    .filter(bool)
valid_rows = st.lists(st.tuples(
    st.sampled_from(["a", "b"]), st.sampled_from(["cmht", "recovery"]), st.integers(1, 40),
    st.integers(1, 20), st.floats(-3, 3), st.floats(0, 100), st.sampled_from(["n", "s"])),
    min_size=4, max_size=9)
BAD_CELLS = {"team": [""], "patients": ["", "ten", "0", "2.5", "-3", "nan", "1e400"],
             "staff": ["", "x", "0.5"], "leadership": ["", "high", "inf"], "size": ["", "big"],
             "area": [""]}
corruptions = st.lists(st.tuples(st.integers(0, 8), st.sampled_from(sorted(BAD_CELLS)),
                                 st.integers(0, 6)), max_size=3)
FUZZ = settings(deadline=None, max_examples=150,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _fuzzed_table(names, rows, bad):
    table = [[name, *map(str, row)] for name, row in zip(names, rows)]
    applied = {}
    for row, column, pick in bad:
        if row < len(table):
            choices = BAD_CELLS[column]
            table[row][FUZZ_HEADER.index(column)] = choices[pick % len(choices)]
            applied[(row, column)] = choices[pick % len(choices)]
    return table, applied


@FUZZ
@given(names=st.lists(team_names, min_size=9, max_size=9, unique=True), rows=valid_rows,
       bad=corruptions, duplicate=st.booleans())
def test_fuzzed_tables_load_or_name_each_bad_cell_never_crash(tmp_path, names, rows, bad,
                                                              duplicate):
    names = [names[0], *names[:len(rows) - 1]] if duplicate else names[:len(rows)]
    table, applied = _fuzzed_table(names, rows, bad)
    duplicate = duplicate and not {(0, "team"), (1, "team")} & set(applied)
    _write_csv(tmp_path / "teams.csv", table, FUZZ_HEADER)
    (tmp_path / "s.yaml").write_text(
        "name: t\ntrial: {teams_file: teams.csv}\nallocation: {method: constrained, "
        "balance_on: [size, area], strata: [area]}\noutcome: {covariate_effects: {size: 0.1}}\n")
    try:
        s = load_scenario(tmp_path / "s.yaml")
    except ScenarioError as err:
        text = "\n".join(err.problems)
        assert applied or duplicate, text
        for (row, column) in applied:
            assert f"teams.csv row {row + 2}, column {column}" in text, text
        assert not duplicate or "teams.csv row 3, column team" in text, text
        return
    assert not applied and not duplicate
    table = s.trial.team_table
    assert table.names.tolist() == names and table.patients.tolist() == [r[2] for r in rows]
    world = draw_replicate(s, 0).world
    assert world.patients.tolist() == [r[2] for r in rows]
    assert world.team_names.tolist() == names and draw_replicate(s, 0).arm.sum() >= 2
