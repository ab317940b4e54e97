"""statement.md: rendered for different scenarios, every number parsed back and checked against
the scenario and the results it was generated from (never hard-coded)."""
from __future__ import annotations

import re

import pytest

from simulator.cli import main
from simulator.outputs.report import read_run_info, read_summary
from simulator.outputs.statement import markdown_html, statement_markdown
from simulator.scenario.counts import intervention_count
from simulator.scenario.files import design_points, load_scenario

from conftest import SCENARIOS

# Every assumption the statement must state, with its source field.
FIELDS = ("trial.teams", "trial.intervention_share", "allocation.method",
          "trial.patients_per_team.mean", "trial.patients_per_team.cv", "trial.months",
          "outcome.icc", "outcome.sd", "staff_turnover.annual_rate",
          "staff_turnover.vacancy_months", "intervention.attendance",
          "intervention.session_months", "intervention.sessions_to_train",
          "reconfiguration.scheduled", "reconfiguration.disband_rate_per_team_year",
          "dropout.attrition", "dropout.mechanism", "intervention.effect_at_full_implementation",
          "intervention.dose_response", "analysis.df_method", "analysis.alpha", "replicates", "seed")

OTHER = """name: other
seed: 77
replicates: 400
trial: {teams: 40, patients_per_team: {mean: 9, cv: 0.25}, months: 18}
outcome: {sd: 12.5, icc: 0.02}
intervention: {effect_at_full_implementation: 4.5, dose_response: threshold, dose_threshold: 0.4,
               attendance: 0.85, session_months: [0, 2], sessions_to_train: 1,
               refresher_every_months: 3}
staff_turnover: {annual_rate: 0.35, vacancy_months: 1.5}
reconfiguration: {disband_rate_per_team_year: 0.1, patient_transfer_probability: 0.5}
dropout: {attrition: 0.15, mechanism: MAR, strength: 0.3, differential_by_arm: 0.2}
allocation: {method: stratified, strata: [site, team_type]}
analysis: {estimators: [mixed_kr, gee_robust], df_method: between_within,
           variants: {mixed_kr: {estimator: mixed_ancova, df_method: kenward_roger}}}
sweep: {trial.teams: [30, 40, 50]}
"""


def _rows(scenario, power_of, failed_of=lambda p: 0):
    """Synthetic summary rows: each design point × estimator × estimand."""
    rows = []
    for p in design_points(scenario):
        for k, name in enumerate(scenario.analysis.estimators):
            for estimand, truth in (("itt", 1.0 + 0.01 * p.index), ("efficacy", 4.5)):
                power = power_of(p) - 0.1 * k
                rows.append({**p.swept, "estimator": name, "estimand": estimand,
                             "true_value": truth + 0.0001234, "n_failed": failed_of(p),
                             "rejection_all": power, "rejection_all_mcse": 0.0123 + 0.001 * k,
                             "is_target": int(estimand == "itt")})
    return rows


INFO = {"versions": {"crtsim": "9.8.7"}, "code_hash": "abcdef0123456789",
        "command": ["crtsim", "run", "x.yaml", "--replicates", "400", "--seed", "77"]}


def _tags(text: str) -> dict[str, str]:
    return dict(re.findall(r"\(`([a-z_.]+)` = ([^)]*?)\)", text))


def _number(text: str) -> float:
    return float(text)


def _power(text: str) -> tuple[float, float]:
    m = re.search(r"rejected the null hypothesis in ([\d.]+)% \(Monte Carlo SE ([\d.]+)%\)", text)
    return float(m.group(1)), float(m.group(2))


def test_the_numbers_of_another_scenario_are_its_own(write_yaml):
    scenario = load_scenario(write_yaml(OTHER))
    powers = {30: 0.62, 40: 0.78, 50: 0.9}
    summary = _rows(scenario, lambda p: powers[p.swept["trial.teams"]],
                    lambda p: 3 if p.swept["trial.teams"] == 40 else 0)
    text = statement_markdown(scenario, summary, INFO)
    tags = _tags(text)
    assert set(FIELDS) - {"analysis.df_method"} <= set(tags)
    assert tags["analysis.variants.mixed_kr.df_method"] == "kenward_roger"
    # the design point closest to 80 %: 40 teams (0.78), stated in full
    assert _number(tags["trial.teams"]) == 40
    assert "randomises 40 teams" in text and "20 to the intervention and 20 to control" in text
    for field, value in {"outcome.icc": 0.02, "outcome.sd": 12.5, "staff_turnover.annual_rate": 0.35,
                         "staff_turnover.vacancy_months": 1.5, "intervention.attendance": 0.85,
                         "dropout.attrition": 0.15, "trial.months": 18,
                         "intervention.effect_at_full_implementation": 4.5,
                         "reconfiguration.disband_rate_per_team_year": 0.1,
                         "trial.patients_per_team.cv": 0.25, "seed": 77, "replicates": 400}.items():
        assert _number(tags[field]) == value, field
    assert tags["intervention.dose_response"] == "threshold"
    assert tags["dropout.mechanism"] == "MAR" and tags["allocation.method"] == "stratified"
    assert "Kenward–Roger" in text and "mixed_kr, a variant of mixed_ancova" in text
    assert "about 360 patients in all" in text            # 40 x 9
    assert "29.5% of those in post at baseline leave within a year" in text  # 1 - exp(-0.35)
    assert _power(text) == (78.0, 1.2)
    assert "3 of 400 analyses failed" in text
    assert "gee_robust 68.0% (Monte Carlo SE 1.3%)" in text
    assert "delivers is 1.010 points" in text and "22.4% of the 4.5 points" in text
    for teams, power in powers.items():
        assert f"`trial.teams` = {teams}: power {100 * power:.1f}%" in text
    assert "crtsim 9.8.7 (code abcdef012345)" in text
    assert text.rstrip().endswith("```\ncrtsim run x.yaml --replicates 400 --seed 77\n```")


def test_refocus_statement_states_its_design_and_assumptions():
    scenario = load_scenario(SCENARIOS / "refocus.yaml")
    text = statement_markdown(scenario, _rows(scenario, lambda p: 0.41), INFO)
    tags = _tags(text)
    one_component = {"intervention.attendance", "intervention.session_months",
                     "intervention.sessions_to_train"}   # the six strategies stand for them
    assert (set(FIELDS) - one_component) | {"intervention.components"} <= set(tags)
    assert not one_component & set(tags)
    assert tags["intervention.components"].startswith("information, personal_recovery")
    assert "randomises 27 teams" in text and "14 to the intervention and 13 to control" in text
    assert _number(tags["outcome.icc"]) == scenario.outcome.icc == 0.05
    assert _number(tags["dropout.attrition"]) == 0.24
    assert tags["reconfiguration.scheduled"] == "[{month: 6, teams: 2}]"
    assert "Satterthwaite" in text and "failed" not in text
    assert _power(text) == (41.0, 1.2)
    assert "design point" not in text and "closest to" not in text     # no sweep paragraph
    assert "<code>outcome.icc</code>" in markdown_html(text)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("statement")
    path = folder / "s.yaml"
    path.write_text("name: st\nreplicates: 12\nseed: 5\ntrial: {teams: 8, patients_per_team: "
                    "{mean: 6, cv: 0.3}}\noutcome: {icc: 0.1}\n")
    out = folder / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--executor", "serial",
                 "--seed", "11"]) == 0
    return path, out


def test_run_writes_a_statement_from_its_own_results(run_dir):
    path, out = run_dir
    text = (out / "statement.md").read_text(encoding="utf-8")
    summary, info = read_summary(out / "summary.csv"), read_run_info(out)
    primary = next(r for r in summary if r["estimator"] == "mixed_ancova" and r["is_target"])
    assert _power(text) == (round(100 * primary["rejection_all"], 1),
                            round(100 * primary["rejection_all_mcse"], 1))
    delivered = float(re.search(r"delivers is ([-\d.]+) points", text).group(1))
    assert delivered == round(primary["true_value"], 3)
    tags = _tags(text)
    assert _number(tags["seed"]) == 11 == info["seed"]       # the --seed override, not the file's
    assert _number(tags["outcome.icc"]) == 0.1 and _number(tags["replicates"]) == 12
    assert f"crtsim {info['versions']['crtsim']}" in text
    assert f"8 teams" in text and f"{intervention_count(8, 0.5)} to the intervention" in text
    assert f"crtsim run {path} --replicates 12 --seed 11" in text
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="statement"' in html and "Sample size statement" in html
