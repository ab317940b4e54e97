"""Plot functions return figures with the expected panels and lines on small inputs."""
from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest

from simulator.outputs.plots import plot_bias_coverage, plot_power_curve, plot_timeline, save_figure
from simulator.scenario.files import parse_scenario
from simulator.outputs.timeline_summary import timeline_data

ESTIMATORS = ("mixed_ancova", "cluster_summary")


def _row(swept: dict, estimator: str, estimand: str = "itt", power: float = 0.5,
         failed: int = 0) -> dict:
    """A summary row of 100 trials of which ``failed`` failed: the successful fits reject at
    rate ``power``, so power over all trials is power · (100 − failed) / 100."""
    n = 100 - failed
    return {**swept, "estimator": estimator, "estimand": estimand, "true_value": 1.0,
            "n_sim": n, "n_failed": failed, "bias": 0.01, "bias_mcse": 0.02, "coverage": 0.95,
            "coverage_mcse": 0.02, "rejection": power, "rejection_mcse": 0.05,
            "rejection_all": power * n / 100, "rejection_all_mcse": 0.05}


def _summary(grid: dict) -> list[dict]:
    keys = list(grid)
    rows = []
    for combo in itertools.product(*grid.values()):
        for e in ESTIMATORS:
            for estimand in ("itt", "efficacy"):
                rows.append(_row(dict(zip(keys, combo)), e, estimand, power=0.1 + 0.02 * combo[0]))
    return rows


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _visible(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_power_curve_one_panel_per_second_key_with_closed_form():
    grid = {"trial.teams": [10, 20, 30], "intervention.attendance": [0.3, 0.6, 0.9]}
    closed = [{"trial.teams": k, "intervention.attendance": a, "closed_form_power": 0.01 * k}
              for k in range(10, 31, 2) for a in grid["intervention.attendance"]]
    fig = plot_power_curve(_summary(grid), list(grid), title="t", alpha=0.05, closed_form=closed)
    axes = _visible(fig)
    assert len(axes) == 3
    for ax in axes:
        # two estimators + closed form + 80 % and alpha reference lines; one MCSE band each
        assert len(ax.lines) == 5
        assert len(ax.collections) == 2
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
        assert len(dashed) == 1 and len(dashed[0].get_xdata()) == 11
    assert fig.legends


def test_power_curve_existing_call_and_given_axes():
    grid = {"trial.teams": [10, 20]}
    fig, ax = plt.subplots()
    out = plot_power_curve(_summary(grid), ["trial.teams"], title="old call", alpha=0.05, ax=ax)
    assert out is fig
    assert len(ax.lines) == 4     # two estimators, 80 % and alpha; no closed form given


def test_power_curve_bar_chart_without_sweep():
    summary = [_row({}, e) for e in ESTIMATORS] + [_row({}, e, "efficacy") for e in ESTIMATORS]
    fig = plot_power_curve(summary, [], alpha=0.05,
                           closed_form=[{"closed_form_power": 0.42}])
    (ax,) = _visible(fig)
    assert len(ax.patches) == len(ESTIMATORS)
    assert any(ln.get_linestyle() == "--" and ln.get_ydata()[0] == 0.42 for ln in ax.lines)


def test_power_curve_categorical_sweep():
    rows = [_row({"intervention.dose_response": d}, e) for d in ("linear", "threshold")
            for e in ESTIMATORS]
    fig = plot_power_curve(rows, ["intervention.dose_response"])
    (ax,) = _visible(fig)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["linear", "threshold"]


def test_bias_coverage_two_panels_one_series_per_estimator():
    grid = {"trial.teams": [10, 20, 30], "intervention.attendance": [0.3, 0.9]}
    fig = plot_bias_coverage(_summary(grid), list(grid), alpha=0.05, title="bias")
    left, right = _visible(fig)
    assert len(left.containers) == len(ESTIMATORS) == len(right.containers)
    assert len(left.get_xticklabels()) == 6          # one tick per design point
    assert any(ln.get_ydata()[0] == pytest.approx(0.95) for ln in right.lines)
    assert "bias" in left.get_ylabel() and "coverage" in right.get_ylabel()


def test_timeline_data_and_plot(tmp_path):
    s = parse_scenario({"name": "tl", "trial": {"teams": 6, "months": 6},
                        "reconfiguration": {"scheduled": [{"month": 3, "teams": 1}]},
                        "intervention": {"session_months": [1, 2]},
                        "allocation": {"method": "simple"}})
    data = timeline_data(s, 0, replicates=3)
    assert data.months.tolist() == [0, 1, 2, 3, 4, 5, 6]
    for arr in (data.fidelity, data.staff_filled, data.dropout, data.lost_to_followup,
                data.disbanded):
        assert arr.shape == (3, 2, 7)
    assert np.all(data.fidelity[:, 0, :] == 0)                 # control teams are never trained
    assert np.all(data.disbanded.sum(axis=1)[:, -1] == 1)      # one team disbanded by follow-up
    assert np.all(np.diff(data.lost_to_followup, axis=2) >= 0)
    fig = plot_timeline(data, title="timeline")
    axes = _visible(fig)
    assert len(axes) == 4
    assert all(len(ax.lines) >= 2 for ax in axes)               # one line per arm at least
    save_figure(fig, tmp_path / "timeline.png")
    assert (tmp_path / "timeline.png").stat().st_size > 1000


def test_timeline_marks_merges_and_drops_merged_away_teams_from_the_means():
    s = parse_scenario({"name": "tm", "trial": {"teams": 8, "months": 10},
                        "staff_turnover": {"annual_rate": 0.0},
                        "intervention": {"attendance": 1.0, "session_months": [1, 2]},
                        "reconfiguration": {"merges": {"scheduled": [{"month": 5, "pairs": 2}]}}})
    data = timeline_data(s, 0, replicates=2)
    assert data.merged.shape == (2, 2, 11)
    assert np.all(data.merged[:, :, 4] == 0) and np.all(data.merged[:, :, 5:] == 1)  # one per arm
    assert np.all(data.disbanded == 0)
    # every intervention team is fully trained from month 2; a merged-away team's empty roster
    # must not pull the mean down after month 5
    assert np.all(data.fidelity[:, 1, 2:] == 1.0)
    fig = plot_timeline(data)
    dashed = [ln for ln in _visible(fig)[3].lines if ln.get_linestyle() == "--"]
    assert len(dashed) == 2                                     # merges, one line per arm


def test_balance_plot_has_one_box_per_design_point():
    from simulator.outputs.plots import plot_balance
    rng = np.random.default_rng(0)
    fig = plot_balance({"simple": rng.random(50), "stratified": rng.random(50) / 2,
                        "constrained": rng.random(50) / 4})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["simple", "stratified", "constrained"]
    assert len(ax.lines) >= 3 * 5   # whiskers, caps, median per box


def test_power_is_over_all_trials_and_failures_are_named():
    summary = [_row({"trial.teams": k}, "mixed_ancova", power=0.8, failed=20 if k == 20 else 0)
               for k in (10, 20)]
    fig = plot_power_curve(summary, ["trial.teams"], alpha=0.05)
    (ax,) = _visible(fig)
    line = next(ln for ln in ax.lines if ln.get_marker() == "o")
    assert list(line.get_ydata()) == [0.8, 0.8 * 80 / 100]
    assert [t.get_text() for t in ax.texts] == ["20 failed"]
    assert "all trials" in ax.get_ylabel()


def test_comparisons_plot_shows_paired_and_unpaired_mcse_bars():
    from simulator.outputs.comparison_plot import plot_comparisons

    rows = [{"allocation.method": m, "compared_on": "allocation.method", "reference_value": "simple",
             "estimator": "mixed_ancova", "estimand": estimand, "rejection_all_diff": d,
             "rejection_all_diff_mcse": 0.01, "rejection_all_diff_mcse_unpaired": 0.02}
            for m, d in (("stratified", 0.03), ("constrained", -0.01))
            for estimand in ("itt", "efficacy")]
    fig = plot_comparisons(rows, ["allocation.method"])
    (ax,) = _visible(fig)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["mixed_ancova: allocation.method = stratified vs simple",
                      "mixed_ancova: allocation.method = constrained vs simple"]
    bars = [c for c in ax.containers]
    assert len(bars) == 2      # unpaired (light) and paired (dark) error bars
    paired = bars[1].lines[2][0].get_segments()
    assert [tuple(np.round(s[:, 0], 6)) for s in paired] == [
        (round(0.03 - 0.0196, 6), round(0.03 + 0.0196, 6)),
        (round(-0.01 - 0.0196, 6), round(-0.01 + 0.0196, 6))]
