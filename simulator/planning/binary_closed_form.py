"""Closed-form power of a design point with a binary primary outcome (``crtsim power``).

clusterPower ``cpa.binary``'s formula (``binary_power``: design effect on the proportion
scale 1 + ((CV² + 1) m − 1) ρ, noncentral t with 2(k − 1) df) fed with what the scenario
implies, as ``closed_form`` does for a continuous outcome:
- k: the harmonic mean of the arm sizes; m: the mean recruited team size × (1 − attrition)
  × (1 − expected loss through disbanding); CV as given; ρ = ``outcome.icc``;
- the arms' marginal proportions: control ``outcome.control_proportion``; intervention
  E_u expit(β0 + log OR · E[g(E)] + u), the dose–response on the link scale at the mean
  dose E[g(E)] of patients randomised to intervention (mean field, ``expected_itt`` with a
  unit effect), β0 and σ_u from the control proportion and ICC (``binary_model``);
- no covariate adjustment (the binary estimators adjust for none);
- both tails counted, so that power at no effect is α, as the simulated rejection rate.
"""
from __future__ import annotations

from simulator.analysis.binary_model import expected_expit, parameters_from_design
from simulator.planning.binary_power import binary_design_effect, binary_power
from simulator.planning.derived import disband_loss_share
from simulator.planning.expected_exposure import expected_itt
from simulator.scenario.counts import intervention_count


def expected_dose(s) -> tuple[float, float]:
    """(expected exposure, expected dose gap E[g] intervention − control) of the scenario."""
    unit = s.model_copy(update={"intervention": s.intervention.model_copy(
        update={"effect_at_full_implementation": 1.0})})
    return expected_itt(unit)


def binary_closed_form_power(s, *, estimator: str | None = None) -> dict:
    """The closed-form row of one design point (module docstring); the keys of
    ``closed_form.closed_form_power`` (the ITT effect as a risk difference) and the
    proportions used in each arm."""
    t, o = s.trial, s.outcome
    n_int = intervention_count(t.teams, t.intervention_share)
    k = 2.0 * n_int * (t.teams - n_int) / t.teams
    loss = disband_loss_share(s)
    keep = (1.0 - s.dropout.attrition) * (1.0 - loss)
    exposure, dose = expected_dose(s)
    par = parameters_from_design(o.control_proportion, o.icc, o.odds_ratio_at_full_implementation)
    p_int = float(expected_expit(par.intercept + par.log_or * dose, par.sigma_u))
    m = t.patients_per_team.mean * keep
    cv = t.patients_per_team.cv
    power = binary_power(o.control_proportion, p_int, k, m, o.icc, cv=cv, alpha=s.analysis.alpha,
                         two_tailed=True)
    return {"teams_int": n_int, "teams_ctl": t.teams - n_int, "teams_per_arm": k,
            "patients_recruited": t.patients_per_team.mean, "patients_analysed": m, "cv": cv,
            "icc": o.icc, "alpha": s.analysis.alpha, "baseline_adjusted": False,
            "vif": binary_design_effect(m, o.icc, cv), "disband_loss": loss,
            "expected_exposure": exposure, "expected_dose": dose,
            "proportion_ctl": o.control_proportion, "proportion_int": p_int,
            "expected_itt_effect": p_int - o.control_proportion, "closed_form_power": power}
