"""Dropout: calibration to the target attrition, mechanisms, and patient conservation."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from simulator.model.dropout import baseline_rate, draw_dropout
from simulator.montecarlo.engine import draw_replicate
from simulator.scenario.files import parse_scenario


def _spec(**kw):
    return parse_scenario({"name": "x", "dropout": kw}).dropout


@pytest.mark.parametrize("target", [0.1, 0.26, 0.5])
def test_mcar_attrition_matches_target(target):
    n = 20_000
    rng = np.random.default_rng(1)
    when = draw_dropout(_spec(attrition=target), 12.0, np.zeros(n), np.zeros(n, int),
                        np.full(n, np.nan), rng=rng)
    share = np.isfinite(when).mean()
    assert abs(share - target) < 4 * math.sqrt(target * (1 - target) / n)
    assert np.all(when[np.isfinite(when)] < 12.0)


def test_mcar_rate_is_closed_form():
    assert baseline_rate(0.26, np.full(5, 12.0)) == pytest.approx(-math.log(0.74) / 12, rel=1e-10)


def test_mar_and_differential_dropout_keep_marginal_attrition_and_shift_who_drops():
    n = 40_000
    rng = np.random.default_rng(2)
    z = rng.standard_normal(n)
    arm = (np.arange(n) % 2).astype(int)
    disrupted = np.where(np.arange(n) % 5 == 0, 6.0, np.nan)
    spec = _spec(attrition=0.3, mechanism="MAR", strength=-0.7, differential_by_arm=0.5,
                 disruption_effect=1.0)
    dropped = np.isfinite(draw_dropout(spec, 12.0, z, arm, disrupted, rng=rng))
    # Calibration is on the realised covariates: the expected share equals the target exactly.
    assert abs(dropped.mean() - 0.3) < 4 * math.sqrt(0.21 / n)
    assert dropped[z < -1].mean() > dropped[z > 1].mean()
    assert dropped[arm == 1].mean() > dropped[arm == 0].mean()
    assert dropped[~np.isnan(disrupted)].mean() > dropped[np.isnan(disrupted)].mean()


def test_zero_attrition_drops_nobody():
    when = draw_dropout(_spec(attrition=0.0), 12.0, np.zeros(9), np.zeros(9, int),
                        np.full(9, np.nan), rng=np.random.default_rng(0))
    assert np.all(np.isinf(when))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), mechanism=st.sampled_from(["MCAR", "MAR", "MNAR"]),
       transfer=st.floats(0, 1), teams=st.integers(6, 16))
def test_patients_are_conserved_and_counted_by_cause(seed, mechanism, transfer, teams):
    s = parse_scenario({"name": "x", "seed": seed, "trial": {"teams": teams},
                        "dropout": {"mechanism": mechanism, "strength": 0.5},
                        "reconfiguration": {"scheduled": [{"month": 5, "teams": 1}],
                                            "disband_rate_per_team_year": 0.3,
                                            "patient_transfer_probability": transfer}})
    rep = draw_replicate(s, seed % 7)
    d = rep.diagnostics
    assert d["patients_randomised"] == d["patients_analysed"] + d["patients_dropout"] + d["patients_lost"]
    assert d["patients_randomised"] == rep.world.patients.sum()
    lost_events = {e.subject for e in rep.events() if e.kind == "lost"}
    dropout_events = {e.subject for e in rep.events() if e.kind == "dropout"}
    assert set(np.flatnonzero(rep.status == "lost")) <= lost_events
    assert set(np.flatnonzero(rep.status == "dropout")) == dropout_events
    assert np.array_equal(rep.trial.observed, rep.status == "analysed")
    months = [e.month for e in rep.events()]
    assert months == sorted(months)
