"""Tests of simulator.allocation.balance: hand-computed values, degenerate cases, properties."""
from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.allocation import balance_diagnostics
from simulator.allocation.balance import standardised_difference

TEAMS = {
    "site": np.array(["a", "b", "a", "b", "a"]),
    "team_type": np.array(["cmht", "cmht", "cmht", "recovery", "recovery"]),
    "patients": np.array([10.0, 20, 30, 40, 50]),
}
ARM = np.array([1, 1, 0, 0, 0], dtype=np.int8)


def reference_smd(x1: list[float], x0: list[float]) -> float:
    """Austin (2009) SMD from the standard library, for comparison."""
    pooled = math.sqrt((statistics.variance(x1) + statistics.variance(x0)) / 2)
    return (statistics.fmean(x1) - statistics.fmean(x0)) / pooled


def test_hand_computed_example():
    out = balance_diagnostics(TEAMS, ARM)
    # patients: (15 - 40) / sqrt((50 + 100) / 2) = -2.887; cmht: (1 - 1/3) / sqrt(1/6) = 1.633;
    # site=a: (0.5 - 2/3) / sqrt((0.5 + 1/3) / 2) = -0.258
    assert out["imbalance_max_smd"] == pytest.approx(25 / math.sqrt(75))
    assert standardised_difference(TEAMS["patients"], ARM) == pytest.approx(-25 / math.sqrt(75))
    cmht = (TEAMS["team_type"] == "cmht").astype(float)
    assert standardised_difference(cmht, ARM) == pytest.approx((2 / 3) / math.sqrt(1 / 6))
    assert out["team_type_all_in_one_arm"] == 1                  # both recovery teams in control
    assert {k: v for k, v in out.items() if k.startswith("n_")} == {
        "n_int_cmht": 2, "n_ctl_cmht": 1, "n_int_recovery": 0, "n_ctl_recovery": 2}


def test_degenerate_cases():
    constant = {"team_type": np.array(["cmht"] * 4), "patients": np.full(4, 7.0)}
    arm = np.array([1, 0, 1, 0])
    out = balance_diagnostics(constant, arm)
    assert out["imbalance_max_smd"] == 0.0 and out["team_type_all_in_one_arm"] == 0
    separated = {"team_type": np.array(["cmht", "cmht", "recovery", "recovery"])}
    out = balance_diagnostics(separated, arm[[0, 2, 1, 3]])
    # complete separation: the difference 1 over the SD of (1, 1, 0, 0) over all teams, sqrt(1/3)
    assert out["imbalance_max_smd"] == pytest.approx(math.sqrt(3), rel=1e-15)
    assert out["team_type_all_in_one_arm"] == 1
    assert standardised_difference(np.array([1.0, 1, 0, 0]), np.array([1, 1, 0, 0])) == \
        pytest.approx(math.sqrt(3), rel=1e-15)
    assert standardised_difference(np.array([0.0, 0, 1, 1]), np.array([1, 1, 0, 0])) == \
        pytest.approx(-math.sqrt(3), rel=1e-15)
    assert math.isnan(balance_diagnostics(constant, np.ones(4))["imbalance_max_smd"])
    singles = {"team_type": np.array(["cmht", "cmht", "recovery", "early"])}
    assert balance_diagnostics(singles, np.array([1, 0, 1, 0]))["team_type_all_in_one_arm"] == 0


def test_type_column_is_checked_or_skipped():
    numeric_only = {"patients": TEAMS["patients"]}
    with pytest.raises(ValueError, match="team_type"):
        balance_diagnostics(numeric_only, ARM)
    assert set(balance_diagnostics(numeric_only, ARM, categorical_for_types=None)) == {
        "imbalance_max_smd"}
    with pytest.raises(ValueError, match="shape"):
        balance_diagnostics(TEAMS, ARM[:3])


@st.composite
def allocations(draw):
    k = draw(st.integers(4, 40))
    n = draw(st.integers(2, k - 2))
    types = np.array(["cmht", "recovery", "outreach"])[
        draw(st.lists(st.integers(0, 2), min_size=k, max_size=k))]
    sizes = np.array(draw(st.lists(st.integers(1, 60), min_size=k, max_size=k)), float)
    arm = np.zeros(k, dtype=np.int8)
    arm[draw(st.permutations(range(k)))[:n]] = 1
    return {"team_type": types, "patients": sizes}, arm


@settings(deadline=None, max_examples=100)
@given(allocations(), st.randoms(use_true_random=False))
def test_properties(allocation, random):
    covariates, arm = allocation
    out = balance_diagnostics(covariates, arm)
    assert out["imbalance_max_smd"] >= 0
    swapped = balance_diagnostics(covariates, 1 - arm)
    assert swapped["imbalance_max_smd"] == pytest.approx(out["imbalance_max_smd"])
    order = list(range(arm.size))
    random.shuffle(order)
    relabelled = balance_diagnostics({k: v[order] for k, v in covariates.items()}, arm[order])
    assert relabelled == pytest.approx(out)
    for t in np.unique(covariates["team_type"]):
        assert out[f"n_int_{t}"] + out[f"n_ctl_{t}"] == np.sum(covariates["team_type"] == t)
    x = covariates["patients"]
    x1, x0 = x[arm == 1].tolist(), x[arm == 0].tolist()
    if statistics.variance(x1) + statistics.variance(x0) > 0:
        assert standardised_difference(x, arm) == pytest.approx(reference_smd(x1, x0))
