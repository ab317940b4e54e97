"""GEE for a binary outcome: logit link, exchangeable working correlation, sandwich SE with
an optional small-sample correction, batched over trials. Estimand: the marginal
(population-averaged) log odds ratio of the arm, ``binary_model.true_estimands().marginal_log_or``.

Model (Liang & Zeger 1986, Biometrika 73:13): logit μ_ij = x_ij'β with x = [1, arm, covariates],
v = μ(1 − μ), working covariance V_j = φ S_j R_j S_j, S_j = diag(√v), R_j = (1 − ρ)I + ρJ.
With the whitened design X̃ = S X and Pearson residuals r = (y − μ)/√v, D_j'V_j⁻¹ D_j and
D_j'V_j⁻¹(y_j − μ_j) are (up to the factor φ(1 − ρ), which cancels) the identity-link GEE's
per-team sums on (X̃, r), with W_j = I − c_j J, c_j = ρ/(1 + (n_j − 1)ρ) (``gee.py`` docstring):

    A_j = X̃_j'X̃_j − c_j s_j s_j',  s_j = X̃_j'1,   g_j = X̃_j'r_j − c_j s_j (1'r_j).

Fisher scoring β ← β + (Σ A_j)⁻¹ Σ g_j alternates with the moment estimates of (φ, ρ) from the
Pearson residuals (N patients, P = Σ n_j(n_j − 1)/2 pairs, p = dim β, C = Σ_j Σ_{i<k} r_ij r_ik):
  - ``moments="statsmodels"`` (``Exchangeable``): φ = Σr²/(N − p), ρ = C/φ/(P − p);
  - ``moments="geepack"`` (geepack's estimating equations, src/gee2.cc): φ = Σr²/N, ρ = C/φ/P;
a negative ρ is set to 0 as in ``gee.estimate_rho``. Stops when every |Δβ| < 1e-10.

Sandwich: ``gee.sandwich`` with these A_j and g_j. H_jj = D_j A⁻¹ D_j'V_j⁻¹ and the identity
f(BC)B = B f(CB) give D_j'V_j⁻¹ (I − H_jj)^(−k) = (I − A_jA⁻¹)^(−k) D_j'V_j⁻¹, which is what
``gee.sandwich`` computes: k = 0 none (geepack's ``san.se``), 1/2 Kauermann & Carroll 2001
(JASA 96:1387), 1 Mancl & DeRouen 2001 (Biometrics 57:126; statsmodels ``bias_reduced``).

Inference: t with K − 2 − (team-level covariates) df (K analysed teams).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .binary_data import BinaryTrials, EstimateArrays, Layout, layout, t_estimates
from .binary_logistic import fit_logistic, linear_predictor, solve_spd
from .gee import CORRECTIONS, sandwich

MOMENTS = ("statsmodels", "geepack")
_STEP_TOL = 1e-10
_MAX_ITER = 100


@dataclass(frozen=True)
class BinaryGeeFit:
    """β̂ (R, p), corrected sandwich covariance (R, p, p), ρ̂ (R,), convergence (R,)."""

    beta: np.ndarray
    cov: np.ndarray
    rho: np.ndarray
    converged: np.ndarray


def design(lay: Layout) -> np.ndarray:
    """(n, p) [1, arm, covariates] of the analysed patients."""
    return np.column_stack([np.ones(lay.y.size), lay.arm[lay.group].astype(float), lay.x])


def _team_terms(lay: Layout, X: np.ndarray, beta: np.ndarray):
    """Per team (G, ...): X̃'X̃, s = X̃'1, X̃'r, 1'r, r'r at β (module docstring)."""
    mu = special.expit(linear_predictor(X, beta, lay.patient_trial))
    root = np.sqrt(mu * (1.0 - mu))
    xt, r = X * root[:, None], (lay.y - mu) / root
    xtx = lay.team_sum(xt[:, :, None] * xt[:, None, :])
    return xtx, lay.team_sum(xt), lay.team_sum(xt * r[:, None]), lay.team_sum(r), \
        lay.team_sum(r * r)


def moment_rho(lay: Layout, sr: np.ndarray, srr: np.ndarray, p: int, moments: str,
               keep_negative: bool = False):
    """(R,) ρ̂ from team sums of Pearson residuals (module docstring), set to 0 when negative
    unless ``keep_negative``; nan without pairs."""
    ss = lay.trial_sum(srr)
    cross = lay.trial_sum((sr * sr - srr) / 2.0)
    pairs = lay.trial_sum(lay.n_j * (lay.n_j - 1.0) / 2.0)
    N = lay.n_obs.astype(float)
    if moments == "statsmodels":
        rho = cross * (N - p) / (ss * (pairs - p))
        rho[pairs - p <= 0] = np.nan
    else:
        rho = cross * N / (ss * pairs)
    return rho if keep_negative else np.maximum(rho, 0.0)  # maximum keeps nan


def _weighted(lay, terms, rho):
    """(A_j, g_j) per team with c_j from the trial's ρ."""
    xtx, s, xtr, sr, _ = terms
    c = rho[lay.trial] / (1.0 + (lay.n_j - 1.0) * rho[lay.trial])
    a_j = xtx - c[:, None, None] * s[:, :, None] * s[:, None, :]
    return a_j, xtr - c[:, None] * s * sr[:, None]


def fit_gee(lay: Layout, *, correction: str = "mancl_derouen", moments: str = "statsmodels",
            keep_negative_rho: bool = False) -> BinaryGeeFit:
    """Exchangeable logit GEE of y on ``design(lay)`` for every trial (module docstring),
    started from the independence fit (logistic regression); ``keep_negative_rho`` keeps a
    negative moment ρ̂ as geepack and statsmodels do. A trial fails when the start
    or a scoring step fails, ρ̂ is undefined or ≥ 1, 100 steps do not settle, or a correction
    meets a team of full leverage."""
    X, R = design(lay), lay.n_trials
    start = fit_logistic(X, lay.y, lay.patient_trial, R)
    beta, ok, done = np.nan_to_num(start.beta), start.converged.copy(), np.zeros(R, bool)
    rho, biggest = np.zeros(R), np.ones(R)
    np.maximum.at(biggest, lay.trial, lay.n_j)   # R_j positive definite: 1 + (n_j − 1)ρ > 0
    for _ in range(_MAX_ITER):
        terms = _team_terms(lay, X, beta)
        rho = moment_rho(lay, terms[3], terms[4], X.shape[1], moments, keep_negative_rho)
        ok &= np.isfinite(rho) & (rho < 1.0) & (1.0 + (biggest - 1.0) * rho > 0)
        a_j, g_j = _weighted(lay, terms, np.where(ok, rho, 0.0))
        step, solved = solve_spd(lay.trial_sum(a_j), lay.trial_sum(g_j))
        ok &= solved & (np.abs(beta) < 50).all(axis=1)
        active = ok & ~done          # a finished trial stays put: batches do not matter
        beta = beta + np.where(active[:, None], np.nan_to_num(step), 0.0)
        done |= active & (np.abs(step) < _STEP_TOL).all(axis=1)
        if (done | ~ok).all():
            break
    ok &= done
    terms = _team_terms(lay, X, beta)
    a_j, g_j = _weighted(lay, terms, np.where(ok, rho, 0.0))
    cov = _sandwiches(lay, a_j, g_j, ok, CORRECTIONS[correction])
    ok &= np.isfinite(cov).all(axis=(1, 2))
    nan = lambda v: np.where(ok.reshape((R,) + (1,) * (v.ndim - 1)), v, np.nan)  # noqa: E731
    return BinaryGeeFit(nan(beta), nan(cov), nan(rho), ok)


def _sandwiches(lay: Layout, a_j, g_j, ok, power: float) -> np.ndarray:
    """(R, p, p) ``gee.sandwich`` trial by trial (teams of a trial are contiguous)."""
    p = a_j.shape[1]
    out = np.full((lay.n_trials, p, p), np.nan)
    bounds = np.concatenate([[0], np.cumsum(lay.n_teams)])
    for r in np.flatnonzero(ok):
        block = slice(bounds[r], bounds[r + 1])
        try:
            out[r] = sandwich(a_j[block], g_j[block], power)
        except np.linalg.LinAlgError:
            pass
    return out


def gee_binary(trials: BinaryTrials, *, alpha: float = 0.05, correction: str = "mancl_derouen",
               moments: str = "statsmodels") -> EstimateArrays:
    """Arm's marginal log OR from the exchangeable logit GEE y ~ 1 + arm + covariates, sandwich
    SE under ``correction`` ("none", "kauermann_carroll", "mancl_derouen"), t with
    K − 2 − team-level covariates df, for each trial (module docstring)."""
    if correction not in CORRECTIONS:
        raise ValueError(f"correction={correction!r}: choose one of {sorted(CORRECTIONS)}")
    if moments not in MOMENTS:
        raise ValueError(f"moments={moments!r}: choose one of {list(MOMENTS)}")
    lay = layout(trials)
    df = (lay.n_teams - 2 - lay.n_team_level).astype(float)
    usable = (lay.n1 > 0) & (lay.n0 > 0) & (df >= 1)
    with np.errstate(all="ignore"):
        fit = fit_gee(lay, correction=correction, moments=moments)
        se = np.sqrt(fit.cov[:, 1, 1])
        return t_estimates(fit.beta[:, 1], se, df, alpha, usable & fit.converged)
