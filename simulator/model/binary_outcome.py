"""A binary outcome of a replicate: random-intercept logistic on the latent scale, with the
dose–response acting on the link scale, and the true value of each binary estimand.

Model (team j, patient i; ``analysis/binary_model.py`` for the ICC conversion):
  logit π_ij = β0 + σ_u z_j + δ_full · g(E_ij),  y_ij = 1{Φ(z_ij) < π_ij},
z_j, z_ij the outcome's standardised team and patient latents (N(0, 1); correlated with the
primary's by a Gaussian copula, ``secondary_outcomes.py``): Φ(z_ij) is uniform, so y_ij is
Bernoulli(π_ij) given the team. β0 and σ_u come from the control arm's marginal proportion
and the proportion-scale ICC (``parameters_from_design``).

Truths (the Inquiry, by Gauss–Hermite integration over the team effect):
  p_i = E_z expit(β0 + σ_u z + δ g_i), p1 / p0 the means of p_i over patients randomised to
  intervention / control;
  risk difference p1 − p0 (cluster_summary); marginal log OR logit p1 − logit p0
  (gee_robust); conditional log OR b(p1) − b(p0), b(p) the intercept whose team-averaged
  proportion is p (``intercept_for_proportion``): the constant conditional effect that gives
  the same arm proportions (glmm; = δ_full·g when exposure is the same for everyone).
Efficacy: the same quantities with g = 1 in the intervention arm and 0 in control.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special

from simulator.analysis.binary_model import (BinaryParameters, expected_expit,
                                             intercept_for_proportion, parameters_from_design,
                                             true_estimands)

ESTIMANDS = ("risk_difference", "marginal_log_or", "conditional_log_or")


@lru_cache(maxsize=64)
def binary_parameters(control_proportion: float, icc: float, odds_ratio: float) -> BinaryParameters:
    """β0, σ_u, δ of a binary outcome (cached: the same for every replicate of a point)."""
    return parameters_from_design(control_proportion, icc, odds_ratio)


def draw_binary_outcome(par: BinaryParameters, dose: np.ndarray, team: np.ndarray,
                        team_latent: np.ndarray | None, patient_latent: np.ndarray) -> np.ndarray:
    """(n,) 0/1 outcome from the latents (module docstring); ``dose`` is g(E_ij)."""
    u = par.sigma_u * team_latent[team] if team_latent is not None else 0.0
    eta = par.intercept + u + par.log_or * dose
    return (special.ndtr(patient_latent) < special.expit(eta)).astype(float)


def _arm_estimands(par: BinaryParameters, p1: float, p0: float) -> dict[str, float]:
    return {"risk_difference": p1 - p0,
            "marginal_log_or": float(special.logit(p1) - special.logit(p0)),
            "conditional_log_or": intercept_for_proportion(p1, par.sigma_u)
            - intercept_for_proportion(p0, par.sigma_u)}


def binary_truths(par: BinaryParameters, dose: np.ndarray,
                  randomised_arm: np.ndarray) -> dict[str, tuple[float, float]]:
    """estimand -> (ITT truth, efficacy truth) for one replicate (module docstring)."""
    levels, index = np.unique(dose, return_inverse=True)      # few distinct doses, often
    # Means as p(no dose) + mean excess, so that no effect gives exactly equal proportions.
    values = expected_expit(par.intercept + par.log_or * np.append(levels, 0.0), par.sigma_u)
    untreated = float(values[-1])
    excess = values[:-1][index] - untreated
    itt = _arm_estimands(par, untreated + float(excess[randomised_arm == 1].mean()),
                         untreated + float(excess[randomised_arm == 0].mean()))
    full = true_estimands(par.intercept, par.sigma_u, par.log_or)
    efficacy = {"risk_difference": full.risk_difference, "marginal_log_or": full.marginal_log_or,
                "conditional_log_or": full.conditional_log_or}
    return {k: (itt[k], efficacy[k]) for k in ESTIMANDS}
