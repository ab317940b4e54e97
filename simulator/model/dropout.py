"""Patient dropout before follow-up: exponential time to dropout, calibrated to a target attrition.

Hazard λ_i(t) = λ0 · exp(η_i) · exp(κ · 1{t ≥ d_i}), with η_i = strength · z_i + diff · arm_i and
z_i the standardised driving score: none (MCAR), baseline score (MAR) or follow-up score (MNAR);
d_i the month the patient's team disbanded and κ = ``disruption_effect`` (MAR only).
λ0 solves mean_i P(dropout by T) = attrition, so the marginal attrition matches the target
(exactly in expectation under MCAR, where λ0 = −ln(1 − a)/T).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from simulator.scenario.schema import Dropout


def _linear_predictor(spec: Dropout, z: np.ndarray, arm: np.ndarray) -> np.ndarray:
    eta = spec.differential_by_arm * arm
    return eta if spec.mechanism == "MCAR" else eta + spec.strength * z


def _exposure_months(months: float, disrupted: np.ndarray, log_ratio: float) -> np.ndarray:
    """∫0^T exp(κ 1{t ≥ d}) dt: months at risk, weighting the time after disruption by e^κ."""
    after = np.where(np.isnan(disrupted), 0.0, np.clip(months - disrupted, 0.0, months))
    return months + np.expm1(log_ratio) * after


def baseline_rate(target: float, weight: np.ndarray) -> float:
    """λ0 with mean(1 − exp(−λ0 w_i)) = target (per month)."""
    if target <= 0:
        return 0.0
    if weight.size and np.all(weight == weight[0]):   # everyone at equal risk (MCAR): closed form
        return float(-np.log1p(-target) / weight[0])
    gap = lambda lam: float(np.mean(-np.expm1(-lam * weight))) - target  # noqa: E731
    hi = 1.0
    while gap(hi) < 0:
        hi *= 4.0
    return brentq(gap, 0.0, hi, xtol=1e-14, rtol=1e-12)


def draw_dropout(spec: Dropout, months: float, driving_score: np.ndarray, arm: np.ndarray,
                 disrupted: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """Month of dropout for each patient (inf when still in follow-up at ``months``).

    ``driving_score`` is the standardised baseline (MAR) or follow-up (MNAR) score; ignored for MCAR.
    """
    kappa = spec.disruption_effect if spec.mechanism == "MAR" else 0.0
    rel = np.exp(_linear_predictor(spec, driving_score, arm))
    lam0 = baseline_rate(spec.attrition, rel * _exposure_months(months, disrupted, kappa))
    if lam0 == 0.0:
        return np.full(arm.shape[0], np.inf)
    target = rng.exponential(1.0, size=arm.shape[0]) / (lam0 * rel)   # in unshifted months
    d = np.where(np.isnan(disrupted), months, disrupted)   # undisrupted: no shift before T
    when = np.where(target < d, target, d + (target - d) * np.exp(-kappa))
    return np.where(when < months, when, np.inf)
