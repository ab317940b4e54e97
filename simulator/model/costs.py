"""Costs per patient: gamma with a multiplicative team effect and a correlated baseline cost.

Model (control arm; m the mean cost, c its coefficient of variation, ρ the ICC on the cost
scale, z_j / z_ij the outcome's standardised team / patient latents):
  C0_ij = m · T_j · G_ij,  T_j = exp(σ_T z_j − σ_T²/2) (lognormal, mean 1),
  G_ij = F⁻¹_Gamma(k, 1/k)(Φ(z_ij)) (gamma, mean 1, variance 1/k).
With Var T = s_T², Var G = s_G² independent, Var C0 = m²[(1 + s_T²)(1 + s_G²) − 1] and the
within-team covariance is m² s_T², so ICC = s_T² / c² and CV = c give
  s_T² = ρ c², σ_T² = log(1 + s_T²), s_G² = (1 + c²) / (1 + s_T²) − 1, k = 1 / s_G².
Baseline cost B_ij = m · T_j · G'_ij, G' from the patient latent r z_ij + √(1 − r²) w_ij
(r = ``baseline_correlation``, a Gaussian copula). The intervention scales a patient's cost by
1 + δ g(E_ij) / m, so its expected cost changes by δ g(E_ij) pounds: the ITT truth is the
difference in mean δ g(E) between the arms, in £, as for a continuous outcome.
"""
from __future__ import annotations

import numpy as np
from scipy import special


def cost_scales(mean: float, cv: float, icc: float) -> tuple[float, float]:
    """(σ_T, gamma shape k) for the cost model (module docstring)."""
    s_team = icc * cv**2
    s_patient = (1.0 + cv**2) / (1.0 + s_team) - 1.0
    return float(np.sqrt(np.log1p(s_team))), 1.0 / s_patient


def gamma_from_latent(z: np.ndarray, shape: float) -> np.ndarray:
    """Gamma(shape, scale 1/shape) quantiles of Φ(z): mean 1, variance 1/shape."""
    return special.gammaincinv(shape, special.ndtr(z)) / shape


def draw_costs(cost, dose: np.ndarray, team: np.ndarray, team_latent: np.ndarray,
               patient_latent: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """((n,) baseline cost, (n,) follow-up cost) in £ (module docstring); ``cost`` is a
    ``secondary_outcomes`` entry of type cost."""
    sigma_team, shape = cost_scales(cost.mean, cost.cv, cost.icc)
    multiplier = np.exp(sigma_team * team_latent - sigma_team**2 / 2.0)[team]
    r = cost.baseline_correlation
    baseline_latent = r * patient_latent + np.sqrt(1.0 - r**2) * rng.standard_normal(team.size)
    baseline = cost.mean * multiplier * gamma_from_latent(baseline_latent, shape)
    untreated = cost.mean * multiplier * gamma_from_latent(patient_latent, shape)
    return baseline, untreated * (1.0 + cost.effect_at_full_implementation * dose / cost.mean)
