"""Quantities implied by a scenario, echoed by ``crtsim validate`` before anything is simulated.

Expectations over team leadership L ~ N(0, 1) use Gauss–Hermite quadrature.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from simulator.scenario.schema import Scenario

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def design_effect(m_bar: float, cv: float, icc: float) -> float:
    """Eldridge, Ashby & Kerry (2006, IJE 35:1292): 1 + ((CV² + 1)m̄ − 1)ρ."""
    return 1.0 + ((cv**2 + 1.0) * m_bar - 1.0) * icc


def staff_retained(s: Scenario, months: float | None = None) -> float:
    """E[share of baseline staff still in post at ``months`` (default: follow-up)]
    = E_L[exp(−h e^{βL} t/12)], h the hazard in leavers per staff-year in post."""
    st = s.staff_turnover
    months = s.trial.months if months is None else months
    rate = st.annual_rate * np.exp(st.leadership_on_turnover * _NODES)
    return float(np.dot(_WEIGHTS, np.exp(-rate * months / 12.0)))


def attendance_by_leadership(s: Scenario) -> np.ndarray:
    from simulator.model.timeline.staffing import attendance_probability

    iv = s.intervention
    return attendance_probability(iv.attendance, iv.leadership_on_attendance, _NODES)


def trained_share(s: Scenario, months: float) -> np.ndarray:
    """P(a member in post since month 0 is trained by ``months``), per leadership node:
    P(Binomial(sessions held, p_j) ≥ sessions_to_train) (core sessions and refreshers)."""
    from simulator.model.timeline.staffing import session_schedule

    held = sum(1 for m in session_schedule(s) if m <= months)
    return stats.binom.sf(s.intervention.sessions_to_train - 1, held, attendance_by_leadership(s))


def expected_fidelity(s: Scenario) -> float:
    """Approximate E[F_j(T)] in intervention teams: baseline staff still in post and trained,
    over the expected share of posts filled (newcomers counted untrained; exact when there is no
    turnover, and when vacancies are 0 and there are no refreshers)."""
    st, months = s.staff_turnover, s.trial.months
    rate = st.annual_rate * np.exp(st.leadership_on_turnover * _NODES) / 12.0   # per month
    stay = np.exp(-rate * months)
    refill = 1.0 / st.vacancy_months if st.vacancy_months > 0 else np.inf
    filled = 1.0 if np.isinf(refill) else refill / (rate + refill) \
        + rate / (rate + refill) * np.exp(-(rate + refill) * months)
    return float(np.dot(_WEIGHTS, trained_share(s, months) * stay / filled))


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
        "design effect 1 + ((CV²+1)m̄ − 1)ρ": round(design_effect(t.patients_per_team.mean,
                                                                t.patients_per_team.cv,
                                                                s.outcome.icc), 4),
        "staff turnover (hazard, leavers per staff-year in post)":
            s.staff_turnover.annual_rate,
        "expected share of baseline staff who have left by month 12":
            round(1.0 - staff_retained(s, 12.0), 4),
        "expected share of baseline staff in post at follow-up": round(staff_retained(s), 4),
        "expected fidelity at follow-up (intervention teams)": round(expected_fidelity(s), 4),
    }


def _arm_counts(s: Scenario) -> str:
    from simulator.scenario.counts import intervention_count

    k = s.trial.teams
    n_int = intervention_count(k, s.trial.intervention_share)
    return f"{n_int} / {k - n_int}"
