"""Scenario loading: defaults, immutability, sweeps, and clear errors for bad files."""
import subprocess
import sys

import pytest
from pydantic import ValidationError

from simulator.cli import main
from simulator.scenario.files import ScenarioError, design_points, load_scenario, parse_scenario


def test_only_name_is_required_and_defaults_match_design():
    s = parse_scenario({"name": "x"})
    assert s.trial.teams == 27 and s.trial.intervention_share == 0.5
    assert s.trial.patients_per_team.mean == 15 and s.trial.patients_per_team.cv == 0.4
    assert s.outcome.sd == 10.1 and s.outcome.icc == 0.05
    assert s.intervention.session_months == (1, 2, 3, 4)
    assert s.staff_turnover.annual_rate == 0.2 and s.staff_turnover.vacancy_months == 3
    assert s.reconfiguration.patient_transfer_probability == 0.7
    assert s.dropout.attrition == 0.26 and s.dropout.mechanism == "MCAR"
    assert s.allocation.method == "simple" and s.allocation.constrained_fraction == 0.1
    assert s.analysis.estimators == ("mixed_ancova", "cluster_summary")


def test_scenario_is_immutable():
    s = parse_scenario({"name": "x"})
    with pytest.raises(ValidationError):
        s.trial.teams = 3


def test_design_contract_example_loads():
    """The full example block of DESIGN.md's scenario contract is accepted as written."""
    text = (SCENARIO_CONTRACT)
    import yaml
    s = parse_scenario(yaml.safe_load(text))
    assert len(design_points(s)) == 15


def test_sweep_is_a_cross_product_with_swept_values_recorded():
    s = parse_scenario({"name": "x", "sweep": {"intervention.attendance": [0.2, 0.6],
                                                "trial.teams": [20, 30, 40]}})
    points = design_points(s)
    assert [p.index for p in points] == list(range(6))
    assert [(p.swept["intervention.attendance"], p.swept["trial.teams"]) for p in points] == \
        [(0.2, 20), (0.2, 30), (0.2, 40), (0.6, 20), (0.6, 30), (0.6, 40)]
    assert points[4].scenario.trial.teams == 30 and points[4].scenario.intervention.attendance == 0.6
    assert points[4].scenario.sweep == {}


def test_all_problems_are_collected_together():
    with pytest.raises(ScenarioError) as info:
        parse_scenario({"name": "x", "outcome": {"icc": 1.3, "sd": -1}, "trial": {"bogus": 1}})
    text = "\n".join(info.value.problems)
    assert "outcome.icc: 1.3" in text and "outcome.sd: -1" in text and "trial.bogus: unknown key" in text


def test_no_scenario_file_has_problems():
    for path in sorted(SCENARIOS.glob("*.yaml")):
        load_scenario(path)


BAD_FILES = {
    "empty": ("", "the file is empty"),
    "not_yaml": ("name: [unclosed\n  x: {", "not valid YAML"),
    "a_list": ("- 1\n- 2\n", "is a list"),
    "no_name": ("seed: 3\n", "name: required"),
    "unknown_top": ("name: x\nbogus: 1\n", "bogus: unknown key"),
    "unknown_nested": ("name: x\ntrial: {tems: 20}\n", "trial.tems: unknown key"),
    "icc_range": ("name: x\noutcome: {icc: 1.3}\n", "outcome.icc: 1.3"),
    "teams_type": ("name: x\ntrial: {teams: many}\n", "trial.teams: 'many'"),
    "teams_small": ("name: x\ntrial: {teams: 3}\n", "trial.teams: 3"),
    "shares_sum": ("name: x\ntrial: {sites: {a: 0.5, b: 0.6}}\n", "trial.sites"),
    "types_sum": ("name: x\ntrial: {team_types: {cmht: 0.5}}\n", "trial.team_types"),
    "effect_type_missing": ("name: x\noutcome: {team_type_effects: {forensic: 1}}\n",
                            "outcome.team_type_effects.forensic"),
    "negative_rate": ("name: x\nstaff_turnover: {annual_rate: -0.1}\n", "staff_turnover.annual_rate"),
    "attrition_one": ("name: x\ndropout: {attrition: 1.0}\n", "dropout.attrition"),
    "mechanism": ("name: x\ndropout: {mechanism: MAYBE}\n", "dropout.mechanism"),
    "method": ("name: x\nallocation: {method: coin}\n", "allocation.method"),
    "session_late": ("name: x\nintervention: {session_months: [1, 14]}\n",
                     "intervention.session_months[1]"),
    "estimator": ("name: x\nanalysis: {estimators: [magic]}\n", "analysis.estimators[0]"),
    "share_arm": ("name: x\ntrial: {teams: 4, intervention_share: 0.2}\n",
                  "trial.intervention_share"),
    "disband_too_many": ("name: x\ntrial: {teams: 6}\nreconfiguration: {scheduled: [{month: 3, teams: 4}]}\n",
                         "reconfiguration.scheduled"),
    "sweep_unknown": ("name: x\nsweep: {trial.tems: [1, 2]}\n", "sweep.trial.tems"),
    "sweep_bad_value": ("name: x\nsweep: {outcome.icc: [0.1, 2]}\n", "outcome.icc: 2"),
    "bad_name": ("name: ../etc\n", "name"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_exits_2_naming_the_field(case, write_yaml, capsys):
    text, expected = BAD_FILES[case]
    path = write_yaml(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert str(path) in err and "Traceback" not in err


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_console_script_prints_no_traceback(write_yaml):
    path = write_yaml("name: x\noutcome: {icc: 1.3}\n")
    proc = subprocess.run([sys.executable, "-m", "simulator", "validate", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "outcome.icc: 1.3" in proc.stderr and "Traceback" not in proc.stderr


def test_validate_prints_derived_quantities(capsys):
    assert main(["validate", str(SCENARIOS / "refocus.yaml")]) == 0
    out = capsys.readouterr().out
    for label in ("expected patients randomised", "expected patients analysed", "design effect",
                  "baseline staff in post", "expected fidelity at follow-up"):
        assert label in out


def test_validate_echoes_the_planning_model(capsys):
    """validate's design effect is power.design_effect and its fidelity at follow-up is the
    mean-field post-state chain behind `crtsim power` (F̄(T) = P(trained) / P(filled))."""
    from simulator.model.timeline.staffing import session_schedule
    from simulator.planning.expected_exposure import (month_grid, node_parameters, post_states,
                                                      trained_share)
    from simulator.planning.power import design_effect

    assert main(["validate", str(SCENARIOS.parent / "tests" / "reference" / "refocus_one_component.yaml")]) == 0
    echoed = dict(line.strip().rsplit(None, 1) for line in capsys.readouterr().out.splitlines()
                  if line.startswith("  "))
    s = load_scenario(SCENARIOS.parent / "tests" / "reference" / "refocus_one_component.yaml")
    (p,), (rate,), _ = node_parameters(s)          # no leadership effects: one node
    sessions = session_schedule(s)
    _, after, _ = post_states(month_grid(s, sessions), sessions, rate,
                              s.staff_turnover.vacancy_months, p, s.intervention.sessions_to_train)
    mean_field = trained_share(after)[-1]
    assert float(echoed["expected fidelity at follow-up (intervention teams)"]) \
        == round(mean_field, 4) == 0.7135
    assert float(echoed["design effect 1 + ((CV²+1)m̄ − 1)ρ"]) \
        == round(design_effect(15, 0.05, 0.4, "eldridge"), 4)


from conftest import SCENARIOS  # noqa: E402

SCENARIO_CONTRACT = """
name: refocus
description: REFOCUS as run — 27 teams, two Trusts, unstratified
seed: 2015
replicates: 1000
trial:
  teams: 27
  intervention_share: 0.5
  sites: {trust_a: 0.55, trust_b: 0.45}
  team_types: {cmht: 0.6, recovery: 0.15, assertive_outreach: 0.1,
               early_intervention: 0.1, supported_accommodation: 0.05}
  patients_per_team: {mean: 15, cv: 0.4}
  staff_per_team: {mean: 12, sd: 3, min: 4}
  months: 12
outcome:
  name: QPR
  mean: 40
  sd: 10.1
  icc: 0.05
  individual_autocorrelation: 0.5
  cluster_autocorrelation: 0.8
  team_type_effects: {assertive_outreach: -3.0, supported_accommodation: -2.0}
  leadership_effect: 0.0
intervention:
  effect_at_full_implementation: 3.0
  dose_response: linear
  dose_threshold: 0.5
  attendance: 0.6
  leadership_on_attendance: 0.0
  session_months: [1, 2, 3, 4]
  sessions_to_train: 2
  refresher_every_months: null
  measurement_noise_sd: 0.1
staff_turnover:
  annual_rate: 0.2
  vacancy_months: 3
  leadership_on_turnover: 0.0
reconfiguration:
  disband_rate_per_team_year: 0.0
  scheduled: []
  patient_transfer_probability: 0.7
dropout:
  attrition: 0.26
  mechanism: MCAR
  strength: 0.0
  differential_by_arm: 0.0
allocation:
  method: simple
  strata: [site]
  balance_on: [site, team_type, patients]
  constrained_fraction: 0.1
analysis:
  alpha: 0.05
  estimators: [mixed_ancova, cluster_summary]
sweep:
  intervention.attendance: [0.2, 0.4, 0.6, 0.8, 1.0]
  trial.teams: [20, 27, 40]
"""


def test_validate_reports_the_constrained_space(write_yaml, capsys):
    path = write_yaml("name: c\ntrial: {teams: 10}\nallocation: {method: constrained, "
                      "constrained_fraction: 0.2}\n")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    import re
    kept = int(re.search(r"kept (\d+) of 252 candidate allocations \(all\)", out).group(1))
    assert 50 <= kept <= 60   # the best 20 % of C(10, 5) = 252, ties at the cutoff kept
    assert "pairs of teams in the same arm in" in out


def test_default_team_type_effects_apply_only_to_listed_types(write_yaml, capsys):
    path = write_yaml("name: x\ntrial:\n  team_types: {cmht: 0.7, early_intervention: 0.3}\n")
    assert main(["validate", str(path)]) == 0
    assert load_scenario(path).outcome.team_type_effects == {}
    mixed = parse_scenario({"name": "x", "trial": {"team_types": {"cmht": 0.8,
                                                                   "assertive_outreach": 0.2}}})
    assert mixed.outcome.team_type_effects == {"assertive_outreach": -3.0}
    assert parse_scenario({"name": "x"}).outcome.team_type_effects == {
        "assertive_outreach": -3.0, "supported_accommodation": -2.0}


def test_an_effect_written_for_a_missing_type_is_still_an_error():
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"name": "x", "trial": {"team_types": {"cmht": 1.0}},
                        "outcome": {"team_type_effects": {"recovery": 1.0}}})
    assert any("outcome.team_type_effects.recovery" in p for p in err.value.problems)


def test_each_problem_is_reported_once_without_a_sweep(write_yaml, capsys):
    path = write_yaml("name: x\ntrial: {teams: 2, months: -1}\noutcome: {icc: 2}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("  ")]
    assert len(lines) == len(set(lines)) == 3
    assert "sweep" not in err
