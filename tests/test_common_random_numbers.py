"""Common random numbers: design points share their replicates' streams, and one estimator's
numbers never depend on which other estimators run (seeds module docstring)."""
import numpy as np

from simulator.montecarlo.engine import WorkUnit, replicate_columns, run_unit
from simulator.montecarlo.engine import draw_replicate
from simulator.scenario.files import design_points, parse_scenario

BASE = {"name": "crn", "seed": 11, "replicates": 6, "trial": {"teams": 10},
        "reconfiguration": {"disband_rate_per_team_year": 0.3},
        "analysis": {"estimators": ["mixed_ancova", "cluster_summary", "permutation"],
                     "permutations": 39}}


def _rows(point, first=0, stop=6):
    rows, _ = run_unit(WorkUnit(point.index, first, stop, point.scenario))
    return rows


def _column(rows, header, name):
    return [row[header.index(name)] for row in rows]


def test_design_points_differing_only_in_alpha_give_identical_estimates():
    points = design_points(parse_scenario({**BASE, "sweep": {"analysis.alpha": [0.05, 0.1]}}))
    header = replicate_columns(points[0].scenario)
    low, high = (_rows(p) for p in points)
    for name in ("replicate", "estimator", "estimate", "se", "df", "p_value", "true_itt",
                 "patients_analysed", "mean_fidelity_int", "staff_turnover"):
        np.testing.assert_array_equal(_column(low, header, name), _column(high, header, name),
                                      err_msg=name)
    # The CIs are at their own level, so they differ: the alpha did reach the analysis.
    assert _column(low, header, "ci_low") != _column(high, header, "ci_low")


def test_design_points_differing_only_in_effect_share_worlds_and_allocations():
    points = design_points(parse_scenario(
        {**BASE, "sweep": {"intervention.effect_at_full_implementation": [0.0, 3.0]}}))
    for r in range(4):
        null, alt = (draw_replicate(p.scenario, r) for p in points)
        assert np.array_equal(null.world.baseline, alt.world.baseline)
        assert np.array_equal(null.arm, alt.arm)
        assert null.diagnostics["patients_randomised"] == alt.diagnostics["patients_randomised"]
        assert null.outcomes.true_itt == 0.0 and alt.outcomes.true_itt > 0.0
        # Same follow-up noise: the scores differ by the treatment effect alone, 3 g(exposure)
        # (linear g), up to the rounding of scores near 40 (a few ulp of 40 ~ 1e-14).
        effect = alt.outcomes.followup - null.outcomes.followup
        assert np.allclose(effect, 3.0 * alt.history.exposure, rtol=0, atol=1e-12)


def test_distinct_replicates_draw_distinct_worlds():
    point = design_points(parse_scenario(BASE))[0]
    first, second = (draw_replicate(point.scenario, r) for r in (0, 1))
    assert not np.array_equal(first.world.baseline[:5], second.world.baseline[:5])


def test_adding_an_estimator_leaves_the_others_unchanged():
    alone = design_points(parse_scenario(BASE))[0]
    more = design_points(parse_scenario(
        {**BASE, "analysis": {**BASE["analysis"],
                              "estimators": ["gee_robust", *BASE["analysis"]["estimators"],
                                             "cace_iv"]}}))[0]
    header = replicate_columns(alone.scenario)
    rows_alone, rows_more = _rows(alone), _rows(more)
    for label in BASE["analysis"]["estimators"]:
        pick = lambda rows: [r for r in rows if r[header.index("estimator")] == label]  # noqa: E731
        np.testing.assert_array_equal(np.array(pick(rows_alone), dtype=object).astype(str),
                                      np.array(pick(rows_more), dtype=object).astype(str),
                                      err_msg=label)
    at = header.index("estimator")
    p_values = _column([r for r in rows_alone if r[at] == "permutation"], header, "p_value")
    assert len(set(p_values)) > 1   # the permutation test did draw at random
