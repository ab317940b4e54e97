"""Examples run as tests (STYLE.md principle 10): every scenarios/*.yaml runs with 20 replicates,
and what it writes is checked against the model and against itself.

- replicates.csv has one row per design point × replicate × estimator;
- the truth comes from the model: efficacy is δ_full, the ITT effect is a difference of mean
  effects δ_full g(E) with g(E) in [0, 1], so it lies in [−|δ|, |δ|], is exactly 0 when δ = 0
  and has δ's sign (significantly, over the 20 replicates) when δ ≠ 0; every estimator's row
  of a replicate carries the same truth;
- a converged estimate is well formed (finite estimate, SE > 0, df ≥ 1 or nan for the
  permutation test, ci_low ≤ estimate ≤ ci_high, p in [0, 1]) and a failed one is nan;
- analyses rarely fail (``MAX_FAILED``);
- summary.csv agrees with replicates.csv: n_sim, n_failed, true value, bias, coverage and
  rejection recomputed here from the replicate rows.
"""
import csv
import math

import numpy as np
import pytest
from scipy import stats

from simulator.cli import main
from simulator.scenario.files import design_points, load_scenario

from conftest import SCENARIOS

FILES = sorted(p.name for p in SCENARIOS.glob("*.yaml"))
REPLICATES = 20
Z = stats.norm.isf(0.0005)  # one-sided 0.05 %
# If a scenario's analyses failed in as many as 1 % of trials, more than MAX_FAILED of 20 would
# fail with probability below 0.1 %: more failures than that mean a fault, not bad luck.
MAX_FAILED = int(stats.binom.isf(0.001, REPLICATES, 0.01))


def test_the_library_is_not_empty():
    assert {"refocus.yaml", "null_refocus.yaml", "implementation_levels.yaml"} <= set(FILES)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def number(cell: str) -> float:
    return float(cell) if cell != "" else math.nan


def check_truth(rows, delta):
    """One design point's replicate rows: the truths the model implies (module docstring)."""
    truth = {}
    for r in rows:
        pair = (number(r["true_itt"]), number(r["true_efficacy"]))
        assert truth.setdefault(int(r["replicate"]), pair) == pair   # same for every estimator
    itt = np.array([t for t, _ in truth.values()])
    assert all(e == delta for _, e in truth.values())
    assert np.isfinite(itt).all() and (np.abs(itt) <= abs(delta) * (1 + 1e-12)).all()
    if delta == 0:
        assert (itt == 0).all()
    else:
        assert np.sign(delta) * itt.mean() > Z * itt.std(ddof=1) / math.sqrt(itt.size)


def check_estimate(r):
    est, se, df, low, high, p = (number(r[k]) for k in
                                 ("estimate", "se", "df", "ci_low", "ci_high", "p_value"))
    if r["converged"] != "1":
        assert math.isnan(est) and math.isnan(p), r
        return
    assert math.isfinite(est) and math.isfinite(se) and se > 0, r
    assert (math.isnan(df) and r["estimator"] == "permutation") or df >= 1, r
    assert low <= est <= high and 0 <= p <= 1, r


def expected_summary(rows, estimand, alpha):
    """Performance measures of one design point × estimator × estimand, from its replicates."""
    conv = np.array([r["converged"] == "1" for r in rows])
    est, low, high, p = (np.array([number(r[k]) for r in rows])[conv]
                         for k in ("estimate", "ci_low", "ci_high", "p_value"))
    truth = float(np.mean([number(r[f"true_{estimand}"]) for r in rows]))
    return {"n_sim": conv.sum(), "n_failed": (~conv).sum(), "true_value": truth,
            "bias": est.mean() - truth if conv.any() else math.nan,
            "coverage": np.mean((low <= truth) & (truth <= high)) if conv.any() else math.nan,
            "rejection": np.mean(p < alpha) if conv.any() else math.nan,
            "rejection_all": np.sum(p < alpha) / len(rows)}   # failed fits never reject


@pytest.mark.parametrize("name", FILES)
def test_every_scenario_runs_with_20_replicates(name, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(SCENARIOS / name), "--replicates", str(REPLICATES), "--out", str(out),
                 "--quiet", "--no-plots", "--executor", "serial"]) == 0
    points = design_points(load_scenario(SCENARIOS / name))
    replicates, summary = read_rows(out / "replicates.csv"), read_rows(out / "summary.csv")
    staff = points[0].scenario.staff_outcome   # its rows: outcome staff:<name>, its estimators
    if staff is not None:
        mine = [r for r in replicates if r["outcome"] == f"staff:{staff.name}"]
        assert len(mine) == len(points) * REPLICATES * len(staff.estimators)
        for r in mine:
            check_estimate(r)
    primary = f"patient:{points[0].scenario.outcome.name}"
    replicates = [r for r in replicates if r["outcome"] == primary]
    summary = [r for r in summary if r["outcome"] == primary]
    estimators = points[0].scenario.analysis.estimators
    assert len(replicates) == len(points) * REPLICATES * len(estimators)
    assert len(summary) == len(points) * len(estimators) * 2   # estimands itt and efficacy
    rows = iter(summary)   # in order: design point, estimator, estimand
    for point in points:
        at_point = [r for r in replicates if int(r["design_point"]) == point.index]
        assert sorted((int(r["replicate"]), r["estimator"]) for r in at_point) == \
            sorted((i, e) for i in range(REPLICATES) for e in estimators)
        check_truth(at_point, point.scenario.intervention.effect_at_full_implementation)
        for r in at_point:
            check_estimate(r)
        for estimator in estimators:
            mine = [r for r in at_point if r["estimator"] == estimator]
            assert sum(r["converged"] != "1" for r in mine) <= MAX_FAILED, (point.swept, estimator)
            for estimand in ("itt", "efficacy"):
                row = next(rows)
                assert (row["estimator"], row["estimand"]) == (estimator, estimand)
                assert all(row[k] == ("" if v is None else str(v)) for k, v in point.swept.items())
                want = expected_summary(mine, estimand, point.scenario.analysis.alpha)
                got = {k: number(row[k]) for k in want}
                assert got == pytest.approx(want, rel=1e-12, abs=1e-12, nan_ok=True), \
                    (point.swept, estimator, estimand)
