"""Adaptive Gauss–Hermite quadrature (AGQ) of the random-intercept logistic likelihood, for
every team of every trial at once.

Team j of trial r, θ = (β, σ): with η_ij(z) = x_ij'β + σz,

    L_j(θ) = ∫ exp(h_j(z)) dz / √(2π),   h_j(z) = Σ_i [y_ij η_ij(z) − log(1 + e^η_ij(z))] − z²/2.

h_j is strictly concave. Its mode ẑ_j (Newton steps on h_j' = σ Σ_i (y − μ) − z with
−h_j'' = σ² Σ_i μ(1 − μ) + 1) and curvature give the scale s_j = (−h_j''(ẑ_j))^(−1/2); the
Q-point Gauss–Hermite rule (t_k, ω_k) for ∫ e^(−t²) f(t) dt on z = ẑ_j + √2 s_j t gives

    log L_j ≈ log(s_j/√π) + log Σ_k ω_k e^(t_k²) exp(h_j(b_jk)),   b_jk = ẑ_j + √2 s_j t_k,

Liu & Pierce 1994 (Biometrika 81:624); Pinheiro & Bates 1995 (JCGS 4:12). It is the
approximation ``lme4::glmer(nAGQ = Q)`` maximises (Q = 1 is the Laplace approximation).

Derivatives hold the nodes b_jk fixed (the exact integral does not depend on where the nodes
sit, so this differentiates the integral up to the quadrature error): with posterior weights
π_jk ∝ ω_k e^(t_k²) exp(h_j(b_jk)) and ∇ℓ_ijk = (y_ij − μ_ijk)(x_ij, b_jk),

    ∇ log L_j = Σ_k π_jk G_jk,   G_jk = Σ_i ∇ℓ_ijk,
    ∇² log L_j = Σ_k π_jk (H_jk + G_jk G_jk') − ∇log L_j ∇log L_j',
    H_jk = −Σ_i μ_ijk(1 − μ_ijk) (x_ij, b_jk)(x_ij, b_jk)'.

The optimiser needs the gradient of the approximation itself, whose nodes move with θ
(``node_motion``): from the mode condition h_j'(ẑ_j) = 0, dẑ_j/dθ = −∂_θh_j'/h_j'',
d log s_j/dθ = −½ (∂_θh_j'' + h_j''' dẑ_j/dθ) / h_j'' (all at ẑ_j) and
db_jk/dθ = dẑ_j/dθ + √2 t_k s_j d log s_j/dθ, so that

    d log L_j/dθ = d log s_j/dθ + Σ_k π_jk [∂_θ h_j(b_jk) + h_j'(b_jk) db_jk/dθ],

with r = y − μ, w = μ(1 − μ): h' = σ Σ r − z, h'' = −σ² Σ w − 1, h''' = −σ³ Σ w(1 − 2μ),
∂_β h' = −σ Σ w x, ∂_σ h' = Σ r − σ z Σ w, ∂_β h'' = −σ² Σ w(1 − 2μ) x,
∂_σ h'' = −2σ Σ w − σ² z Σ w(1 − 2μ). The fixed-node Hessian serves as the (very close)
curvature for the Newton steps.

Shapes: patients (n,), teams (G,), nodes (Q,), parameters P = p + 1 (β then σ).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special

from .binary_data import Layout
from .binary_logistic import linear_predictor

_MODE_TOL = 1e-11
_MODE_ITER = 60


@lru_cache(maxsize=8)
def hermite_rule(q: int) -> tuple[np.ndarray, np.ndarray]:
    """(t_k, log ω_k + t_k²) of the q-point Gauss–Hermite rule for weight e^(−t²)."""
    t, w = np.polynomial.hermite.hermgauss(q)
    return t, np.log(w) + t * t


@dataclass(frozen=True)
class Quadrature:
    """Per team: mode ẑ (G,), scale s (G,), nodes b (G, Q); per trial log-likelihood (R,)."""

    mode: np.ndarray
    scale: np.ndarray
    nodes: np.ndarray
    loglik: np.ndarray
    log_terms: np.ndarray  # (G, Q) log ω_k e^(t_k²) exp(h_j(b_jk))


def team_modes(lay: Layout, offset: np.ndarray, sigma: np.ndarray,
               start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ẑ_j, −h_j''(ẑ_j)) for every team: Newton from ``start``, steps capped at 2."""
    sig_i, sig_j = sigma[lay.patient_trial], sigma[lay.trial]
    z = start.copy()
    for _ in range(_MODE_ITER):
        mu = special.expit(offset + sig_i * z[lay.group])
        curv = sig_j**2 * lay.team_sum(mu * (1.0 - mu)) + 1.0
        step = np.clip((sig_j * lay.team_sum(lay.y - mu) - z) / curv, -2.0, 2.0)
        z = z + step
        if not np.abs(step).max(initial=0.0) > _MODE_TOL:
            break
    mu = special.expit(offset + sig_i * z[lay.group])
    return z, sig_j**2 * lay.team_sum(mu * (1.0 - mu)) + 1.0


def quadrature(lay: Layout, X: np.ndarray, beta: np.ndarray, sigma: np.ndarray, q: int,
               start: np.ndarray) -> Quadrature:
    """AGQ log-likelihood of each trial at (β (R, p), σ (R,)), modes started at ``start``."""
    t, log_w = hermite_rule(q)
    offset = linear_predictor(X, beta, lay.patient_trial)
    mode, curv = team_modes(lay, offset, sigma, start)
    scale = 1.0 / np.sqrt(curv)
    nodes = mode[:, None] + np.sqrt(2.0) * scale[:, None] * t[None, :]
    eta = offset[:, None] + sigma[lay.patient_trial, None] * nodes[lay.group]
    sign = 2.0 * lay.y[:, None] - 1.0
    ll = lay.team_sum(np.log(special.expit(sign * eta)))     # log P(y | b), y ∈ {0, 1}
    log_terms = ll - nodes**2 / 2.0 + log_w[None, :]
    team_ll = np.log(scale / np.sqrt(np.pi)) + special.logsumexp(log_terms, axis=1)
    return Quadrature(mode, scale, nodes, lay.trial_sum(team_ll), log_terms)


def derivatives(lay: Layout, X: np.ndarray, beta: np.ndarray, sigma: np.ndarray,
                quad: Quadrature) -> tuple[np.ndarray, np.ndarray]:
    """(gradient (R, P), Hessian (R, P, P)) of the AGQ log-likelihood in (β, σ), nodes fixed
    (module docstring)."""
    p, b = X.shape[1], quad.nodes
    post = special.softmax(quad.log_terms, axis=1)                        # (G, Q)
    eta = (linear_predictor(X, beta, lay.patient_trial)[:, None]
           + sigma[lay.patient_trial, None] * b[lay.group])
    mu = special.expit(eta)
    resid, w = lay.y[:, None] - mu, mu * (1.0 - mu)                        # (n, Q)
    grad_k = np.concatenate([lay.team_sum(resid[:, :, None] * X[:, None, :]),
                             (lay.team_sum(resid) * b)[:, :, None]], axis=2)   # (G, Q, P)
    hess_k = np.empty(grad_k.shape + (p + 1,))
    for a in range(p):
        wa = w * X[:, a, None]
        for c in range(a, p):
            hess_k[:, :, a, c] = hess_k[:, :, c, a] = -lay.team_sum(wa * X[:, c, None])
        hess_k[:, :, a, p] = hess_k[:, :, p, a] = -lay.team_sum(wa) * b
    hess_k[:, :, p, p] = -lay.team_sum(w) * b * b
    grad_j = np.einsum("gk,gka->ga", post, grad_k)
    outer = hess_k + grad_k[:, :, :, None] * grad_k[:, :, None, :]
    hess_j = np.einsum("gk,gkab->gab", post, outer) - grad_j[:, :, None] * grad_j[:, None, :]
    slope = sigma[lay.trial, None] * lay.team_sum(resid) - b                  # h'(b_jk)
    dz, dlogs = node_motion(lay, X, beta, sigma, quad)
    t, _ = hermite_rule(b.shape[1])
    db = dz[:, None, :] + np.sqrt(2.0) * (t[None, :, None] * quad.scale[:, None, None]
                                          * dlogs[:, None, :])                 # (G, Q, P)
    exact_j = grad_j + dlogs + np.einsum("gk,gk,gka->ga", post, slope, db)
    return lay.trial_sum(exact_j), lay.trial_sum(hess_j)


def node_motion(lay: Layout, X: np.ndarray, beta: np.ndarray, sigma: np.ndarray,
                quad: Quadrature) -> tuple[np.ndarray, np.ndarray]:
    """(dẑ_j/dθ, d log s_j/dθ), each (G, P), from the mode condition (module docstring)."""
    z, sig = quad.mode, sigma[lay.trial]
    mu = special.expit(linear_predictor(X, beta, lay.patient_trial)
                       + sigma[lay.patient_trial] * z[lay.group])
    w = mu * (1.0 - mu)
    w3 = w * (1.0 - 2.0 * mu)
    sw, sw3 = lay.team_sum(w), lay.team_sum(w3)
    h2 = -(sig**2) * sw - 1.0
    h3 = -(sig**3) * sw3
    dh1 = np.column_stack([-sig[:, None] * lay.team_sum(w[:, None] * X),
                           lay.team_sum(lay.y - mu) - sig * z * sw])
    dh2 = np.column_stack([-(sig**2)[:, None] * lay.team_sum(w3[:, None] * X),
                           -2.0 * sig * sw - sig**2 * z * sw3])
    dz = -dh1 / h2[:, None]
    return dz, -0.5 * (dh2 + h3[:, None] * dz) / h2[:, None]
