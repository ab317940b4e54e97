"""Multiplicity (issue 15): adjusted p-values against statsmodels, their ordering as
properties, and the family-wise error of four uncorrelated outcomes under the global null
through the scenario and the engine."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from statsmodels.stats.multitest import multipletests

from simulator.analysis.multiplicity import adjusted_p_values
from simulator.montecarlo.runner import RunSettings, run_scenario
from simulator.scenario.files import parse_scenario

STATSMODELS = {"holm": "holm", "hochberg": "simes-hochberg", "bonferroni": "bonferroni"}


@pytest.mark.parametrize("method", sorted(STATSMODELS))
def test_adjusted_p_values_match_statsmodels(method):
    rng = np.random.default_rng(3)
    p = rng.random((12, 5)) ** 3
    p[:5, 1] = p[:5, 0]                     # ties
    want = np.array([multipletests(row, method=STATSMODELS[method])[1] for row in p])
    np.testing.assert_allclose(adjusted_p_values(p, method), want, rtol=0, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_holm_lies_between_hochberg_and_bonferroni(values):
    p = np.array([values])
    holm, hochberg = adjusted_p_values(p, "holm"), adjusted_p_values(p, "hochberg")
    assert np.all(p <= hochberg + 1e-15) and np.all(hochberg <= holm + 1e-15)
    assert np.all(holm <= adjusted_p_values(p, "bonferroni") + 1e-15)
    assert np.all(adjusted_p_values(p, "none") == p)


def test_failed_tests_count_as_no_rejection():
    out = adjusted_p_values(np.array([[0.01, np.nan]]), "holm")
    assert out.tolist() == [[0.02, 1.0]]


GLOBAL_NULL = {
    "name": "global_null", "replicates": 800, "seed": 15,
    "trial": {"teams": 12, "team_types": {"cmht": 1.0}, "patients_per_team": {"mean": 10},
              "staff_per_team": {"mean": 4, "sd": 0, "min": 4}},
    "staff_turnover": {"annual_rate": 0},
    "intervention": {"effect_at_full_implementation": 0, "session_months": [1],
                     "sessions_to_train": 1},
    "outcome": {"team_type_effects": {}},
    "secondary_outcomes": [{"name": n, "type": "continuous"} for n in ("a", "b", "c")],
    "analysis": {"estimators": ["cluster_means"],
                 "multiplicity": [{"outcomes": ["QPR", "a", "b", "c"], "method": m}
                                  for m in ("holm", "none")]},
}


def test_global_null_family_wise_error(tmp_path):
    """Four uncorrelated outcomes, no effect, 800 replicates: Holm's FWER ≤ 0.05 + 3 MCSE;
    unadjusted FWER within 3 MCSE of 1 − 0.95⁴ on both sides (MCSE at that rate)."""
    scenario = parse_scenario(GLOBAL_NULL)
    result = run_scenario(scenario, RunSettings(tmp_path, executor="serial", quiet=True))
    holm, none = result.families
    assert holm["null_outcomes"] == "QPR;a;b;c" and holm["n_sim"] == 800
    n = holm["n_sim"]
    assert holm["fwer"] <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / n), holm["fwer"]
    expected = 1 - 0.95 ** 4
    assert abs(none["fwer"] - expected) <= 3 * math.sqrt(expected * (1 - expected) / n), none
    assert none["disjunctive_power"] == none["fwer"] and holm["fwer"] <= none["fwer"]
    assert len(result.family_p_values) == 2 * 4 * n
