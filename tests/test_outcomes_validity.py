"""Outcomes through the scenario and the engine (issue 15): binary type I error at 12 teams,
and each secondary estimator unbiased for its own estimand. Bounds are 3 MCSE, both sides."""
from __future__ import annotations

import math

import numpy as np

from simulator.montecarlo.runner import RunSettings, run_scenario
from simulator.scenario.files import parse_scenario

FAST = {"staff_per_team": {"mean": 4, "sd": 0, "min": 4}, "team_types": {"cmht": 1.0}}


def _run(data, tmp_path):
    result = run_scenario(parse_scenario(data), RunSettings(tmp_path, executor="serial", quiet=True))
    return {(r["outcome"], r["estimator"]): r for r in result.summary if r["estimand"] == "itt"}


def test_binary_type_one_error_at_12_teams(tmp_path):
    """6 teams per arm, ICC 0.05, p 0.3, no effect, 400 replicates through the engine: the
    cluster-level t-test and the Kauermann–Carroll GEE within 0.05 ± 3 MCSE; the uncorrected
    sandwich rejects at least as often (tests/test_binary_validity.py: inflated on 6,000)."""
    rows = _run({"name": "null12", "replicates": 400, "seed": 12,
                 "trial": {"teams": 12, "patients_per_team": {"mean": 20, "cv": 0.3}, **FAST},
                 "outcome": {"type": "binary", "control_proportion": 0.3, "icc": 0.05,
                             "odds_ratio_at_full_implementation": 1.0},
                 "analysis": {"estimators": ["cluster_summary", "gee_kc", "gee_none"],
                              "variants": {"gee_kc": {"estimator": "gee_robust",
                                                      "gee_correction": "kauermann_carroll"},
                                           "gee_none": {"estimator": "gee_robust",
                                                        "gee_correction": "none"}}}}, tmp_path)
    mcse = math.sqrt(0.05 * 0.95 / 400)
    for name in ("cluster_summary", "gee_kc"):
        row = rows["patient:QPR", name]
        assert row["n_failed"] == 0 and abs(row["true_value"]) < 1e-12
        assert abs(row["rejection_all"] - 0.05) <= 3 * mcse, (name, row["rejection_all"])
    assert rows["patient:QPR", "gee_none"]["rejection_all"] >= rows["patient:QPR", "gee_kc"]["rejection_all"]


def test_secondary_estimators_are_unbiased_for_their_estimands(tmp_path):
    """A continuous secondary, skewed costs and a binary secondary with effects, 300
    replicates: bias within 3 MCSE of 0 for the mixed ANCOVA and cluster-level analyses of
    the continuous and cost outcomes (in points and £) and the cluster-level risk
    difference; truths from the model (ITT, exposure-weighted)."""
    rows = _run({"name": "secondaries", "replicates": 300, "seed": 3,
                 "trial": {"teams": 30, "patients_per_team": {"mean": 15, "cv": 0}, **FAST},
                 "secondary_outcomes": [
                     {"name": "functioning", "type": "continuous", "mean": 50, "sd": 12,
                      "effect_at_full_implementation": 6.96, "team_type_effects": {},
                      "correlation": {"patient": 0.5, "team": 0.5}},
                     {"name": "cost", "type": "cost", "mean": 4000, "cv": 1.5, "icc": 0.05,
                      "effect_at_full_implementation": -1062, "correlation": {"patient": 0.3}},
                     {"name": "readmission", "type": "binary", "control_proportion": 0.25,
                      "odds_ratio_at_full_implementation": 0.6, "correlation": {"patient": -0.3}}],
                 "analysis": {"binary_estimators": ["cluster_summary"]}}, tmp_path)
    checked = [("patient:functioning", "mixed_ancova"), ("patient:functioning", "cluster_summary"),
               ("patient:cost", "mixed_ancova"), ("patient:cost", "cluster_summary"),
               ("patient:readmission", "cluster_summary")]
    for key in checked:
        row = rows[key]
        assert row["n_failed"] == 0 and row["true_value"] != 0.0
        assert abs(row["bias"]) <= 3 * row["bias_mcse"], (key, row["bias"], row["bias_mcse"])
    assert np.isclose(rows["patient:cost", "mixed_ancova"]["true_value"] / -1062,
                      rows["patient:functioning", "mixed_ancova"]["true_value"] / 6.96)
