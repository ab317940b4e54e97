"""Effect lag and follow-up length (issue 14, item 3): closed forms on deterministic designs,
dropout given as a yearly hazard, and the closed form (``crtsim power``, ``validate``) following
both keys."""
import math

import numpy as np
import pytest
from scipy import stats

from simulator.model.dropout import draw_dropout
from simulator.montecarlo.engine import draw_replicate
from simulator.planning.closed_form import closed_form_power
from simulator.planning.derived import derived_quantities
from simulator.scenario.files import ScenarioError, design_points, load_scenario, parse_scenario

from test_closed_form import mean_field_error_bound

DELTA = 3.0


def _deterministic(months, lag, **extra):
    """Attendance 1, one session at month 0, no turnover, no dropout: full fidelity throughout."""
    return parse_scenario({
        "name": "lag", "trial": {"teams": 8, "months": months},
        "intervention": {"attendance": 1.0, "session_months": [0], "sessions_to_train": 1,
                         "effect_at_full_implementation": DELTA, "effect_lag_months": lag},
        "staff_turnover": {"annual_rate": 0.0}, "dropout": {"attrition": 0.0}, **extra})


def test_full_fidelity_with_a_three_month_lag_gives_three_quarters_of_the_effect():
    rep = draw_replicate(_deterministic(12, 3), 0)
    assert rep.outcomes.true_itt == 0.75 * DELTA
    arm = rep.arm[rep.world.patient_team]
    assert np.all(rep.history.exposure[arm == 1] == 0.75)
    assert np.all(rep.history.exposure[arm == 0] == 0.0)


@pytest.mark.parametrize("months, lag", [(12, 0), (18, 6), (24, 6), (36, 6), (24, 23.5)])
def test_itt_truth_is_delta_times_unlagged_share_of_follow_up(months, lag):
    rep = draw_replicate(_deterministic(months, lag), 1)
    assert rep.outcomes.true_itt == pytest.approx(DELTA * (months - lag) / months, rel=1e-12)


def test_lag_also_holds_through_the_event_simulation_with_disbanding():
    """Transfers (the spell code) with full fidelity everywhere: every intervention patient
    still in an intervention team keeps E = (T − L)/T; truth stays in [0, δ(T − L)/T]."""
    s = _deterministic(12, 3, reconfiguration={"scheduled": [{"month": 10, "teams": 1}],
                                               "patient_transfer_probability": 1.0})
    rep = draw_replicate(s, 2)
    h, arm = rep.history, rep.arm
    own = arm[rep.world.patient_team]
    stayed = (h.final_team >= 0) & (arm[np.maximum(h.final_team, 0)] == own)
    # A month-10 move lands after T − L = 9, so it cannot change what counts.
    assert np.all(h.exposure[stayed & (own == 1)] == 0.75)
    assert 0.0 <= rep.outcomes.true_itt <= 0.75 * DELTA


@pytest.mark.parametrize("months", [6, 12, 24, 36])
def test_yearly_rate_mcar_dropout_loses_one_minus_exp_of_rate_times_years(months):
    rate, n = 0.3, 40_000
    spec = parse_scenario({"name": "x", "trial": {"months": months},
                           "dropout": {"rate_per_year": rate}}).dropout
    when = draw_dropout(spec, float(months), np.zeros(n), np.zeros(n, int), np.full(n, np.nan),
                        rng=np.random.default_rng(months))
    truth = 1.0 - math.exp(-rate * months / 12.0)
    share = np.isfinite(when).mean()
    assert abs(share - truth) < 4 * math.sqrt(truth * (1 - truth) / n)
    assert spec.attrition == pytest.approx(truth, rel=1e-14)


def test_rate_per_year_grows_attrition_across_a_sweep_of_follow_up_lengths():
    s = parse_scenario({"name": "x", "dropout": {"rate_per_year": 0.25},
                        "sweep": {"trial.months": [12, 24, 36]}})
    shares = [p.scenario.dropout.attrition for p in design_points(s)]
    assert shares == pytest.approx([1 - math.exp(-0.25 * y) for y in (1, 2, 3)], rel=1e-14)
    again = parse_scenario(design_points(s)[1].scenario.model_dump(mode="json"))
    assert again.dropout.attrition == shares[1]   # a dump read back derives it again


def test_giving_attrition_and_rate_per_year_together_is_an_error():
    with pytest.raises(ScenarioError, match="dropout.attrition.*either.*rate_per_year.*not both"):
        parse_scenario({"name": "x", "dropout": {"attrition": 0.2, "rate_per_year": 0.3}})


def test_lag_must_leave_some_follow_up_and_rate_must_leave_some_patients():
    with pytest.raises(ScenarioError, match="effect_lag_months: 12.0 -- must be less than"):
        parse_scenario({"name": "x", "intervention": {"effect_lag_months": 12}})
    with pytest.raises(ScenarioError, match="rate_per_year: 50.0 -- loses every patient"):
        parse_scenario({"name": "x", "trial": {"months": 120}, "dropout": {"rate_per_year": 50}})


def test_files_without_the_new_keys_behave_as_before():
    s = parse_scenario({"name": "x"})
    assert s.intervention.effect_lag_months == 0.0 and s.dropout.rate_per_year is None
    assert s.dropout.attrition == 0.26 and "attrition" in s.model_dump()["dropout"]


# --- the closed form (crtsim power, validate) follows both keys ---------------------------


@pytest.mark.parametrize("months, lag", [(12, 3), (24, 6), (36, 6), (18, 0)])
def test_closed_form_itt_with_full_fidelity_is_delta_times_unlagged_share(months, lag):
    row = closed_form_power(_deterministic(months, lag))
    assert row["expected_itt_effect"] == pytest.approx(DELTA * (months - lag) / months, rel=1e-9)
    assert row["expected_exposure"] == pytest.approx((months - lag) / months, rel=1e-9)


def test_closed_form_analysed_size_follows_the_yearly_dropout_rate():
    for months in (12, 24, 36):
        s = parse_scenario({"name": "x", "trial": {"months": months, "patients_per_team":
                                                   {"mean": 20, "cv": 0}},
                            "dropout": {"rate_per_year": 0.3}})
        row = closed_form_power(s)
        assert row["patients_analysed"] == pytest.approx(20 * math.exp(-0.3 * months / 12), rel=1e-12)
        assert derived_quantities(s)["expected patients analysed"] == \
            round(27 * 20 * math.exp(-0.3 * months / 12), 1)


def test_validate_echoes_the_lag_and_the_rate():
    s = _deterministic(24, 6, dropout={"rate_per_year": 0.3})
    echo = derived_quantities(s)
    assert echo["share of follow-up whose fidelity counts (T − L)/T"] == 0.75
    assert echo["dropout by follow-up 1 − exp(−rate × T/12)"] == round(1 - math.exp(-0.6), 4)
    assert echo["expected ITT effect, closed form (points)"] == 0.75 * DELTA
    assert not any("lag" in k or "(T − L)" in k for k in derived_quantities(parse_scenario({"name": "x"})))


def test_mean_field_itt_with_lag_and_longer_follow_up_matches_simulated_truth():
    """REFOCUS without disbanding, followed 24 months with a 6-month lag and turnover: the mean
    simulated ITT truth is the closed form's within z = 3.29 MCSE plus the mean field's error."""
    data = load_scenario("tests/reference/refocus_one_component.yaml").model_dump(mode="json")
    data["reconfiguration"]["scheduled"] = []
    data["trial"]["months"] = 24
    data["intervention"]["effect_lag_months"] = 6
    data["dropout"] = {"rate_per_year": 0.3}
    s = parse_scenario(data)
    truth = np.array([draw_replicate(s, r).outcomes.true_itt for r in range(200)])
    expected = closed_form_power(s)["expected_itt_effect"]
    mcse = truth.std(ddof=1) / math.sqrt(truth.size)
    bound = stats.norm.isf(0.0005) * mcse + mean_field_error_bound(s)
    assert abs(truth.mean() - expected) <= bound, (truth.mean(), expected, mcse)
