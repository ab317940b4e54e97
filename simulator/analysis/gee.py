"""GEE with an exchangeable working correlation and small-sample corrected sandwich SEs.

Model (Liang & Zeger 1986, Biometrika 73:13): identity link, E[y] = Xβ, working covariance
of team j V_j = φ R_j with R_j = (1 − ρ)I + ρJ. Its inverse has the closed form

    R_j⁻¹ = (I − c_j J) / (1 − ρ),    c_j = ρ / (1 + (n_j − 1)ρ),

so with W_j = I − c_j J (the scale factors cancel from β̂ and from the sandwich) and the team
sums n_j, s_j = X_j'1, X_j'X_j, X_j'y_j, 1'y_j everything is per-team p × p algebra:

    A_j = X_j'W_jX_j = X_j'X_j − c_j s_j s_j',   A = Σ A_j,   β̂(ρ) = A⁻¹ Σ X_j'W_j y_j,
    g_j = X_j'W_j e_j = X_j'e_j − c_j s_j 1'e_j  (e = y − Xβ̂).

ρ and φ are the moment estimators of statsmodels' ``Exchangeable`` (other software, e.g.
geepack, uses other denominators): φ̂ = Σ e² / (N − p), ρ̂ = Σ_j Σ_{i<k} e_ij e_ik / φ̂ / (P − p)
with P = Σ_j n_j(n_j − 1)/2 pairs; (β̂, ρ̂) is the fixed point of updating them in turn
(secant steps on ρ). A negative ρ̂ is set to 0 (``estimate_rho``).

Sandwich: cov(β̂) = A⁻¹ Σ_j U_j U_j' A⁻¹ with U_j = X_j'W_j (I − H_jj)^(−k) e_j and
H_jj = X_j A⁻¹ X_j'W_j the team's block of the hat matrix (principal power; H_jj is similar
to a symmetric matrix with eigenvalues in [0, 1)): k = 0 is the usual robust sandwich,
k = 1 Mancl & DeRouen 2001 (Biometrics 57:126; statsmodels ``cov_type="bias_reduced"``),
k = 1/2 Kauermann & Carroll 2001 (JASA 96:1387). Writing A = LL' and S_j = L⁻¹A_jL⁻ᵀ (the
non-zero eigenvalues of H_jj, each in [0, 1)), the push-through identity gives

    U_j = L (I − S_j)^(−k) L⁻¹ g_j,   so   cov(β̂) = L⁻ᵀ (Σ_j w_j w_j') L⁻¹,  w_j = (I − S_j)^(−k) L⁻¹ g_j,

one p × p eigendecomposition per team instead of n_j × n_j inverses.

Inference: t with analysed teams − team-level mean parameters df (K − 2 without strata; one
fewer per extra stratum), as ``mixed_ancova`` and ``cluster_summary`` count them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from simulator.analysis.inference import t_estimate
from simulator.analysis.inference import ancova_design
from simulator.analysis.records import Estimate, ObservedTrial

CORRECTIONS = {"none": 0.0, "kauermann_carroll": 0.5, "mancl_derouen": 1.0}
_RHO_TOL = 1e-10     # |Δρ̂| at which the β̂ / ρ̂ iteration stops
_MAX_ITER = 100      # more evaluations of β̂(ρ) than this: not converged
_MAX_LEVERAGE = 1.0 - 1e-8  # a team with hat-matrix eigenvalue beyond this has full leverage


@dataclass(frozen=True)
class TeamSums:
    """Per-team sums of a GEE data set (module docstring): all the fit needs besides y, X."""

    n_j: np.ndarray   # (G,) team sizes, float
    sx: np.ndarray    # (G, p) s_j = X_j'1
    xtx: np.ndarray   # (G, p, p) X_j'X_j
    xty: np.ndarray   # (G, p) X_j'y_j
    sy: np.ndarray    # (G,) 1'y_j

    @cached_property
    def sxx(self) -> np.ndarray:
        """(G, p, p) s_j s_j'."""
        return self.sx[:, :, None] * self.sx[:, None, :]


@dataclass(frozen=True)
class GeeFit:
    """β̂, its (corrected) sandwich covariance and the working parameters; nan if failed."""

    beta: np.ndarray
    cov_beta: np.ndarray
    rho: float
    scale: float
    iterations: int
    converged: bool


def team_sums(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> TeamSums:
    """One pass over patients: per-team sizes and cross-products (as a one-hot product)."""
    p = X.shape[1]
    onehot = (groups[None, :] == np.arange(int(groups.max()) + 1)[:, None]).astype(float)
    xtx = onehot @ (X[:, :, None] * X[:, None, :]).reshape(-1, p * p)
    return TeamSums(onehot.sum(axis=1), onehot @ X, xtx.reshape(-1, p, p),
                    onehot @ (X * y[:, None]), onehot @ y)


def exchangeable_weights(n_j: np.ndarray, rho: float) -> np.ndarray:
    """c_j of R_j⁻¹ ∝ I − c_j J for the exchangeable correlation ρ (module docstring)."""
    return rho / (1.0 + (n_j - 1.0) * rho)


def solve_beta(s: TeamSums, c: np.ndarray) -> np.ndarray:
    """β̂ of the GEE with weights W_j = I − c_j J: (Σ A_j)⁻¹ Σ X_j'W_j y_j."""
    a = s.xtx.sum(axis=0) - np.einsum("g,gab->ab", c, s.sxx)
    b = s.xty.sum(axis=0) - (c * s.sy) @ s.sx
    return np.linalg.solve(a, b)


def moment_rho(s: TeamSums, e: np.ndarray, beta: np.ndarray) -> tuple[float, float]:
    """(ρ̂, φ̂): statsmodels' ``Exchangeable.update`` moment estimators from residuals e."""
    p = beta.size
    ss = float(e @ e)
    team_sum = s.sy - s.sx @ beta
    pairs = float((s.n_j * (s.n_j - 1.0)).sum() / 2.0)
    scale = ss / (e.size - p)
    if pairs - p <= 0 or not scale > 0:
        return float("nan"), scale
    cross = (float(team_sum @ team_sum) - ss) / 2.0
    return cross / scale / (pairs - p), scale


def sandwich(a_j: np.ndarray, g_j: np.ndarray, power: float) -> np.ndarray:
    """A⁻¹ Σ U_j U_j' A⁻¹ with U_j = X_j'W_j(I − H_jj)^(−power) e_j (module docstring).

    nan when a correction is asked for and some team has full leverage (H_jj eigenvalue ≈ 1).
    """
    lower_inv = np.linalg.inv(np.linalg.cholesky(a_j.sum(axis=0)))
    v = g_j @ lower_inv.T                                   # rows L⁻¹ g_j
    if power:
        lam, q = np.linalg.eigh(lower_inv @ a_j @ lower_inv.T)  # S_j = L⁻¹ A_j L⁻ᵀ
        if not lam.max() < _MAX_LEVERAGE:
            return np.full(a_j.shape[1:], np.nan)
        coef = np.einsum("gab,gb->ga", q.transpose(0, 2, 1), v) * (1.0 - lam) ** -power
        v = np.einsum("gab,gb->ga", q, coef)
    return lower_inv.T @ (v.T @ v) @ lower_inv


def estimate_rho(s: TeamSums, y: np.ndarray, X: np.ndarray) -> tuple[float, float, int]:
    """(ρ̂, φ̂, evaluations): the root of f(ρ) = max(0, ρ̂_moment(β̂(ρ))) − ρ, the fixed point of
    alternating β̂(ρ) and the moment ρ̂ (statsmodels' iteration), found from ρ = 0 by secant
    steps (a plain fixed-point step whenever a secant step leaves [0, 1)) until a step is
    below 1e-10. ρ̂ is nan if it does not settle or reaches 1.

    Negative moment estimates are set to 0: the model (ICC ≥ 0) gives one only by chance,
    and for large teams it makes R_j indefinite (statsmodels and geepack keep it negative).
    """
    def f(rho: float) -> tuple[float, float]:
        beta = solve_beta(s, exchangeable_weights(s.n_j, rho))
        moment, scale = moment_rho(s, y - X @ beta, beta)
        return max(moment, 0.0) - rho, scale  # max keeps nan

    x0, (f0, scale) = 0.0, f(0.0)
    x1 = x0 + f0
    for evaluation in range(2, _MAX_ITER + 1):
        if not 0.0 <= x1 < 1.0:
            return float("nan"), scale, evaluation - 1
        if x1 == x0:
            return x1, scale, evaluation - 1
        f1, scale = f(x1)
        step = -f1 * (x1 - x0) / (f1 - f0) if f1 != f0 else f1
        if not 0.0 <= x1 + step < 1.0:
            step = f1
        x0, f0, x1 = x1, f1, x1 + step
        if abs(step) < _RHO_TOL:
            return x1, scale, evaluation
    return float("nan"), scale, _MAX_ITER


def fit_exchangeable(y: np.ndarray, X: np.ndarray, groups: np.ndarray, *,
                     correction: str = "mancl_derouen") -> GeeFit:
    """Exchangeable GEE for y = Xβ, teams ``groups`` (codes 0..G-1, all present), with the
    sandwich covariance under ``correction`` (module docstring).

    ρ̂ from ``estimate_rho``. Not converging, ρ̂ ≥ 1 or full leverage under a correction give
    ``converged=False`` (a singular A raises LinAlgError); an unknown ``correction`` raises
    ValueError.
    """
    if correction not in CORRECTIONS:
        _bad(correction)
    s, p = team_sums(y, X, groups), X.shape[1]
    rho, scale, iterations = estimate_rho(s, y, X)
    if not np.isfinite(rho):
        return _failed(p, iterations)
    c = exchangeable_weights(s.n_j, rho)
    beta = solve_beta(s, c)
    a_j = s.xtx - c[:, None, None] * s.sxx
    e = y - X @ beta
    xte = np.stack([np.bincount(groups, weights=col * e, minlength=c.size) for col in X.T], 1)
    g_j = xte - c[:, None] * s.sx * np.bincount(groups, weights=e, minlength=c.size)[:, None]
    cov = sandwich(a_j, g_j, CORRECTIONS[correction])
    ok = bool(np.isfinite(beta).all() and np.isfinite(cov).all())
    return GeeFit(beta, cov, rho, scale, iterations, ok)


def _bad(correction: str) -> None:
    raise ValueError(f"correction={correction!r}: choose one of {sorted(CORRECTIONS)}")


def _failed(p: int, iterations: int) -> GeeFit:
    nan = float("nan")
    return GeeFit(np.full(p, nan), np.full((p, p), nan), nan, nan, iterations, False)


def gee_robust(trial: ObservedTrial, *, alpha: float = 0.05, correction: str = "mancl_derouen",
               adjust_for_strata: bool = True, adjust_for=None) -> Estimate:
    """Arm effect from the exchangeable GEE y ~ 1 + arm + baseline [+ strata], complete cases,
    teams as randomised (ITT), with a bias-corrected sandwich SE (module docstring).

    ``correction``: "mancl_derouen" (default), "kauermann_carroll" or "none". Inference is t
    with df = analysed teams − team-level mean parameters (intercept, arm, stratum dummies),
    i.e. K − 2 without strata: the same between-within count as ``mixed_ancova`` and
    ``cluster_summary``, so the estimators differ only in their SE. Failures (one arm empty,
    no df, no convergence, full leverage) give ``Estimate.failed()``.
    """
    if correction not in CORRECTIONS:
        _bad(correction)
    y, X, groups, team_arm = ancova_design(trial, adjust_for_strata, adjust_for)
    df = team_arm.size - (X.shape[1] - 1)
    if not (team_arm == 1).any() or not (team_arm == 0).any() or df < 1:
        return Estimate.failed()
    try:
        with np.errstate(all="ignore"):
            fit = fit_exchangeable(y, X, groups, correction=correction)
    except np.linalg.LinAlgError:
        return Estimate.failed()
    if not fit.converged:
        return Estimate.failed()
    return t_estimate(float(fit.beta[1]), float(np.sqrt(fit.cov_beta[1, 1])), df, alpha)
