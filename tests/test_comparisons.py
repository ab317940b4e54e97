"""comparisons.csv: paired differences between design points with jackknife MCSEs
(montecarlo/comparisons.py), checked by hand, against the normal-theory delta method, on a
sweep whose estimates cannot differ, and on a real sweep where pairing must pay off."""
import math

import numpy as np
import pytest

from simulator.cli import main
from simulator.montecarlo.comparisons import (comparison_columns, jackknife_se, loo_sd,
                                              paired_difference, reference_pairs)
from simulator.montecarlo.runner import RunSettings, run_scenario
from simulator.outputs.files import read_csv
from simulator.scenario.files import design_points, parse_scenario

SMALL = {"name": "cmp", "seed": 5, "replicates": 40, "trial": {"teams": 12},
         "analysis": {"estimators": ["mixed_ancova", "cluster_summary"]}}


def test_paired_mcse_of_a_difference_in_rejection_rates_by_hand():
    # rejections at the point 1,0,1,1 and at the reference 0,0,1,0: d = 1,0,0,1,
    # mean 0.5, sample variance 1/3, so MCSE sqrt(1/3) / sqrt(4).
    diff, mcse = paired_difference(np.array([1.0, 0, 1, 1]), np.array([0.0, 0, 1, 0]), "mean")
    assert diff == 0.5
    assert mcse == pytest.approx(math.sqrt(1 / 3) / 2, rel=1e-14)


def test_paired_mcse_of_a_difference_in_means_drops_unusable_replicates_from_one_side():
    x, y = np.array([1.0, 2.0, np.nan, 4.0]), np.array([0.0, 1.0, 1.0, 2.0])
    left_out = []
    for r in range(4):
        keep = np.arange(4) != r
        left_out.append(np.nanmean(x[keep]) - np.nanmean(y[keep]))
    diff, mcse = paired_difference(x, y, "mean")
    assert diff == pytest.approx(7 / 3 - 1.0)
    assert mcse == pytest.approx(math.sqrt(3 / 4 * np.sum((left_out - np.mean(left_out)) ** 2)))


def test_jackknife_of_a_difference_in_sds_matches_the_explicit_leave_one_out_loop():
    rng = np.random.default_rng(3)
    x = rng.normal(size=9)
    y = 0.5 * x + rng.normal(size=9)
    x[4] = np.nan                      # a failed fit at the point only
    loop = [np.nanstd(np.delete(x, r), ddof=1) - np.std(np.delete(y, r), ddof=1)
            for r in range(9)]
    diff, mcse = paired_difference(x, y, "sd")
    assert diff == pytest.approx(np.nanstd(x, ddof=1) - np.std(y, ddof=1))
    assert mcse == pytest.approx(jackknife_se(np.array(loop)), rel=1e-12)
    assert loo_sd(x)[1][4] == np.sqrt(np.var(x[np.isfinite(x)], ddof=1))


def test_jackknife_of_a_difference_in_sds_agrees_with_the_delta_method_for_normal_data():
    """Var(s_a - s_b) ~ (s_a^2 + s_b^2 - 2 rho^2 s_a s_b) / (2 (n - 1)) for bivariate normal
    estimates; the jackknife's own MCSE is a few per cent at n = 20,000."""
    rng = np.random.default_rng(8)
    n, rho, sa, sb = 20_000, 0.8, 1.0, 1.5
    z = rng.standard_normal((2, n))
    a = sa * z[0]
    b = sb * (rho * z[0] + math.sqrt(1 - rho**2) * z[1])
    delta = math.sqrt((sa**2 + sb**2 - 2 * rho**2 * sa * sb) / (2 * (n - 1)))
    assert paired_difference(a, b, "sd")[1] == pytest.approx(delta, rel=0.05)


def test_each_point_is_compared_with_the_first_value_of_each_swept_key_others_held():
    s = parse_scenario({**SMALL, "sweep": {"trial.teams": [12, 16, 20],
                                           "analysis.alpha": [0.05, 0.1]}})
    pairs = [(p.index, r.index, k) for p, r, k in reference_pairs(design_points(s), s.sweep)]
    # points: (12, .05) 0, (12, .1) 1, (16, .05) 2, (16, .1) 3, (20, .05) 4, (20, .1) 5
    assert pairs == [(1, 0, "analysis.alpha"), (2, 0, "trial.teams"), (3, 1, "trial.teams"),
                     (3, 2, "analysis.alpha"), (4, 0, "trial.teams"), (5, 1, "trial.teams"),
                     (5, 4, "analysis.alpha")]


def _run(tmp_path, sweep):
    s = parse_scenario({**SMALL, "sweep": sweep})
    return run_scenario(s, RunSettings(out_dir=tmp_path, executor="serial", quiet=True))


def test_a_sweep_over_alpha_leaves_every_estimate_difference_exactly_zero(tmp_path):
    result = _run(tmp_path, {"analysis.alpha": [0.05, 0.2]})
    assert len(result.comparisons) == 4          # 2 estimators x 2 estimands
    for row in result.comparisons:
        for name in ("bias_diff", "bias_diff_mcse", "empse_diff", "empse_diff_mcse"):
            assert row[name] == 0.0, name
        assert row["rejection_all_diff"] > 0 and row["bias_diff_mcse_unpaired"] > 0


def test_paired_mcses_are_smaller_than_unpaired_ones_on_a_real_sweep(tmp_path):
    result = _run(tmp_path, {"intervention.effect_at_full_implementation": [3.0, 1.5]})
    summary = {(r["intervention.effect_at_full_implementation"], r["estimator"],
                r["estimand"]): r for r in result.summary}
    for row in result.comparisons:
        for m in ("rejection_all", "bias", "empse"):
            assert row[f"{m}_diff_mcse"] < row[f"{m}_diff_mcse_unpaired"], (row["estimator"], m)
        point, ref = (summary[(v, row["estimator"], row["estimand"])] for v in (1.5, 3.0))
        assert row["bias_diff"] == point["bias"] - ref["bias"]
        assert row["bias_diff_mcse_unpaired"] == pytest.approx(
            math.hypot(point["bias_mcse"], ref["bias_mcse"]))


def test_run_writes_comparisons_csv(tmp_path, write_yaml):
    path = write_yaml("name: c\nreplicates: 6\ntrial: {teams: 8}\n"
                      "analysis: {estimators: [cluster_summary]}\n"
                      "sweep: {allocation.method: [simple, stratified]}\n")
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet", "--no-plots",
                 "--executor", "serial"]) == 0
    header, rows = read_csv(tmp_path / "o" / "comparisons.csv")
    assert header == comparison_columns(["allocation.method"])
    assert [(r[0], r[3], r[4]) for r in rows] == [("stratified", "allocation.method", "simple")] * 2
