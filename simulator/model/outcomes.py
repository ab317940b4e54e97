"""Follow-up scores, the recorded participation score, and the replicate's true estimands.

Model (DESIGN.md "Model specification"):
  y0_ij = μ + τ_type + β·(c_j − c̄) + γ_L L_j + u*_j + r a_ij + sqrt(1−r²) e_ij,  u*_j = c u_j + sqrt(1−c²) v_j,
  v_j ~ N(0, ρσ²), e_ij ~ N(0, (1−ρ)σ²), j the team the patient was randomised with;
  Δ_ij = δ_full · g(E_ij);  y_ij = y0_ij + Δ_ij.
Truth (the Inquiry, computed from the model, never from an estimator): ITT effect = mean Δ over
all patients randomised to intervention minus the same over control; efficacy = δ_full.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.scenario.schema import Intervention, Outcome
from simulator.model.world import World, prognostic_effects


@dataclass(frozen=True)
class Outcomes:
    untreated: np.ndarray      # (n,) y0_ij
    effect: np.ndarray         # (n,) Δ_ij
    followup: np.ndarray       # (n,) y_ij for every patient (observed or not)
    participation: np.ndarray  # (K,) recorded team participation score (0 in control teams)
    true_itt: float
    true_efficacy: float
    latent: "Latent | None" = None   # standardised components, for the other outcomes' copula


@dataclass(frozen=True)
class Latent:
    """The primary's standardised untreated follow-up components: team (K,) and patient
    (n,), each N(0, 1); ``team`` is None when the ICC is 0 (no team component)."""

    team: np.ndarray | None
    patient: np.ndarray


def dose_response(exposure: np.ndarray, kind: str, threshold: float) -> np.ndarray:
    """g(E): linear E; threshold 1{E ≥ θ}; saturating min(1, E/θ)."""
    if kind == "linear":
        return exposure
    if kind == "threshold":
        return (exposure >= threshold).astype(float)
    return np.minimum(1.0, exposure / threshold)


def untreated_followup(world: World, outcome: Outcome, rng: np.random.Generator) -> np.ndarray:
    """y0: follow-up score without intervention (cluster and individual autocorrelation)."""
    return untreated_parts(world, outcome, rng)[0]


def untreated_parts(world: World, outcome: Outcome,
                    rng: np.random.Generator) -> tuple[np.ndarray, Latent]:
    """(y0, its standardised team and patient components ``Latent``)."""
    rho, sd = outcome.icc, outcome.sd
    c, r = outcome.cluster_autocorrelation, outcome.individual_autocorrelation
    v = rng.normal(0.0, np.sqrt(rho) * sd, size=world.n_teams)
    team_followup = c * world.team_effect + np.sqrt(1.0 - c**2) * v
    e = rng.normal(0.0, np.sqrt(1.0 - rho) * sd, size=world.patient_team.shape[0])
    team_mean = outcome.mean + prognostic_effects(world.team_type, world.team_covariates, outcome) \
        + outcome.leadership_effect * world.leadership + team_followup
    y0 = team_mean[world.patient_team] + r * world.patient_deviation + np.sqrt(1.0 - r**2) * e
    patient = (r * world.patient_deviation + np.sqrt(1.0 - r**2) * e) / (np.sqrt(1.0 - rho) * sd)
    return y0, Latent(team_followup / (np.sqrt(rho) * sd) if rho > 0 else None, patient)


def recorded_participation(team_dose: np.ndarray, arm: np.ndarray, noise_sd: float,
                           rng: np.random.Generator) -> np.ndarray:
    """Measured implementation: true dose + N(0, noise²), clipped to [0, 1]; 0 in control teams."""
    noisy = team_dose + rng.normal(0.0, noise_sd, size=team_dose.shape[0])
    return np.where(arm == 1, np.clip(noisy, 0.0, 1.0), 0.0)


def itt_effect(effect: np.ndarray, randomised_arm: np.ndarray) -> float:
    """Difference in mean Δ between patients randomised to intervention and to control."""
    return float(effect[randomised_arm == 1].mean() - effect[randomised_arm == 0].mean())


def draw_outcomes(world: World, arm: np.ndarray, exposure: np.ndarray, team_dose: np.ndarray,
                  outcome: Outcome, intervention: Intervention, *,
                  rng: np.random.Generator) -> Outcomes:
    untreated, latent = untreated_parts(world, outcome, rng)
    delta = intervention.effect_at_full_implementation
    effect = delta * dose_response(exposure, intervention.dose_response, intervention.dose_threshold)
    participation = recorded_participation(team_dose, arm, intervention.measurement_noise_sd, rng)
    return Outcomes(untreated, effect, untreated + effect, participation,
                    itt_effect(effect, arm[world.patient_team]), float(delta), latent)
