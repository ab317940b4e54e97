"""The staff-level outcome (issue 13), measured at baseline and follow-up in the staff in post
at both times (the stayers: ``staff_records``), e.g. REFOCUS's staff recovery-promoting behaviour.

Model, for stayer i of team j (the patient model's form, one autocorrelation r for both levels):
  x_ij = μ + u_j + a_ij,   y_ij = μ + u*_j + r a_ij + sqrt(1−r²) e_ij + δ_s d_ij,
  u_j, v_j ~ N(0, ρσ²), u*_j = r u_j + sqrt(1−r²) v_j, a_ij, e_ij ~ N(0, (1−ρ)σ²);
d_ij the member's own completed dose: Σ_c w_c 1[completed c] / Σ_c w_c over the components
whose audience they are in (true weights w_c); 0 in control teams. Estimands: the ITT effect
among measured staff (mean δ_s d over intervention stayers minus the same over control
stayers), and δ_s, the effect at full dose.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from simulator.analysis.records import ObservedTrial, OutcomeTrial
from simulator.model.timeline.staff_records import StaffSpells
from simulator.scenario.staff_outcome import StaffOutcome


def own_dose(staff: StaffSpells, weights: np.ndarray) -> np.ndarray:
    """(spells,) Σ_c w_c completed_ic / Σ_c w_c over the member's own components."""
    w = np.where(staff.in_audience, np.asarray(weights, float), 0.0)
    total = w.sum(axis=1)
    return np.divide((staff.completed * w).sum(axis=1), total, out=np.zeros(total.shape),
                     where=total > 0)


def staff_label(name: str) -> str:
    return f"staff:{name}"


def staff_outcome_trial(staff: StaffSpells, arm: np.ndarray, spec: StaffOutcome,
                        weights: np.ndarray, patient_trial: ObservedTrial, *,
                        rng: np.random.Generator) -> OutcomeTrial:
    """The staff outcome of the stayers as an ``ObservedTrial`` (its rows are staff; the
    team-level fields are the patient trial's) with its truth."""
    arm = np.asarray(arm).astype(int)
    measured = staff.stayer
    team = staff.team[measured]
    k, n = arm.shape[0], team.shape[0]
    rho, sd, r = spec.icc, spec.sd, spec.autocorrelation
    u = rng.normal(0.0, np.sqrt(rho) * sd, size=k)
    v = rng.normal(0.0, np.sqrt(rho) * sd, size=k)
    a = rng.normal(0.0, np.sqrt(1.0 - rho) * sd, size=n)
    e = rng.normal(0.0, np.sqrt(1.0 - rho) * sd, size=n)
    effect = spec.effect_at_full_dose * own_dose(staff, weights)[measured] * (arm[team] == 1)
    baseline = spec.mean + u[team] + a
    followup = spec.mean + (r * u + np.sqrt(1.0 - r**2) * v)[team] + r * a \
        + np.sqrt(1.0 - r**2) * e + effect
    trial = replace(patient_trial, team=team, baseline=baseline, followup=followup)
    treated = arm[team] == 1
    itt = float(effect[treated].mean() - effect[~treated].mean()) \
        if treated.any() and (~treated).any() else float("nan")
    return OutcomeTrial(staff_label(spec.name), "continuous", trial, itt,
                        float(spec.effect_at_full_dose))
