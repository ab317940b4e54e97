"""``crtsim power`` for a binary primary: clusterPower cpa.binary's published NIH-calculator
value through a scenario file, and the proportions it reports."""
from __future__ import annotations

import json
import math

from simulator.analysis.binary_model import intercept_for_proportion, latent_sd_for_icc
from simulator.cli import main
from simulator.planning.binary_power import binary_power


def _rows(tmp_path, capsys, odds_ratio, teams):
    """--json rows of a scenario with every patient fully exposed (threshold dose 0.01,
    attendance 1, no turnover, no dropout) and 150 patients per team."""
    path = tmp_path / "b.yaml"
    path.write_text(f"""name: b
trial: {{teams: 24, patients_per_team: {{mean: 150, cv: 0}}}}
staff_turnover: {{annual_rate: 0}}
dropout: {{attrition: 0}}
intervention: {{attendance: 1.0, dose_response: threshold, dose_threshold: 0.01}}
outcome: {{type: binary, control_proportion: 0.1, icc: 0.05,
           odds_ratio_at_full_implementation: {odds_ratio!r}}}
sweep: {{trial.teams: {teams}}}
""")
    capsys.readouterr()
    assert main(["power", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_nih_calculator_value_through_the_scenario(tmp_path, capsys):
    """clusterPower's test "nclusters 12" (p 0.1 vs 0.2, 150 per team, ICC 0.05, power 0.8,
    t; tests/test_binary_power.py): with the conditional OR whose marginal intervention
    proportion is 0.2, 12 teams per arm give power 0.8 to within the rounding of 12.09, and
    the power crosses 0.8 between 24 and 26 teams."""
    sigma = latent_sd_for_icc(0.05, 0.1)
    odds_ratio = math.exp(intercept_for_proportion(0.2, sigma) - intercept_for_proportion(0.1, sigma))
    rows = _rows(tmp_path, capsys, odds_ratio, [22, 24, 26])
    assert [r["proportion_ctl"] for r in rows] == [0.1] * 3
    assert all(abs(r["proportion_int"] - 0.2) < 1e-10 and r["expected_dose"] == 1.0 for r in rows)
    power = [r["closed_form_power"] for r in rows]
    assert power[0] < power[1] < 0.8 < power[2] and abs(power[1] - 0.8) < 0.005
    assert power[1] == binary_power(0.1, rows[1]["proportion_int"], 12, 150, 0.05, two_tailed=True)
    assert 0 < power[1] - binary_power(0.1, rows[1]["proportion_int"], 12, 150, 0.05) < 1e-6


def test_the_text_table_names_the_proportions(tmp_path, capsys):
    _rows(tmp_path, capsys, 2.0, [24])
    assert main(["power", str(tmp_path / "b.yaml")]) == 0
    text = capsys.readouterr().out
    assert "p int" in text and "cpa.binary" in text
