"""Closed-form power of a scenario: inputs mapped by hand agree with simulator.power, the
mean-field exposure meets the DESIGN.md check and the simulated truth, `crtsim power` output."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import expit, logit

from simulator.cli import main
from simulator.planning.closed_form import closed_form_curve, closed_form_power, closed_form_rows
from simulator.planning.expected_exposure import (STEPS, expected_exposure, expected_itt,
                                                 fidelity_at_followup, month_grid,
                                                 node_post_states)
from simulator.model.timeline.staffing import session_schedule
from simulator.planning.power import BaselineCorrelations, solve_power
from simulator.montecarlo.engine import draw_replicate
from simulator.montecarlo.runner import RunSettings, run_scenario
from simulator.scenario.files import load_scenario, parse_scenario
from test_engine import NO_DYNAMICS, cluster_t_power   # shared no-dynamics design and its t power


def _scenario(**sections) -> object:
    data = {"name": "cf", **{k: dict(v) for k, v in NO_DYNAMICS.items()}}
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values} if isinstance(values, dict) else values
    return parse_scenario(data)


def test_hand_inputs_agree_with_simulator_power():
    s = _scenario(trial={"teams": 20, "patients_per_team": {"mean": 15, "cv": 0.3}},
                  outcome={"sd": 10.0, "icc": 0.05, "individual_autocorrelation": 0.4,
                           "cluster_autocorrelation": 0.7},
                  intervention={"effect_at_full_implementation": 3.0},
                  dropout={"attrition": 0.2})
    a = dict(effect=3.0, teams_per_arm=10, patients_per_team=15, icc=0.05, sd=10.0, alpha=0.05,
             cv=0.3, method="eldridge", attrition=0.2, two_tailed=True)
    out = closed_form_power(s)
    assert out["teams_per_arm"] == 10 and out["patients_analysed"] == pytest.approx(12.0)
    assert out["expected_itt_effect"] == pytest.approx(3.0)
    expected = solve_power(baseline_correlations=BaselineCorrelations(0.4, 0.7), **a).power
    assert out["closed_form_power"] == pytest.approx(expected, rel=1e-12)
    unadjusted = closed_form_power(s, estimator="cluster_means")
    assert unadjusted["closed_form_power"] == pytest.approx(solve_power(**a).power)
    assert unadjusted["closed_form_power"] < out["closed_form_power"]


def test_equal_sizes_unequal_arms_and_disband_losses():
    s = _scenario(trial={"teams": 27}, outcome={"icc": 0.1},
                  reconfiguration={"scheduled": [{"month": 6, "teams": 2}],
                                   "patient_transfer_probability": 0.5},
                  dropout={"attrition": 0.25})
    out = closed_form_power(s)
    assert out["teams_per_arm"] == pytest.approx(2 * 14 * 13 / 27)
    loss = 2 / 27 * 0.5
    assert out["patients_analysed"] == pytest.approx(10 * 0.75 * (1 - loss))
    # linear g, full fidelity: the ITT exposure is (1/T) ∫ S(t) dt, S = 1 - 2/27 after month 6
    assert out["expected_itt_effect"] == pytest.approx(3.0 * (0.5 + 0.5 * (1 - 2 / 27)))


def test_design_md_exposure_check():
    """Attendance 1, one session at month 0, vacancy 0, turnover h: mean exposure (1 - e^-h)/h.

    The mean field integrates F̄(t) = e^{-at} (a = h/12 per month) by the trapezoid rule on
    STEPS equal steps Δ = T/STEPS, which overstates ∫ e^{-at} by the factor x·coth x =
    1 + x²/3 − x⁴/45 + … (x = aΔ/2), so by at most (aΔ)²/12 relative; a sum of STEPS terms
    adds at most STEPS·ε of rounding."""
    for h in (0.2, 0.5):
        s = _scenario(staff_turnover={"annual_rate": h, "vacancy_months": 0.0})
        exact = (1 - math.exp(-h)) / h
        rel = (h / 12 * s.trial.months / STEPS) ** 2 / 12 + STEPS * np.finfo(float).eps
        assert expected_exposure(s)["surviving"][0] == pytest.approx(exact, rel=rel)
        assert expected_itt(s)[1] == pytest.approx(3.0 * exact, rel=rel)


def test_team_type_effects_add_between_team_variance():
    effect = {"effect_at_full_implementation": 0.3}
    plain = closed_form_power(_scenario(trial={"teams": 20}, intervention=effect))
    typed = closed_form_power(_scenario(
        trial={"teams": 20, "team_types": {"cmht": 0.5, "ao": 0.5}},
        outcome={"team_type_effects": {"ao": -0.5}}, intervention=effect))
    assert typed["icc"] > plain["icc"] and typed["closed_form_power"] < plain["closed_form_power"]


def mean_field_error_bound(s) -> float:
    """Bound on |E[true ITT] − δ_full (1/T)∫F̄S| for a linear dose response (expected_exposure).

    Posts evolve independently, so given N ≥ 1 staff in post the trained count is binomial
    and E[trained/N | N] = E[trained]/E[in post] exactly: the ratio F̄ errs only when a team
    has nobody in post (F = 0 there), with chance at most v^{s_min}, v = aV/(1 + aV) a post's
    stationary chance of being vacant (a = h/12 leaving rate, V mean vacancy months). The
    trapezoid rule on STEPS steps (Δ = T/STEPS) adds about (λΔ)²/12 relative, its leading
    error for exponentials with rates up to λ = a + 1/V, the chain's fastest. Team sizes are
    independent of exposure, so patient weighting is exact (as is, to far below these, the
    20-node Gauss–Hermite average over leadership where it shifts attendance or turnover).
    The remaining term is reconfiguration: a transferred patient joins a surviving team of
    their site, never their own old team, so under complete randomisation the receivers of an
    intervention patient hold 1/(K − 1) fewer intervention teams (as a share) than a control
    patient's, while the mean field gives both arms the same share. Their exposure gap is then
    off by at most δ p_tr (1/(K − D)) Σ_events (n/K) (T − month)/T (F̄ ≤ 1; D disbandings in
    all leave at least K − D receivers). For refocus that is 0.0031; 20,000 replicates (when
    written) put the actual difference at −0.0019 ± 0.0006, and at −0.0001 ± 0.0006 without
    the disbanding."""
    st, iv, rc, t = s.staff_turnover, s.intervention, s.reconfiguration, s.trial
    assert iv.dose_response == "linear" and rc.disband_rate_per_team_year == 0
    assert s.allocation.method == "simple" or not rc.scheduled   # complete randomisation
    a, vac = st.annual_rate / 12, st.vacancy_months
    empty = (a * vac / (1 + a * vac)) ** t.staff_per_team.min
    quadrature = ((a + (1 / vac if vac > 0 else 0)) * t.months / STEPS) ** 2 / 12
    d = sum(ev.teams for ev in rc.scheduled)
    moved = sum(ev.teams / t.teams * (t.months - ev.month) / t.months for ev in rc.scheduled)
    transfer = rc.patient_transfer_probability * moved / (t.teams - d) if d else 0.0
    return abs(iv.effect_at_full_implementation) * (empty + quadrature + transfer)


@pytest.mark.parametrize("disbanding", [True, False])
def test_mean_field_itt_matches_simulated_truth(disbanding):
    """Refocus as is (two teams disband at month 6) and without the disbanding: the mean of
    the simulated true ITT effect is the mean field's within z = 3.29 MCSE (0.05 % each side)
    plus the mean field's own error (``mean_field_error_bound``: ≈ 0.003 with disbanding,
    ≈ 1e-4 without, against an MCSE of ≈ 0.006 at 200 replicates)."""
    data = load_scenario("tests/reference/refocus_one_component.yaml").model_dump(mode="json")
    if not disbanding:
        data["reconfiguration"]["scheduled"] = []
    s = parse_scenario(data)
    truth = np.array([draw_replicate(s, r).outcomes.true_itt for r in range(200)])
    expected = closed_form_power(s)["expected_itt_effect"]
    mcse = truth.std(ddof=1) / math.sqrt(truth.size)
    bound = stats.norm.isf(0.0005) * mcse + mean_field_error_bound(s)
    assert abs(truth.mean() - expected) <= bound, (truth.mean(), expected, mcse)


def test_curve_contains_the_design_points():
    s = load_scenario("scenarios/implementation_levels.yaml")
    rows = closed_form_rows(s)
    curve = {r["intervention.attendance"]: r["closed_form_power"] for r in closed_form_curve(s)}
    assert len(curve) > len(rows)
    for row in rows:
        assert curve[row["intervention.attendance"]] == pytest.approx(row["closed_form_power"])
    powers = [curve[x] for x in sorted(curve)]
    assert powers == sorted(powers)


def test_power_json_and_table(capsys):
    assert main(["power", "scenarios/implementation_levels.yaml", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5
    assert [r["intervention.attendance"] for r in rows] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert all(0 < r["closed_form_power"] < 1 for r in rows)
    assert [r["closed_form_power"] for r in rows] == sorted(r["closed_form_power"] for r in rows)
    assert main(["power", "scenarios/refocus.yaml"]) == 0
    text = capsys.readouterr().out
    assert "power" in text and "VIF" in text and len(text.splitlines()) >= 3


def test_simulated_cluster_means_power_matches_closed_form(tmp_path):
    """Five points of a power curve, no dynamics: |simulated - noncentral t| < 3 MCSE."""
    teams = [8, 12, 16, 20, 24]
    s = _scenario(trial={"teams": 8}, outcome={"icc": 0.05},
                  intervention={"effect_at_full_implementation": 0.5},
                  analysis={"estimators": ["cluster_means"]},
                  sweep={"trial.teams": teams}, replicates=500, seed=5)
    result = run_scenario(s, RunSettings(out_dir=tmp_path / "curve", executor="serial", quiet=True))
    closed = closed_form_rows(s, estimator="cluster_means")
    for k, cf in zip(teams, closed):
        row = next(r for r in result.summary if r["trial.teams"] == k and r["estimand"] == "itt")
        truth = cluster_t_power(k, 10, 0.5, 0.05)
        assert cf["closed_form_power"] == pytest.approx(truth, rel=1e-9)
        mcse = math.sqrt(truth * (1 - truth) / row["n_sim"])
        assert abs(row["rejection"] - truth) < 3 * mcse, (k, row["rejection"], truth)


# --- fidelity at follow-up (what `crtsim validate` echoes) from the same mean-field model -------

def _all_vacant_error(s) -> float:
    """The mean field's documented error at follow-up (expected_exposure docstring): it
    overstates E[F_j(T)] by at most F̄(T) P(post vacant at T)^{s_min}; worst leadership node."""
    sessions = session_schedule(s)
    ends = [after[-1] for _, after, _ in node_post_states(s, month_grid(s, sessions), sessions)]
    return max(end[-1] / (1 - end[0]) * end[0] ** s.trial.staff_per_team.min for end in ends)


@pytest.mark.parametrize("lam, kappa", [(0.0, 0.0), (1.0, -0.5)],
                         ids=["no_leadership", "leadership"])
def test_fidelity_at_followup_matches_simulated(lam, kappa):
    """Turnover, vacancies, partial attendance, two sessions to train and refreshers: the mean
    of the replicates' mean_fidelity_int (surviving intervention teams) is within 4 MCSE of the
    mean field, plus its documented error (all posts vacant at once; quadrature < 2e-7 for
    |λ|, |κ| <= 1)."""
    s = _scenario(trial={"teams": 60, "patients_per_team": {"mean": 2, "cv": 0.0}},
                  intervention={"attendance": 0.6, "session_months": [1, 2, 3, 4],
                                "sessions_to_train": 2, "refresher_every_months": 3.0,
                                "leadership_on_attendance": lam},
                  staff_turnover={"annual_rate": 0.5, "vacancy_months": 3.0,
                                  "leadership_on_turnover": kappa}, seed=11)
    simulated = np.array([draw_replicate(s, r).diagnostics["mean_fidelity_int"]
                          for r in range(200)])
    mcse = simulated.std(ddof=1) / math.sqrt(simulated.size)
    error = _all_vacant_error(s) + (2e-7 if lam or kappa else 0.0)
    assert abs(simulated.mean() - fidelity_at_followup(s)) < 4 * mcse + error


@pytest.mark.parametrize("lam, quadrature_error", [(0.0, 1e-12), (1.0, 1e-7)])
def test_fidelity_without_turnover_is_binomial(lam, quadrature_error):
    """No turnover (the mean field is exact): a member is trained once Binomial(4 sessions,
    p_L) >= 2, so E[F_j(T)] = E_L[P(Bin(4, p_L) >= 2)]; reference by adaptive quadrature, within
    the 20-node Gauss–Hermite error of the docstring."""
    s = _scenario(intervention={"attendance": 0.6, "leadership_on_attendance": lam,
                                "session_months": [1, 2, 3, 4], "sessions_to_train": 2},
                  staff_turnover={"annual_rate": 0.0})
    density = lambda L: stats.binom.sf(1, 4, expit(logit(0.6) + lam * L)) * stats.norm.pdf(L)  # noqa: E731
    reference = integrate.quad(density, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-13)[0]
    assert fidelity_at_followup(s) == pytest.approx(reference, abs=quadrature_error)


def test_design_md_fidelity_check():
    """Attendance 1, one session at month 0, vacancy 0, turnover h: F(T) = exp(-h T/12)."""
    for h in (0.2, 0.5):
        s = _scenario(staff_turnover={"annual_rate": h, "vacancy_months": 0.0})
        assert fidelity_at_followup(s) == pytest.approx(math.exp(-h), rel=1e-9)
