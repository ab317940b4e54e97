"""Performance measures (Morris, White & Crowther 2019, Table 6) on hand-computable inputs."""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.montecarlo.performance import COLUMNS, Performance, performance, performance_row

SUMMARY_CONTRACT = ("true_value", "n_sim", "n_failed", "bias", "bias_mcse", "empse",
                    "empse_mcse", "modse", "relerr_modse", "rmse", "coverage", "coverage_mcse",
                    "rejection", "rejection_mcse")


def _run(estimate, se=None, *, truth, half_width=None, p_value=None, converged=None, alpha=0.05):
    estimate = np.asarray(estimate, dtype=float)
    se = np.ones_like(estimate) if se is None else np.asarray(se, dtype=float)
    half = 2.0 * se if half_width is None else np.asarray(half_width, dtype=float)
    p_value = np.full_like(estimate, 0.5) if p_value is None else np.asarray(p_value, dtype=float)
    converged = np.ones(estimate.shape, bool) if converged is None else np.asarray(converged)
    return performance(estimate, se, estimate - half, estimate + half, p_value, converged,
                       true_value=truth, alpha=alpha)


def test_field_order_matches_summary_contract():
    assert COLUMNS[: len(SUMMARY_CONTRACT)] == SUMMARY_CONTRACT
    assert set(COLUMNS[len(SUMMARY_CONTRACT):]) == {"relerr_modse_mcse", "modse_mcse", "rmse_mcse",
                                                     "rejection_all", "rejection_all_mcse"}


def test_hand_computed_bias_empse_rmse():
    # errors -1, 0, 1, 2: mean 0.5, var 5/3, squared errors 1, 0, 1, 4 (mean 1.5)
    r = _run([1, 2, 3, 4], truth=2)
    assert (r.n_sim, r.n_failed, r.true_value) == (4, 0, 2.0)
    assert r.bias == pytest.approx(0.5)
    assert r.bias_mcse == pytest.approx(math.sqrt(5 / 12))
    assert r.empse == pytest.approx(math.sqrt(5 / 3))
    assert r.empse_mcse == pytest.approx(math.sqrt(5 / 3) / math.sqrt(6))
    assert r.rmse == pytest.approx(math.sqrt(1.5))
    # MSE MCSE = sqrt(((-.5)^2 + 1.5^2 + .5^2 + 2.5^2) / (4 * 3)) = sqrt(0.75); delta method
    assert r.rmse_mcse == pytest.approx(math.sqrt(0.75) / (2 * math.sqrt(1.5)))


def test_hand_computed_model_se():
    # se^2 = 1, 1, 4, 4: mean 2.5, sample variance 3
    r = _run([1, 2, 3, 4], se=[1, 1, 2, 2], truth=2)
    ratio = math.sqrt(2.5) / math.sqrt(5 / 3)
    assert r.modse == pytest.approx(math.sqrt(2.5))
    assert r.modse_mcse == pytest.approx(math.sqrt(3 / (4 * 4 * 2.5)))
    assert r.relerr_modse == pytest.approx(100 * (ratio - 1))
    assert r.relerr_modse_mcse == pytest.approx(
        100 * ratio * math.sqrt(3 / (4 * 4 * 2.5**2) + 1 / (2 * 3)))


def test_hand_computed_coverage_and_rejection():
    # intervals [0, 2], [1, 3], [2, 4], [3, 5] around truth 2: the last misses; bounds inclusive
    r = _run([1, 2, 3, 4], half_width=[1, 1, 1, 1], p_value=[0.01, 0.049, 0.05, 0.5], truth=2)
    assert r.coverage == pytest.approx(0.75)
    assert r.coverage_mcse == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert r.rejection == pytest.approx(0.5)  # p < alpha, strictly
    assert r.rejection_mcse == pytest.approx(math.sqrt(0.25 / 4))


def test_non_converged_and_non_finite_rows_are_excluded_and_counted():
    full = _run([1, 2, 3, 4, 100, 7, 8], se=[1, 1, 1, 1, 1, np.nan, np.inf], truth=2,
                converged=[True, True, True, True, False, True, True])
    clean = _run([1, 2, 3, 4], truth=2)
    assert (full.n_sim, full.n_failed) == (4, 3)
    for name in COLUMNS:
        if name not in ("n_failed", "rejection_all", "rejection_all_mcse"):
            assert getattr(full, name) == pytest.approx(getattr(clean, name)), name
    nan_estimate = _run([1, 2, np.nan], truth=2)
    assert (nan_estimate.n_sim, nan_estimate.n_failed) == (2, 1)


def test_power_over_all_trials_counts_failed_fits_as_no_rejection():
    # 6 trials: 4 fits, 3 of them reject; a failed fit with p 0.001 and a nan-SE fit never count.
    r = _run([1, 2, 3, 4, 5, 6], se=[1, 1, 1, 1, 1, np.nan], truth=2,
             p_value=[0.01, 0.02, 0.03, 0.5, 0.001, 0.001],
             converged=[True, True, True, True, False, True])
    assert (r.n_sim, r.n_failed) == (4, 2)
    assert r.rejection == pytest.approx(3 / 4)
    assert r.rejection_all == pytest.approx(3 / 6)
    assert r.rejection_all_mcse == pytest.approx(math.sqrt(0.5 * 0.5 / 6))


def test_all_failed_gives_nan_without_error_or_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = _run([1.0, 2.0, 3.0], truth=0.0, converged=[False, False, False])
    assert (r.n_sim, r.n_failed) == (0, 3)
    assert (r.rejection_all, r.rejection_all_mcse) == (0.0, 0.0)   # no trial rejected
    for name in COLUMNS[3:]:
        if not name.startswith("rejection_all"):
            assert math.isnan(getattr(r, name)), name


def test_single_replicate_gives_nan_where_undefined():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = _run([3.0], truth=2.0)
    assert r.n_sim == 1 and r.bias == 1.0 and r.rmse == 1.0 and r.modse == 1.0
    for name in ("bias_mcse", "empse", "empse_mcse", "relerr_modse", "relerr_modse_mcse",
                 "modse_mcse", "rmse_mcse"):
        assert math.isnan(getattr(r, name)), name


def test_empty_input():
    r = _run([], truth=1.0)
    assert (r.n_sim, r.n_failed) == (0, 0) and math.isnan(r.bias)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        performance(np.zeros(3), np.ones(2), np.zeros(3), np.zeros(3), np.zeros(3),
                    np.ones(3, bool), true_value=0.0, alpha=0.05)


def test_performance_row_puts_labels_first():
    r = _run([1, 2, 3, 4], truth=2)
    row = performance_row(r, {"intervention.attendance": 0.6, "estimator": "cluster_summary"})
    assert list(row)[:3] == ["intervention.attendance", "estimator", "true_value"]
    assert list(row)[2:] == list(COLUMNS)
    assert dataclasses.is_dataclass(r) and isinstance(r, Performance)


# --- properties -------------------------------------------------------------------------------
# Values are multiples of 1/4 with small magnitude, so shifts are exact in floating point and
# no interval bound crosses the truth by rounding.

quarters = st.integers(-400, 400).map(lambda i: i / 4)


@st.composite
def replicates(draw):
    n = draw(st.integers(2, 30))
    estimate = np.array(draw(st.lists(quarters, min_size=n, max_size=n)))
    se = np.array(draw(st.lists(st.integers(1, 40).map(lambda i: i / 4), min_size=n, max_size=n)))
    p_value = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    converged = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return estimate, se, p_value, converged, draw(quarters)


def _perf(estimate, se, p_value, converged, truth, shift=0.0, truth_shift=0.0):
    est = estimate + shift
    return performance(est, se, est - 2 * se, est + 2 * se, p_value, converged,
                       true_value=truth + truth_shift, alpha=0.05)


def _same(a: Performance, b: Performance, skip=()) -> None:
    for name in COLUMNS:
        if name not in skip:
            x, y = getattr(a, name), getattr(b, name)
            assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-9, abs=1e-9), name


@settings(max_examples=150, deadline=None)
@given(replicates(), quarters)
def test_shifting_estimates_and_truth_together_changes_nothing(data, c):
    before, after = _perf(*data), _perf(*data, shift=c, truth_shift=c)
    _same(before, after, skip=("true_value",))
    assert after.true_value == before.true_value + c


@settings(max_examples=150, deadline=None)
@given(replicates(), quarters)
def test_shifting_estimates_shifts_bias_exactly(data, c):
    before, after = _perf(*data), _perf(*data, shift=c)
    _same(before, after, skip=("bias", "rmse", "rmse_mcse", "coverage", "coverage_mcse"))
    if before.n_sim > 0:
        assert after.bias == pytest.approx(before.bias + c, abs=1e-9)
    if before.n_sim > 1:  # MSE = (n - 1) / n * empse^2 + bias^2
        assert after.rmse**2 == pytest.approx(before.empse**2 * (before.n_sim - 1) / before.n_sim
                                              + after.bias**2, rel=1e-9, abs=1e-9)


def test_diagnostic_means_say_how_many_replicates_they_use():
    from simulator.montecarlo.summary import diagnostic_means, MEANS

    n = 5
    data = {col: np.arange(n, dtype=float) for col in MEANS.values()}
    data["mean_fidelity_int"] = np.array([0.5, np.nan, 0.7, np.nan, 0.9])
    sel = np.ones(n, bool)
    out = diagnostic_means(data, sel)
    assert out["mean_fidelity_int"] == pytest.approx(0.7)
    assert out["means_based_on"] == "mean_fidelity_int 3/5"
    assert out["mean_patients_analysed"] == 2.0
    full = diagnostic_means({col: np.ones(n) for col in MEANS.values()}, sel)
    assert full["means_based_on"] == "all"
