"""The REML core: a random-intercept linear mixed model fitted to a batch of trials at once
(a single trial is a batch of one), each trial to its own answer.

Model: y = Xβ + u_group + e, u ~ N(0, σ²_b), e ~ N(0, σ²_w). With γ = σ²_b/σ²_w, group
j's covariance is V_j = σ²_w (I + γJ) and V_j⁻¹ = (I − γ/(1 + n_jγ) J)/σ²_w. Split each
cross-product into a pooled within-group part (Wxx, Wxy, Wyy) and the group means x̄_j, ȳ_j
(``stats``); with w_j = n_j/(1 + n_jγ):

    H(γ) = X'(V/σ²_w)⁻¹X = Wxx + Σ_j w_j x̄_j x̄_j',   h(γ) = Wxy + Σ_j w_j x̄_j ȳ_j,
    β̂ = H⁻¹h,   r̄_j = ȳ_j − x̄_j'β̂,   RSS = Wyy − 2β̂'Wxy + β̂'Wxxβ̂ + Σ_j w_j r̄_j²,
    σ̂²_w = RSS/(n − p),

and the REML criterion, profiled over β and σ²_w (Harville 1977, JASA 72:320; Searle,
Casella & McCulloch 1992 "Variance Components" ch. 6), is

    f(γ) = −2ℓ_R = (n − p)(1 + log 2πσ̂²_w) + Σ_j log(1 + n_jγ) + log|H|.

With L = B H⁻¹ B' (B the x̄_j'), c = Σ_j w_j² r̄_j x̄_j, dw_j/dγ = −w_j²:

    RSS'  = −Σ w_j² r̄_j²,     RSS'' = 2Σ w_j³ r̄_j² − 2 c'H⁻¹c,
    f'  = (n − p) RSS'/RSS + Σ w_j − Σ w_j² L_jj,
    f'' = (n − p)(RSS''/RSS − (RSS'/RSS)²) − Σ w_j² + 2Σ w_j³ L_jj − tr((H⁻¹A)²),

A = Σ_j w_j² x̄_j x̄_j'. Search: f and f' on a global grid of γ (the boundary γ = 0, then
3 points per decade from 1e-5 to 1e5) for all trials in one array expression; a slope ≥ 0
at γ = 0 makes the boundary the optimum; else a Hermite start in the cell where the slope
turns positive and Newton's method kept inside that bracket (rtsafe: Press et al.,
"Numerical Recipes", 3rd ed., §9.4), each trial to its own stop. H(γ) is inverted by the
sweep operator (``analysis.linalg``): a zero pivot fails the fit, and so does a
non-positive or huge variance inflation factor (X'X not numerically positive definite).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.analysis.linalg import inner, mv, sweep
from simulator.analysis.mixed.stats import Stats, design_stats, usable_design

GAMMA_GRID = np.concatenate([[0.0], np.logspace(-5.0, 5.0, 31)])
_NEWTON_MAX = 50    # safeguarded Newton iterations (bisection steps included)
_NEWTON_XTOL = 1e-6  # relative step at which Newton stops: the error left is ~ step² ~ 1e-12
_EXACT_FIT = 1e-12  # residual SS below this share of the total SS: y is an exact fit
_FLAT = 1e-9        # criterion range over the whole grid this small: γ is not identified
_MAX_VIF = 1e12     # X'X near singular beyond this variance inflation factor (cond(X) ≳ 1e6)


def _sum_log_v(s: Stats, gammas: np.ndarray) -> np.ndarray:
    """Σ_j log(1 + n_j γ) (R, K) for shared ``gammas``, each trial along its own team axis
    (padding teams add log1p(0) = 0 exactly)."""
    return np.log1p(gammas[None, :, None] * s.n_j[:, None, :]).sum(-1)


def _gls(s: Stats, gam: np.ndarray) -> dict[str, np.ndarray]:
    """w, H⁻¹, log|H|, β̂, r̄, w r̄, x̄_j'H⁻¹x̄_j and RSS at γ = gam (R, K), all at once."""
    R, K, p = gam.shape[0], gam.shape[1], s.xbar.shape[2]
    w = s.n_j[:, None, :] / (1.0 + gam[:, :, None] * s.n_j[:, None, :])
    Hinv, logdet, pd, zero = sweep(s.wxx[:, None] + (w @ s.xx).reshape(R, K, p, p))
    h = s.wxy[:, None] + w @ (s.xbar * s.ybar[..., None])
    beta = mv(Hinv, h)
    rbar = s.ybar[:, None, :] - beta @ s.xbar.transpose(0, 2, 1)
    wr = w * rbar
    within = (s.wyy[:, None] - 2.0 * (beta * s.wxy[:, None]).sum(-1)
              + ((beta @ s.wxx) * beta).sum(-1))
    return dict(w=w, Hinv=Hinv, logdet=logdet, pd=pd, zero=zero, beta=beta, rbar=rbar, wr=wr,
                lev=Hinv.reshape(R, K, p * p) @ s.xx.transpose(0, 2, 1),
                rss=within + inner(wr, rbar))


def _evaluate(s: Stats, gam: np.ndarray, log_v: np.ndarray | None = None) -> dict:
    """``_gls`` plus f ("crit") and f' ("slope"), nan where H is not positive definite or
    RSS ≤ 0. ``log_v``: Σ_j log(1 + n_j γ), if known."""
    t = _gls(s, gam)
    w, wr, dof = t["w"], t["wr"], s.dof[:, None]
    if log_v is None:
        log_v = np.log1p(gam[:, :, None] * s.n_j[:, None, :]).sum(-1)
    rss = t["rss"] = np.where(t["pd"] & (t["rss"] > 0), t["rss"], np.nan)
    t["crit"] = dof * (1.0 + np.log(2.0 * np.pi * rss / dof)) + log_v + t["logdet"]
    t["slope"] = -dof * inner(wr, wr) / rss + w.sum(-1) - inner(w * w, t["lev"])
    return t


def _newton_terms(s: Stats, x: np.ndarray):
    """(f', f'', zero pivot) at γ = x (R,), from the closed forms of the module docstring."""
    R, p = x.size, s.xbar.shape[2]
    t = {k: v[:, 0] for k, v in _gls(s, x[:, None]).items()}
    w, wr, Hinv, rss, lev = t["w"], t["wr"], t["Hinv"], t["rss"], t["lev"]
    w2 = w * w
    c = ((w * wr)[:, None, :] @ s.xbar)[:, 0]
    d_rss = -(wr * wr).sum(-1)
    dd_rss = 2.0 * (wr * wr * w).sum(-1) - 2.0 * inner(c, mv(Hinv, c))
    M = Hinv @ (w2[:, None, :] @ s.xx)[:, 0].reshape(R, p, p)
    slope = s.dof * d_rss / rss + w.sum(-1) - (w2 * lev).sum(-1)
    curv = (s.dof * (dd_rss / rss - (d_rss / rss) ** 2) - w2.sum(-1)
            + 2.0 * (w2 * w * lev).sum(-1)
            - inner(M.reshape(R, p * p), M.transpose(0, 2, 1).reshape(R, p * p)))
    return slope, curv, t["zero"]


def _newton(s: Stats, lo: np.ndarray, hi: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Root of f' in [lo, hi] for every trial by Newton's method kept inside a shrinking
    bracket, bisecting when a step leaves it; each trial to its own stop (nan if none).
    Only the trials still iterating are evaluated."""
    lo, hi, x = lo.copy(), hi.copy(), x.copy()
    root, live = np.full(x.size, np.nan), np.arange(x.size)
    for _ in range(_NEWTON_MAX):
        if live.size == 0:
            break
        slope, curv, zero = _newton_terms(s.take(live), x[live])
        xi, neg = x[live], slope < 0.0
        lo[live] = np.where(neg, xi, lo[live])
        hi[live] = np.where(neg, hi[live], xi)
        mid = 0.5 * (lo[live] + hi[live])
        new = np.where(curv > 0.0, xi - slope / curv, mid)
        new = np.where((lo[live] <= new) & (new <= hi[live]), new, mid)
        stop = np.abs(new - xi) <= _NEWTON_XTOL * np.maximum(xi, GAMMA_GRID[1])
        good = np.isfinite(slope) & ~zero
        root[live[stop & good]] = new[stop & good]
        x[live] = new
        live = live[good & ~stop]
    return root


def _hermite_start(a, b, fa, fb, da, db):
    """Zero in [a, b] of the quadratic slope matching f'(a), f'(b) and ∫f' = f(b) − f(a)
    (the derivative of the cubic Hermite interpolant of f), elementwise: a Newton start near
    the root; the linear interpolation of the slope where that quadratic has no root."""
    h = b - a
    # s(t) = da + α t + β t², t ∈ [0, h]: s(h) = db and ∫₀ʰ s = fb − fa.
    beta = (3.0 * (da + db) - 6.0 * (fb - fa) / h) / h ** 2
    alpha = (db - da) / h - beta * h
    disc = alpha * alpha - 4.0 * beta * da
    q = -0.5 * (alpha + np.copysign(np.sqrt(np.maximum(disc, 0.0)), alpha))  # stable roots
    r1, r2 = q / beta, np.where(q != 0.0, da / np.where(q != 0.0, q, 1.0), -1.0)
    in1, in2 = (0.0 <= r1) & (r1 <= h), (0.0 <= r2) & (r2 <= h)
    root = np.where(in1 & in2, np.minimum(r1, r2), np.where(in1, r1, r2))
    quadratic = (beta != 0.0) & (disc >= 0.0) & (in1 | in2)
    return np.where(quadratic, a + root, a - da * h / (db - da))


def gamma_candidates(s: Stats):
    """(γ̂, best grid γ, its criterion, ok) per trial (module docstring). Not ok where the
    criterion is undefined, X is near singular (a variance inflation factor of X'X over
    1e12, or a zero pivot), the criterion is flat over the grid (γ not identified, e.g. no
    between-group residual df), or the optimum is at the top of the grid (ICC ≈ 1)."""
    R, last = s.n_j.shape[0], GAMMA_GRID.size - 1
    t = _evaluate(s, np.broadcast_to(GAMMA_GRID, (R, last + 1)), _sum_log_v(s, GAMMA_GRID))
    crit, slope, r = t["crit"], t["slope"], np.arange(R)
    vif = ((np.diagonal(s.wxx, 0, 1, 2) + (s.n_j[:, None, :] @ s.xbar ** 2)[:, 0])
           * np.diagonal(t["Hinv"][:, 0], 0, 1, 2))  # γ = 0: H = X'X
    low = np.where(np.isnan(crit), np.inf, crit).min(1)
    high = np.where(np.isnan(crit), -np.inf, crit).max(1)
    k = np.argmin(np.where(np.isnan(crit), np.inf, crit), 1)
    ok = (np.isfinite(crit).any(1) & ~t["zero"].any(1) & (vif.max(1) < _MAX_VIF)
          & (vif.min(1) > 0.0) & ~(high - low <= _FLAT * (1.0 + np.abs(low))) & (k != last))
    boundary = ok & (k == 0) & (slope[:, 0] >= 0.0)
    i = np.where(slope[r, k] < 0.0, k, k - 1)  # the cell [i, i + 1] where the slope turns +
    ok &= boundary | (i >= 0)
    i = np.clip(i, 0, last - 1)
    g0, g1, d0, d1 = GAMMA_GRID[i], GAMMA_GRID[i + 1], slope[r, i], slope[r, i + 1]
    start = np.where((d0 < 0.0) & (0.0 < d1),
                     _hermite_start(g0, g1, crit[r, i], crit[r, i + 1], d0, d1), GAMMA_GRID[k])
    todo = np.flatnonzero(ok & ~boundary)
    gamma = np.where(boundary, 0.0, np.nan)
    gamma[todo] = _newton(s.take(todo), g0[todo], g1[todo], start[todo])
    return gamma, GAMMA_GRID[k], crit[r, k], ok & np.isfinite(gamma)


@dataclass(frozen=True)
class Fits:
    """REML fits of R trials: γ̂, β̂ (R, p), H(γ̂)⁻¹ (R, p, p), σ̂²_w, the criterion f(γ̂),
    and ok (converged). Rows that are not ok hold no answer."""

    gamma: np.ndarray
    beta: np.ndarray
    Hinv: np.ndarray
    sigma2: np.ndarray
    crit: np.ndarray
    ok: np.ndarray


def fit_reml(s: Stats) -> Fits:
    """REML fit of every trial: the Newton γ̂ if its criterion is no worse than the best
    grid point's, else that grid point; not ok where y is an exact fit."""
    gamma, grid_gamma, grid_crit, ok = gamma_candidates(s)
    t = _evaluate(s, np.stack([np.where(ok, gamma, 0.0), grid_gamma], 1))
    r = np.arange(ok.size)
    pick = np.where(t["crit"][:, 0] <= grid_crit, 0, 1)
    crit, rss, beta = t["crit"][r, pick], t["rss"][r, pick], t["beta"][r, pick]
    grand = (s.ybar * s.n_j).sum(1, keepdims=True) / s.n_obs[:, None]
    total_ss = s.wyy + (s.n_j * (s.ybar - grand) ** 2).sum(1)
    ok &= (~t["zero"][:, 0] & np.isfinite(crit) & np.isfinite(beta).all(1)
           & (rss > _EXACT_FIT * total_ss))
    return Fits(np.where(pick == 0, gamma, grid_gamma), beta, t["Hinv"][r, pick],
                rss / s.dof, crit, ok)


@dataclass(frozen=True)
class RemlFit:
    """One trial's REML fit; all nan with ``converged=False`` on failure.

    cov_beta is model based, σ̂²_w H(γ̂)⁻¹ = (X'V̂⁻¹X)⁻¹ (as lme4, nlme and SAS PROC MIXED
    report). reml_loglik has the same constant as statsmodels ``MixedLM(reml=True).loglike``.
    """

    beta: np.ndarray
    cov_beta: np.ndarray
    var_between: float
    var_within: float
    gamma: float
    converged: bool
    n_obs: int
    n_groups: int
    reml_loglik: float

    @classmethod
    def failed(cls, n_obs: int, n_groups: int, p: int) -> "RemlFit":
        nan = float("nan")
        return cls(np.full(p, nan), np.full((p, p), nan), nan, nan, nan, False,
                   n_obs, n_groups, nan)

    @classmethod
    def of(cls, s: Stats, f: Fits, r: int = 0) -> "RemlFit":
        """Trial r of the batch ``f`` fitted to ``s``."""
        n, G, p = int(s.n_obs[r]), int((s.n_j[r] > 0).sum()), s.xbar.shape[2]
        if not f.ok[r]:
            return cls.failed(n, G, p)
        sigma2, gamma = float(f.sigma2[r]), float(f.gamma[r])
        return cls(f.beta[r], sigma2 * f.Hinv[r], gamma * sigma2, sigma2, gamma, True, n, G,
                   -0.5 * float(f.crit[r]))


def fit_random_intercept(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> RemlFit:
    """REML fit of y = Xβ + u_group + e for one data set of any design (a batch of one).

    ``groups``: int codes 0..G-1, each present. Where the REML optimum is at γ = 0 the result
    is OLS (β and σ²(X'X)⁻¹, σ² with n − p denominator). Bad input (singular X, fewer than
    2 groups, non-finite data) gives ``converged=False``, never an exception.
    """
    try:
        y, X, groups = np.asarray(y, dtype=float), np.asarray(X, dtype=float), np.asarray(groups)
        if usable_design(y, X, groups):
            with np.errstate(all="ignore"):
                s = design_stats(y, X, groups)
                return RemlFit.of(s, fit_reml(s))
    except (ValueError, TypeError):
        pass  # data that are not numbers: a failed fit below
    p = np.shape(X)[1] if np.ndim(X) == 2 else 1
    return RemlFit.failed(int(np.size(y)), len(set(np.ravel(groups).tolist())), p)
