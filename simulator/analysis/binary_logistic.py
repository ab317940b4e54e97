"""Ordinary logistic regression for many trials at once (Newton–Raphson = IRLS, McCullagh &
Nelder 1989, §4.4), and batched small linear algebra shared by the binary estimators.

Patients of all trials are stacked; trial r's coefficients are row r of β (R, p). Each
Newton step solves trial r's own p × p system, so a trial's answer does not depend on which
trials share its batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

_STEP_TOL = 1e-10   # max |Newton step| at which a fit has converged
_MAX_ITER = 60


@dataclass(frozen=True)
class LogisticFit:
    """β̂ (R, p), (X'WX)⁻¹ at β̂ (R, p, p) and convergence (R,); nan rows where failed."""

    beta: np.ndarray
    cov: np.ndarray
    converged: np.ndarray


def per_trial_gram(X: np.ndarray, w: np.ndarray, trial: np.ndarray, R: int) -> np.ndarray:
    """(R, p, p) Σ_i w_i x_i x_i' over each trial's patients (one bincount per entry)."""
    p = X.shape[1]
    out = np.empty((R, p, p))
    for a in range(p):
        for b in range(a, p):
            out[:, a, b] = out[:, b, a] = np.bincount(trial, w * X[:, a] * X[:, b], R)
    return out


def per_trial_vector(X: np.ndarray, v: np.ndarray, trial: np.ndarray, R: int) -> np.ndarray:
    """(R, p) Σ_i v_i x_i over each trial's patients."""
    return np.stack([np.bincount(trial, v * col, R) for col in X.T], axis=1).reshape(R, -1)


def solve_spd(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, ok) with A_r x_r = b_r for each r where A_r is positive definite (Cholesky by
    eigenvalues: a batch with one bad matrix must not fail the others); x = nan where not."""
    lam = np.linalg.eigvalsh(A)
    ok = np.isfinite(lam).all(axis=1) & (lam[:, 0] > 1e-12 * np.maximum(lam[:, -1], 1e-300))
    safe = np.where(ok[:, None, None], A, np.eye(A.shape[1]))
    x = np.linalg.solve(safe, b[..., None])[..., 0]
    return np.where(ok[:, None], x, np.nan), ok


def inverse_spd(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A⁻¹, ok) per matrix, nan where A_r is not numerically positive definite."""
    p = A.shape[1]
    eye = np.broadcast_to(np.eye(p), A.shape)
    cols, ok = zip(*(solve_spd(A, eye[:, :, k]) for k in range(p)))
    return np.stack(cols, axis=2), ok[0]


def linear_predictor(X: np.ndarray, beta: np.ndarray, trial: np.ndarray) -> np.ndarray:
    """(n,) x_i'β_{trial(i)}."""
    return np.einsum("ip,ip->i", X, beta[trial])


def fit_logistic(X: np.ndarray, y: np.ndarray, trial: np.ndarray, R: int,
                 start: np.ndarray | None = None) -> LogisticFit:
    """Maximum-likelihood logistic regression of y on X separately for each trial.

    Newton steps from β = 0 (or ``start``) until every |step| < 1e-10; a trial fails (nan,
    converged False) when X'WX is singular, the estimates diverge (separation) or 60 steps
    do not settle.
    """
    p = X.shape[1]
    beta = np.zeros((R, p)) if start is None else np.array(start, float)
    active = np.ones(R, bool)
    done = np.zeros(R, bool)
    with np.errstate(all="ignore"):
        for _ in range(_MAX_ITER):
            mu = special.expit(linear_predictor(X, beta, trial))
            info = per_trial_gram(X, mu * (1.0 - mu), trial, R)
            step, ok = solve_spd(info, per_trial_vector(X, y - mu, trial, R))
            active &= ok & (np.abs(beta) < 50).all(axis=1)
            moving = active & ~done      # a finished trial stays put: batches do not matter
            beta = np.where(active[:, None], beta + np.where(moving[:, None],
                                                             np.nan_to_num(step), 0.0), np.nan)
            done |= moving & (np.abs(step) < _STEP_TOL).all(axis=1)
            if (done | ~active).all():
                break
        mu = special.expit(linear_predictor(X, np.nan_to_num(beta), trial))
        cov, ok = inverse_spd(per_trial_gram(X, mu * (1.0 - mu), trial, R))
    good = done & active & ok
    return LogisticFit(np.where(good[:, None], beta, np.nan),
                       np.where(good[:, None, None], cov, np.nan), good)
