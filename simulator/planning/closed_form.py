"""Closed-form power of a scenario's design point: the simulator's forces mapped onto the formula.

The formula is that of ``simulator.power`` (clusterPower's noncentral t, analytic_power.md), fed
with what the scenario implies:

- Teams: k = 2 k1 k0 / (k1 + k0), the harmonic mean of the two arm sizes (14 vs 13 -> 13.48).
- Team size: m̄ analysed = m̄ (1 - attrition) (1 - expected loss through disbanding,
  ``derived.disband_loss_share``); the CV of the recruited sizes is kept as given.
  VIF: Eldridge, Ashby & Kerry (2006, IJE 35:1292) when CV > 0, 1 + (m̄ - 1)ρ when CV = 0.
- Baseline adjustment (estimators mixed_ancova and cluster_summary adjust for the baseline
  score): VIF × (1 - r²) of Teerenstra et al. (2012, Stat Med 31:2169), with the individual and
  cluster autocorrelations.
- Fixed team-type effects τ and the leadership effect γ_L are extra between-team variance: the
  ICC, σ and cluster autocorrelation used are those of the follow-up score including them
  (τ is in both baseline and follow-up, γ_L L_j in follow-up only).  τ is dropped when the
  analysis adjusts for team type as an allocation stratum.
- Implementation dilution: the effect is the expected ITT effect δ_full E[g(E)] of
  ``expected_exposure.expected_itt`` (a deterministic mean-field computation of the exposure E
  from turnover, vacancies, sessions, attendance and disbanding; see that module).
- The test is two-sided (wrong-direction rejections counted) so that power at zero effect is α,
  as the simulated rejection rate is.
"""
from __future__ import annotations

import math

import numpy as np

from simulator.scenario.counts import intervention_count
from simulator.planning.derived import disband_loss_share
from simulator.planning.expected_exposure import expected_itt
from simulator.planning.power import BaselineCorrelations, solve_power
from simulator.scenario.schema import Scenario

BASELINE_ADJUSTED = ("mixed_ancova", "cluster_summary")


def type_variance(s: Scenario) -> float:
    """Variance over teams of the fixed team-type effects τ (0 if the analysis adjusts for type)."""
    a = s.allocation
    adjusted = s.analysis.adjust_for_strata and "team_type" in a.strata \
        and a.method in ("stratified", "minimisation", "matched_pairs")
    shares = s.trial.team_types
    tau = np.array([s.outcome.team_type_effects.get(t, 0.0) for t in shares])
    w = np.array(list(shares.values())) / sum(shares.values())
    return 0.0 if adjusted else float(np.dot(w, tau**2) - np.dot(w, tau) ** 2)


def variance_components(s: Scenario) -> dict[str, float]:
    """Follow-up ICC and SD, and cluster autocorrelation, with τ and γ_L folded in."""
    o = s.outcome
    team = o.icc * o.sd**2
    tau = type_variance(s)
    between_x, between_y = team + tau, team + tau + o.leadership_effect**2
    total = between_y + (1.0 - o.icc) * o.sd**2
    denominator = math.sqrt(between_x * between_y)
    c = (o.cluster_autocorrelation * team + tau) / denominator if denominator > 0 else 0.0
    return {"icc": between_y / total, "sd": math.sqrt(total), "cluster_autocorrelation": c}


def adjusts_for_baseline(s: Scenario, estimator: str | None) -> bool:
    """Whether the (first, by default) estimator adjusts for the baseline score."""
    name = estimator or s.analysis.estimators[0]
    return name in BASELINE_ADJUSTED


def closed_form_power(s: Scenario, *, estimator: str | None = None) -> dict:
    """Closed-form power of one design point, with every input used (see module docstring);
    a binary primary: ``binary_closed_form``."""
    if s.outcome.type == "binary":
        from simulator.planning.binary_closed_form import binary_closed_form_power
        return binary_closed_form_power(s, estimator=estimator)
    t = s.trial
    n_int = intervention_count(t.teams, t.intervention_share)
    k = 2.0 * n_int * (t.teams - n_int) / t.teams
    loss = disband_loss_share(s)
    keep = (1.0 - s.dropout.attrition) * (1.0 - loss)
    exposure, effect = expected_itt(s)
    vc = variance_components(s)
    adjusted = adjusts_for_baseline(s, estimator)
    baseline = BaselineCorrelations(s.outcome.individual_autocorrelation,
                                    vc["cluster_autocorrelation"]) if adjusted else None
    cv = t.patients_per_team.cv
    sol = solve_power(effect=effect, teams_per_arm=k, patients_per_team=t.patients_per_team.mean,
                      power=None, icc=vc["icc"], sd=vc["sd"], alpha=s.analysis.alpha, cv=cv,
                      method="eldridge" if cv > 0 else "equal", baseline_correlations=baseline,
                      attrition=1.0 - keep, two_tailed=True)
    return {"teams_int": n_int, "teams_ctl": t.teams - n_int, "teams_per_arm": k,
            "patients_recruited": t.patients_per_team.mean,
            "patients_analysed": t.patients_per_team.mean * keep, "cv": cv,
            "icc": vc["icc"], "sd": vc["sd"], "alpha": s.analysis.alpha,
            "baseline_adjusted": adjusted, "vif": sol.variance_inflation,
            "disband_loss": loss, "expected_exposure": exposure,
            "expected_itt_effect": effect, "closed_form_power": sol.power}


def closed_form_rows(scenario: Scenario, *, estimator: str | None = None) -> list[dict]:
    """One row per design point: the swept values, then every closed-form input and the power."""
    from simulator.scenario.files import design_points

    return [{**point.swept, **closed_form_power(point.scenario, estimator=estimator)}
            for point in design_points(scenario)]


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def curve_values(values, n: int = 25) -> list:
    """A finer grid between the smallest and largest swept value (integers stay integers)."""
    if not _numeric(values) or len(set(values)) < 2:
        return list({repr(v): v for v in values}.values())   # values may be lists (unhashable)
    grid = np.linspace(min(values), max(values), n)
    if all(isinstance(v, int) for v in values):
        return sorted({int(round(x)) for x in grid} | set(values))
    return sorted({float(x) for x in grid} | {float(v) for v in values})


def closed_form_curve(scenario: Scenario, *, estimator: str | None = None,
                      n: int = 25) -> list[dict]:
    """Closed-form power on a fine grid of the first swept key, for every combination of the
    others (values the scenario rejects are skipped).  No sweep: the single design point."""
    from simulator.scenario.files import ScenarioError, design_points, parse_scenario, set_dotted

    points = design_points(scenario)
    if not scenario.sweep:
        return closed_form_rows(scenario, estimator=estimator)
    key, rows = next(iter(scenario.sweep)), []
    seen = {}
    for point in points:
        rest = tuple((k, v) for k, v in point.swept.items() if k != key)
        seen.setdefault(repr(rest), (rest, point))
    for rest, point in seen.values():
        base = point.scenario.model_dump(mode="json")
        for x in curve_values(list(scenario.sweep[key]), n):
            try:
                s = parse_scenario(set_dotted(base, key, x))
            except ScenarioError:
                continue
            rows.append({**dict(rest), key: x,
                         "closed_form_power": closed_form_power(s, estimator=estimator)[
                             "closed_form_power"]})
    return rows
