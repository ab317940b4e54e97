"""Secondary outcomes of a replicate (issue 15): each from its own latent team and patient
components, correlated with the primary's by a Gaussian copula,
  z2 = r z1 + √(1 − r²) w,  w ~ N(0, 1) independent,
at team level (r = correlation.team) and patient level (r = correlation.patient); two
secondaries are then correlated r_a r_b through the primary. A primary with ICC 0 has no
team latent: the secondary's team latent is then w alone. The dose–response g(E) acts on
every outcome as on the primary (on the link scale for binary). Every secondary draws from
its own stream (r, "secondary_outcomes", name), so adding one never changes another.

Continuous secondary: y0 = mean + τ_type + β·c + γ_L L_j + σ(√ρ z2_j + √(1 − ρ) z2_ij),
baseline from its own latents b_j = c z2_j + √(1 − c²) w'_j, b_ij = r z2_ij + √(1 − r²) w'_ij
(c, r its cluster / individual autocorrelation), y = y0 + δ g(E); binary:
``binary_outcome.py``; cost: ``costs.py``.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from simulator.analysis.binary_data import BinaryTrials
from simulator.analysis.records import ObservedTrial, OutcomeTrial
from simulator.model.binary_outcome import binary_parameters, binary_truths, draw_binary_outcome
from simulator.model.costs import draw_costs
from simulator.model.outcomes import Latent, itt_effect
from simulator.model.world import World, prognostic_effects


def correlated(primary: np.ndarray | None, r: float, size: int,
               rng: np.random.Generator) -> np.ndarray:
    """r·primary + √(1 − r²)·w (just w when the primary has no such component)."""
    w = rng.standard_normal(size)
    return w if primary is None else r * primary + np.sqrt(1.0 - r**2) * w


def secondary_latent(latent: Latent, correlation, n_teams: int,
                     rng: np.random.Generator) -> Latent:
    team = correlated(latent.team, correlation.team, n_teams, rng)
    return Latent(team, correlated(latent.patient, correlation.patient, latent.patient.size, rng))


def continuous_scores(o, world: World, z: Latent, rng) -> tuple[np.ndarray, np.ndarray]:
    """(baseline, untreated follow-up) of a continuous secondary (module docstring)."""
    team, k = world.patient_team, world.n_teams
    c, r, rho = o.cluster_autocorrelation, o.individual_autocorrelation, o.icc
    shift = o.mean + prognostic_effects(world.team_type, world.team_covariates, o)
    base_team = c * z.team + np.sqrt(1.0 - c**2) * rng.standard_normal(k)
    base_patient = r * z.patient + np.sqrt(1.0 - r**2) * rng.standard_normal(team.size)
    score = lambda t, p: o.sd * (np.sqrt(rho) * t[team] + np.sqrt(1.0 - rho) * p)  # noqa: E731
    return shift[team] + score(base_team, base_patient), \
        shift[team] + o.leadership_effect * world.leadership[team] + score(z.team, z.patient)


def secondary_trial(o, label: str, world: World, arm: np.ndarray, dose: np.ndarray,
                    observed: np.ndarray, trial: ObservedTrial, latent: Latent,
                    rng: np.random.Generator) -> OutcomeTrial:
    """The OutcomeTrial of one ``secondary_outcomes`` entry."""
    team, patient_arm = world.patient_team, arm[world.patient_team]
    z = secondary_latent(latent, o.correlation, world.n_teams, rng)
    if o.type == "binary":
        par = binary_parameters(o.control_proportion, o.icc, o.odds_ratio_at_full_implementation)
        y = draw_binary_outcome(par, dose, team, z.team, z.patient)
        return binary_outcome_trial(label, trial, np.where(observed, y, np.nan),
                                    binary_truths(par, dose, patient_arm))
    if o.type == "cost":
        baseline, followup = draw_costs(o, dose, team, z.team, z.patient, rng)
    else:
        baseline, untreated = continuous_scores(o, world, z, rng)
        followup = untreated + o.effect_at_full_implementation * dose
    effect = o.effect_at_full_implementation * dose
    observed_trial = replace(trial, baseline=baseline, followup=np.where(observed, followup, np.nan))
    return OutcomeTrial(label, o.type, observed_trial, itt_effect(effect, patient_arm),
                        float(o.effect_at_full_implementation))


def binary_outcome_trial(label: str, trial: ObservedTrial, y: np.ndarray,
                         truths: dict[str, tuple[float, float]]) -> OutcomeTrial:
    """A binary OutcomeTrial: the trial's teams and arms with outcome y (nan: not observed);
    its default truth the risk difference."""
    data = BinaryTrials.single(trial.team, trial.arm, y)
    return OutcomeTrial(label, "binary", data, *truths["risk_difference"], estimand_truths=truths)
