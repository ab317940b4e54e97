"""Random-intercept logistic GLMM by maximum likelihood with adaptive Gauss–Hermite quadrature
(``binary_agq``), batched over trials. Estimand: the conditional log odds ratio δ of the arm
(``binary_model.true_estimands().conditional_log_or``).

Model: logit P(y_ij = 1 | u_j) = x_ij'β + u_j, u_j ~ N(0, σ²), x = [1, arm, covariates].
Maximisation over θ = (β, σ), per trial. The likelihood is even in σ (u and −u have the same
distribution), smooth through σ = 0, and its maximum over σ ≥ 0 is that over all real σ, so σ
is left unconstrained and |σ̂| reported; a maximum on the boundary σ = 0 is then an ordinary
stationary point (there ∂/∂σ = 0 by symmetry, and Newton steps approach it cubically).
  - start: β from ordinary logistic regression, σ = 0.5;
  - modified Newton on the exact gradient of the AGQ approximation: the ascent direction
    d = M⁻¹g with M the Hessian of −log L (with nodes held fixed for Q ≥ 4; for Q < 4, where
    that is a poor approximation of the curvature, by central differences of the gradient)
    with its eigenvalues replaced by their absolute values (floored at 1e-8 × the largest;
    this is Newton's step wherever −∇² log L is positive definite); step halving until the AGQ
    log-likelihood does not fall; modes ẑ_j warm-started from the previous point; only the
    trials still iterating are computed;
  - converged when every |d| < 1e-8; |σ̂| < 1e-6 is reported as σ̂ = 0 (``boundary``);
    once |σ| < 0.01 the boundary point (logistic β̂, σ = 0), stationary by symmetry, is tried
    at each step and taken if it is a local maximum (``boundary_curvature`` ≤ 0) and its
    log-likelihood is not lower (``_try_boundary``);
  - failure (nan, converged False), never an exception: start fails (e.g. separation), σ̂ > 50,
    100 Newton steps without convergence, or −∇² log L not positive definite at the end.
SE: the β block of (−∇² log L)⁻¹ at θ̂, ∇² log L by central differences of the exact
gradient (the observed information, as ``lme4`` computes it from its Hessian; the β block
does not depend on how σ is parametrised, and at σ̂ = 0 it is the logistic regression's
(X'WX)⁻¹ since ∂²/∂β∂σ = 0 there).
Inference: t with between-within df K − 2 − (team-level covariates), K analysed teams
(Schluchter & Elashoff 1990, J Stat Comput Simul 37:11; SAS ``DDFM=BW``).
Trials are fitted in blocks of ``_BLOCK`` (memory: patients × Q × P² doubles per block).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .binary_agq import derivatives, quadrature
from .binary_data import (BinaryTrials, EstimateArrays, Layout, layout, subset, t_estimates,
                          trial_block)
from .binary_gee import design
from .binary_logistic import fit_logistic, linear_predictor

_BLOCK = 256
_MAX_ITER = 100
_STEP_TOL = 1e-8
_FIXED_NODE_MIN = 4   # fewer nodes: Newton curvature by differences of the exact gradient
_SIGMA_START = 0.5
_SIGMA_ZERO = 1e-6    # |σ̂| below this is reported as the boundary σ̂ = 0
_SIGMA_MAX = 50.0


@dataclass(frozen=True)
class GlmmFit:
    """Per trial: β̂ (R, p), cov(β̂) (R, p, p), σ̂ (R,), AGQ log-likelihood (R,), Newton steps,
    converged (R,), boundary (R,) (σ̂ = 0); nan where not converged."""

    beta: np.ndarray
    cov: np.ndarray
    sigma: np.ndarray
    loglik: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    boundary: np.ndarray


def _ascent(g, h):
    """(direction M⁻¹g, −h positive definite) with M = −h, eigenvalues made positive."""
    safe = np.where(np.isfinite(h).all(axis=(1, 2))[:, None, None], -h, np.eye(h.shape[1]))
    lam, vec = np.linalg.eigh(safe)
    floor = 1e-8 * np.abs(lam).max(axis=1, keepdims=True) + 1e-300
    coef = np.einsum("rab,ra->rb", vec, g) / np.maximum(np.abs(lam), floor)
    return np.einsum("rab,rb->ra", vec, coef), lam[:, 0] > floor[:, 0]


def _evaluate(lay, X, theta, q, modes):
    """Quadrature at θ = (β, σ) (R, P)."""
    return quadrature(lay, X, theta[:, :-1], theta[:, -1], q, modes)


def _line_search(lay, X, theta, d, quad, q):
    """(θ + t·d, modes, log-likelihood) per trial, t = 1, 1/2, ... until the log-likelihood
    does not fall (30 halvings at most; a trial whose every halving fails keeps θ)."""
    t, pending = np.ones(theta.shape[0]), np.ones(theta.shape[0], bool)
    new, mode, loglik = theta.copy(), quad.mode.copy(), quad.loglik.copy()
    for _ in range(30):
        cand = theta + t[:, None] * d
        cq = _evaluate(lay, X, cand, q, quad.mode)
        good = pending & (cq.loglik >= quad.loglik - 1e-12 * (1.0 + np.abs(quad.loglik)))
        new[good], mode[good[lay.trial]] = cand[good], cq.mode[good[lay.trial]]
        loglik[good] = cq.loglik[good]
        pending &= ~good
        if not pending.any():
            break
        t = np.where(pending, t / 2.0, t)
    return new, mode, loglik


def _curvature(lay, X, theta, q, quad):
    """(exact gradient, Hessian used for the step) at θ (module docstring)."""
    g, h = derivatives(lay, X, theta[:, :-1], theta[:, -1], quad)
    if q < _FIXED_NODE_MIN:
        h = _hessian(lay, X, theta, q, quad.mode)
    return g, h


def boundary_curvature(lay: Layout, X: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """(R,) ∂ log L/∂(σ²) at σ = 0 and β: ½ Σ_j [(Σ_i (y − μ))² − Σ_i μ(1 − μ)] (the score of
    the variance component; Commenges & Jacqmin-Gadda 1997, JRSS B 59:157). With β the
    logistic β̂, σ = 0 is a local maximum when it is ≤ 0 (∂²/∂σ² = 2 × this there)."""
    mu = special.expit(linear_predictor(X, beta, lay.patient_trial))
    r, w = lay.team_sum(lay.y - mu), lay.team_sum(mu * (1.0 - mu))
    return lay.trial_sum(r * r - w) / 2.0


def _try_boundary(lay, X, theta, here, boundary, q, modes, flat):
    """(θ, accepted): where |σ| < 0.01 (log-likelihood ``here``) and σ = 0 is a local maximum
    (``flat``: ``boundary_curvature`` ≤ 0), the boundary point θ₀ = (logistic β̂, 0), a
    stationary point, replaces θ if its log-likelihood is not lower. It is reached in one
    step even where the curvature in σ at 0 vanishes (there Newton steps only shrink σ by a
    third each)."""
    near = (np.abs(theta[:, -1]) < 0.01) & flat
    if not near.any():
        return theta, near
    at0 = _evaluate(lay, X, boundary, q, modes).loglik
    accept = near & np.isfinite(at0) & (at0 >= here - 1e-12 * (1.0 + np.abs(here)))
    return np.where(accept[:, None], boundary, theta), accept


def _newton(lay: Layout, X: np.ndarray, theta: np.ndarray, q: int):
    """(θ̂, modes, ok, steps): modified Newton from θ (row: β then σ; σ = 0 in the
    start's last column gives the boundary point), each step computed only for the trials
    still iterating (``subset``: a trial's arithmetic is its own)."""
    boundary = np.column_stack([theta[:, :-1], np.zeros(theta.shape[0])])
    flat = boundary_curvature(lay, X, theta[:, :-1]) <= 0.0
    R = lay.n_trials
    ok, done, steps = np.ones(R, bool), np.zeros(R, bool), np.zeros(R, int)
    modes = np.zeros(lay.n_j.size)
    for _ in range(_MAX_ITER):
        rows = np.flatnonzero(ok & ~done)
        if rows.size == 0:
            break
        sub, teams = subset(lay, rows)
        xs = X[_patients(lay, teams)]
        quad = _evaluate(sub, xs, theta[rows], q, modes[teams])
        g, h = _curvature(sub, xs, theta[rows], q, quad)
        d, _ = _ascent(g, h)
        good = np.isfinite(d).all(axis=1) & np.isfinite(quad.loglik)
        ok[rows] = good
        done[rows] = good & (np.abs(d) < _STEP_TOL).all(axis=1)
        theta[rows], modes[teams], here = _line_search(sub, xs, theta[rows], np.nan_to_num(d),
                                                       quad, q)
        theta[rows], at0 = _try_boundary(sub, xs, theta[rows], here, boundary[rows], q,
                                         modes[teams], flat[rows])
        done[rows] |= good & at0
        steps[rows] += 1
        ok &= np.abs(theta[:, -1]) < _SIGMA_MAX
    return theta, modes, ok & done, steps


def _patients(lay: Layout, teams: np.ndarray) -> np.ndarray:
    """Patient rows of ``teams`` (in order), as ``subset`` takes them."""
    lengths = lay.n_j[teams].astype(np.intp)
    return np.repeat(lay.start[teams] - (np.cumsum(lengths) - lengths), lengths) \
        + np.arange(int(lengths.sum()))


def _fit_block(lay: Layout, q: int) -> GlmmFit:
    X, R, p = design(lay), lay.n_trials, 2 + lay.x.shape[1]
    start = fit_logistic(X, lay.y, lay.patient_trial, R)
    theta = np.column_stack([np.nan_to_num(start.beta), np.full(R, _SIGMA_START)])
    theta, modes, ok, steps = _newton(lay, X, theta, q)
    ok &= start.converged
    theta[:, -1] = np.abs(theta[:, -1])       # the likelihood is even in σ
    quad = _evaluate(lay, X, theta, q, modes)
    hess = _hessian(lay, X, theta, q, quad.mode)
    boundary = theta[:, -1] < _SIGMA_ZERO
    # at σ = 0, ∂²/∂β∂σ = 0: the β block alone (∂²/∂σ² may vanish there, a quartic maximum)
    hess[boundary, -1, :], hess[boundary, :, -1], hess[boundary, -1, -1] = 0.0, 0.0, -1.0
    _, pd = _ascent(np.zeros(theta.shape), hess)
    ok &= pd
    cov = np.linalg.inv(np.where(ok[:, None, None], -hess, np.eye(p + 1)))[:, :p, :p]
    boundary &= ok
    theta[boundary, -1] = 0.0
    nan = lambda v: np.where(ok.reshape((-1,) + (1,) * (v.ndim - 1)), v, np.nan)  # noqa: E731
    return GlmmFit(nan(theta[:, :p]), nan(cov), nan(theta[:, -1]), nan(quad.loglik), steps,
                   ok, boundary)


def _gradient(lay, X, theta, q, modes):
    """Exact AGQ gradient in θ = (β, σ) (R, P), modes started at ``modes``."""
    quad = _evaluate(lay, X, theta, q, modes)
    return derivatives(lay, X, theta[:, :-1], theta[:, -1], quad)[0]


def _hessian(lay, X, theta, q, modes):
    """(R, P, P) Hessian of the AGQ log-likelihood in (β, σ) by central differences of its
    exact gradient, steps 1e-5(1 + |θ|) (error ~1e-9 relative); symmetrised."""
    P = theta.shape[1]
    h = 1e-5 * (1.0 + np.abs(theta))
    cols = []
    for a in range(P):
        e = np.zeros_like(theta)
        e[:, a] = h[:, a]
        diff = _gradient(lay, X, theta + e, q, modes) - _gradient(lay, X, theta - e, q, modes)
        cols.append(diff / (2.0 * h[:, a, None]))
    hess = np.stack(cols, axis=2)
    return (hess + hess.transpose(0, 2, 1)) / 2.0


def fit_glmm(lay: Layout, *, n_agq: int = 10) -> GlmmFit:
    """ML fit of the random-intercept logistic model for every trial (module docstring)."""
    if not 1 <= int(n_agq) <= 100:
        raise ValueError(f"n_agq={n_agq}: need 1 <= n_agq <= 100")
    blocks = [trial_block(lay, r, min(r + _BLOCK, lay.n_trials))
              for r in range(0, lay.n_trials, _BLOCK)]
    with np.errstate(all="ignore"):
        fits = [_fit_block(b, int(n_agq)) for b in blocks]
    if not fits:
        p, nan = 2 + lay.x.shape[1], np.zeros(0)
        return GlmmFit(np.zeros((0, p)), np.zeros((0, p, p)), nan, nan, np.zeros(0, int),
                       np.zeros(0, bool), np.zeros(0, bool))
    return GlmmFit(*(np.concatenate([getattr(f, k) for f in fits])
                     for k in GlmmFit.__dataclass_fields__))


def glmm_binary(trials: BinaryTrials, *, alpha: float = 0.05, n_agq: int = 10) -> EstimateArrays:
    """Arm's conditional log OR from the random-intercept logistic GLMM y ~ 1 + arm +
    covariates + (1 | team), ML by AGQ with ``n_agq`` nodes, t with between-within df
    K − 2 − team-level covariates, for each trial (module docstring)."""
    lay = layout(trials)
    df = (lay.n_teams - 2 - lay.n_team_level).astype(float)
    usable = (lay.n1 > 0) & (lay.n0 > 0) & (df >= 1)
    fit = fit_glmm(lay, n_agq=n_agq)
    with np.errstate(all="ignore"):
        return t_estimates(fit.beta[:, 1], np.sqrt(fit.cov[:, 1, 1]), df, alpha,
                           usable & fit.converged)
