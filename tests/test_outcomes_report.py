"""Every outcome in the outputs (issue 15): families.csv, family_p_values.csv, the report's
per-outcome tables and power bars, and a binary primary's statement."""
from __future__ import annotations

import csv

from simulator.cli import main

SCENARIO = """name: every
replicates: 4
trial: {teams: 8}
outcome: {type: binary, control_proportion: 0.3, icc: 0.05, odds_ratio_at_full_implementation: 1.5}
secondary_outcomes:
  - {name: functioning, type: continuous, mean: 50, sd: 12, effect_at_full_implementation: 6.96}
  - {name: costs, type: cost, mean: 4000, cv: 1.2, effect_at_full_implementation: -1062}
analysis:
  binary_estimators: [cluster_summary]
  multiplicity: [{outcomes: [functioning, costs], method: hochberg}]
  co_primary: [QPR, functioning]
"""


def test_every_outcome_reaches_the_outputs(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    out = tmp_path / "o"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--executor", "serial"]) == 0
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert list(dict.fromkeys(r["outcome"] for r in summary)) == \
        ["patient:QPR", "patient:functioning", "patient:costs"]
    families = list(csv.DictReader(open(out / "families.csv")))
    assert [(f["family"], f["method"], f["outcomes"]) for f in families] == \
        [("family_1", "hochberg", "functioning;costs"), ("co_primary", "none", "QPR;functioning")]
    assert float(families[1]["conjunctive_power"]) <= min(
        float(families[1]["power.QPR"]), float(families[1]["power.functioning"]))
    p_values = list(csv.DictReader(open(out / "family_p_values.csv")))
    assert len(p_values) == 4 * (2 + 2)
    assert all(float(r["adjusted_p_value"]) >= float(r["p_value"]) for r in p_values)
    html = (out / "report.html").read_text()
    assert "<h3>patient:costs</h3>" in html and "Multiplicity and co-primary outcomes" in html
    assert 'alt="outcome_power"' in html and (out / "outcome_power.png").stat().st_size > 1000
    statement = (out / "statement.md").read_text()
    assert "is binary, with a proportion of 0.3" in statement and "odds ratio" in statement
    assert "costs (cost, difference £-1062" in statement
    assert main(["report", str(out)]) == 0 and "<h3>patient:costs</h3>" in (out / "report.html").read_text()
