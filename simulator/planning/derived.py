"""Quantities implied by a scenario, echoed by ``crtsim validate`` before anything is simulated.

Each comes from the planning model that ``crtsim power`` uses, never from a second
approximation: the design effect is ``power.design_effect`` (Eldridge, Ashby & Kerry 2006) and
the fidelity at follow-up is the mean-field post-state chain of ``expected_exposure`` (the
model behind the expected ITT effect of ``crtsim power``).
"""
from __future__ import annotations

import math

import numpy as np

from simulator.planning.expected_exposure import expected_itt, fidelity_at_followup
from simulator.planning.power import design_effect
from simulator.scenario.counts import intervention_count
from simulator.scenario.schema import Scenario

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def staff_retained(s: Scenario, months: float | None = None) -> float:
    """E[share of baseline staff still in post at ``months`` (default: follow-up)]
    = E_L[exp(−h e^{κL} t/12)], h the hazard in leavers per staff-year in post (DESIGN.md
    "Staff turnover"); L ~ N(0, 1) by 40-node Gauss–Hermite quadrature (no other part of the
    planning model tracks baseline staff)."""
    st = s.staff_turnover
    months = s.trial.months if months is None else months
    rate = st.annual_rate * np.exp(st.leadership_on_turnover * _NODES)
    return float(np.dot(_WEIGHTS, np.exp(-rate * months / 12.0)))


def disband_loss_share(s: Scenario) -> float:
    """Expected share of patients lost (not transferred) through team disbanding."""
    rc = s.reconfiguration
    p_random = 1.0 - math.exp(-rc.disband_rate_per_team_year * s.trial.months / 12.0)
    p_team = min(1.0, p_random + sum(ev.teams for ev in rc.scheduled) / s.trial.teams)
    return p_team * (1.0 - rc.patient_transfer_probability)


def derived_quantities(s: Scenario) -> dict[str, float]:
    t = s.trial
    randomised = t.teams * t.patients_per_team.mean
    kept = (1.0 - disband_loss_share(s)) * (1.0 - s.dropout.attrition)
    return {
        "teams (intervention / control)": _arm_counts(s),
        "expected patients randomised": round(randomised, 1),
        "expected patients analysed": round(randomised * kept, 1),
        "design effect 1 + ((CV²+1)m̄ − 1)ρ": round(design_effect(
            t.patients_per_team.mean, s.outcome.icc, t.patients_per_team.cv, "eldridge"), 4),
        "staff turnover (hazard, leavers per staff-year in post)":
            s.staff_turnover.annual_rate,
        "expected share of baseline staff who have left by month 12":
            round(1.0 - staff_retained(s, 12.0), 4),
        "expected share of baseline staff in post at follow-up": round(staff_retained(s), 4),
        "expected fidelity at follow-up (intervention teams)": round(fidelity_at_followup(s), 4),
        **time_quantities(s),
    }


def time_quantities(s: Scenario) -> dict[str, float]:
    """Echoes of the follow-up-length keys (issue 14), only when a scenario sets them."""
    out = {}
    d, iv, months = s.dropout, s.intervention, s.trial.months
    if d.rate_per_year is not None:
        out["dropout by follow-up 1 − exp(−rate × T/12)"] = round(d.attrition, 4)
    if iv.effect_lag_months > 0:
        out["share of follow-up whose fidelity counts (T − L)/T"] = \
            round((months - iv.effect_lag_months) / months, 4)
        _, effect = expected_itt(s)
        out["expected ITT effect, closed form (points)"] = round(effect, 4)
    return out


def _arm_counts(s: Scenario) -> str:
    k = s.trial.teams
    n_int = intervention_count(k, s.trial.intervention_share)
    return f"{n_int} / {k - n_int}"
