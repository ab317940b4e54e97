"""Random-intercept linear mixed model fitted by REML, and the ``mixed_ancova`` estimator.

Model: y = Xβ + u_group + e, u ~ N(0, σ²_b), e ~ N(0, σ²_w). With γ = σ²_b/σ²_w, group
j's covariance is V_j = σ²_w (I + γJ) and V_j⁻¹ = (I − γ/(1 + n_jγ) J)/σ²_w. Split each
cross-product into a pooled within-group part (Wxx, Wxy, Wyy: sums of products of
deviations from the group means) and the group means x̄_j, ȳ_j; with w_j = n_j/(1 + n_jγ):

    H(γ) = X'(V/σ²_w)⁻¹X = Wxx + Σ_j w_j x̄_j x̄_j',   h(γ) = Wxy + Σ_j w_j x̄_j ȳ_j,
    β̂ = H⁻¹h,   r̄_j = ȳ_j − x̄_j'β̂,   RSS = Wyy − 2β̂'Wxy + β̂'Wxxβ̂ + Σ_j w_j r̄_j²,
    σ̂²_w = RSS/(n − p),

and the REML criterion, profiled over β and σ²_w (Harville 1977, JASA 72:320; Searle,
Casella & McCulloch 1992 "Variance Components" ch. 6), is

    f(γ) = −2ℓ_R = (n − p)(1 + log 2πσ̂²_w) + Σ_j log(1 + n_jγ) + log|H|.

With B the (G, p) matrix of the x̄_j', L = B H⁻¹ B', c = Σ_j w_j² r̄_j x̄_j, dw_j/dγ = −w_j²:

    RSS'  = −Σ w_j² r̄_j²,     RSS'' = 2Σ w_j³ r̄_j² − 2 c'H⁻¹c,
    f'  = (n − p) RSS'/RSS + Σ w_j − Σ w_j² L_jj,
    f'' = (n − p)(RSS''/RSS − (RSS'/RSS)²) − Σ w_j² + 2Σ w_j³ L_jj
          − Σ_jk w_j² w_k² L_jk².

Only n_j, x̄_j, ȳ_j and the pooled within-group cross-products are needed (all sums over
groups of n_j, Σy, ΣX, ΣX'X, ΣX'y, Σy²): after one O(n p²) pass each evaluation is
O(G p² + p³), and evaluations batch over many γ (and could batch over replicates).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from simulator.analysis.inference import ancova_design, resolve_adjustments, t_estimate
from simulator.analysis.mixed_df import DF_METHODS, contrast_inference
from simulator.analysis.records import Estimate, ObservedTrial

# Global search grid for γ: the boundary γ = 0, then 3 points per decade from 1e-5 to 1e5.
_GAMMA_GRID = np.concatenate([[0.0], np.logspace(-5.0, 5.0, 31)])
_NEWTON_MAX = 50    # safeguarded Newton iterations (bisection steps included)
_NEWTON_XTOL = 1e-6  # relative step at which Newton stops: the error left is ~ step² ~ 1e-12
_EXACT_FIT = 1e-12  # residual SS below this share of the total SS: y is an exact fit
_FLAT = 1e-9        # criterion range over the whole grid this small: γ is not identified
_MAX_VIF = 1e12     # X'X near singular beyond this variance inflation factor (cond(X) ≳ 1e6)


@dataclass(frozen=True)
class GroupStats:
    """Sufficient statistics of a random-intercept model (module docstring)."""

    n_j: np.ndarray   # (G,) group sizes, as float
    xbar: np.ndarray  # (G, p) group means of X
    ybar: np.ndarray  # (G,) group means of y
    wxx: np.ndarray   # (p, p) pooled within-group Σ (x − x̄_j)(x − x̄_j)'
    wxy: np.ndarray   # (p,) pooled within-group Σ (x − x̄_j)(y − ȳ_j)
    wyy: float        # pooled within-group Σ (y − ȳ_j)²

    @cached_property
    def n_obs(self) -> int:
        return int(round(self.n_j.sum()))

    @property
    def n_params(self) -> int:
        return int(self.xbar.shape[1])

    @cached_property
    def between(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-group x̄_j x̄_j' flattened to (G, p²), and x̄_j ȳ_j (G, p)."""
        p = self.n_params
        xx = (self.xbar[:, :, None] * self.xbar[:, None, :]).reshape(-1, p * p)
        return xx, self.xbar * self.ybar[:, None]

    @cached_property
    def total_ss(self) -> float:
        """Σ (y − ȳ)² about the grand mean."""
        grand = self.ybar @ self.n_j / self.n_obs
        return float(self.wyy + self.n_j @ (self.ybar - grand) ** 2)


@dataclass(frozen=True)
class RemlFit:
    """REML fit of a random-intercept model; all nan with ``converged=False`` on failure.

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


def group_stats(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> GroupStats:
    """One O(n p²) pass: group sizes and means, and pooled centred cross-products."""
    n_j = np.bincount(groups).astype(float)
    G = n_j.size
    sx = np.stack([np.bincount(groups, weights=col, minlength=G) for col in X.T], axis=1)
    xbar = sx / n_j[:, None]
    ybar = np.bincount(groups, weights=y, minlength=G) / n_j
    xc = X - xbar[groups]
    yc = y - ybar[groups]
    return GroupStats(n_j, xbar, ybar, xc.T @ xc, xc.T @ yc, float(yc @ yc))


def _rss(s: GroupStats, beta: np.ndarray, w: np.ndarray, rbar: np.ndarray) -> np.ndarray:
    """RSS = (y − Xβ)'(V/σ²_w)⁻¹(y − Xβ) = within-group residual SS + Σ_j w_j r̄_j², from
    centred pieces (no cancellation against squared group means); batched or not."""
    within = s.wyy - 2.0 * beta @ s.wxy + ((beta @ s.wxx) * beta).sum(axis=-1)
    return within + (w * rbar * rbar).sum(axis=-1)


def _evaluate(s: GroupStats, gammas: np.ndarray) -> dict[str, np.ndarray]:
    """β̂, H⁻¹, RSS, f ("crit") and f' ("slope") at each γ, batched along axis 0.

    f and f' are nan where H is not positive definite or RSS ≤ 0 (module docstring).
    """
    xx, xy = s.between
    p, dof = s.n_params, s.n_obs - s.n_params
    w = s.n_j / (1.0 + np.multiply.outer(gammas, s.n_j))  # (K, G)
    H = s.wxx + (w @ xx).reshape(-1, p, p)
    h = s.wxy + w @ xy
    sign, logdet = np.linalg.slogdet(H)
    Hinv = np.linalg.inv(H)
    beta = (Hinv @ h[:, :, None])[:, :, 0]
    rbar = s.ybar - beta @ s.xbar.T
    rss = _rss(s, beta, w, rbar)
    rss = np.where((sign > 0) & (rss > 0), rss, np.nan)
    w_rbar = w * rbar
    lev = ((s.xbar @ Hinv) * s.xbar).sum(axis=2)  # x̄_j'H⁻¹x̄_j
    crit = (dof * (1.0 + np.log(2.0 * np.pi * rss / dof))
            + np.log1p(np.multiply.outer(gammas, s.n_j)).sum(axis=1) + logdet)
    slope = (-dof * (w_rbar ** 2).sum(axis=1) / rss + w.sum(axis=1)
             - (w * w * lev).sum(axis=1))
    return {"beta": beta, "Hinv": Hinv, "rss": rss, "crit": crit, "slope": slope}


def reml_profile(s: GroupStats, gammas) -> tuple[np.ndarray, np.ndarray]:
    """(f, f') at each γ of ``gammas``: −2 × profiled REML log-likelihood and its slope.

    Batched: a whole grid costs little more than one point. nan where undefined.
    """
    t = _evaluate(s, np.atleast_1d(np.asarray(gammas, dtype=float)))
    return t["crit"], t["slope"]


def reml_newton_terms(s: GroupStats, gamma: float) -> tuple[float, float]:
    """(f', f'') at one γ, from the closed forms of the module docstring."""
    w = s.n_j / (1.0 + gamma * s.n_j)
    w2 = w * w
    Hinv = np.linalg.inv(s.wxx + (s.xbar.T * w) @ s.xbar)
    h = s.wxy + s.xbar.T @ (w * s.ybar)
    beta = Hinv @ h
    rbar = s.ybar - s.xbar @ beta
    rss = float(_rss(s, beta, w, rbar))
    if not rss > 0:   # exact fit: no curvature information
        return float("nan"), float("nan")
    w_rbar = w * rbar
    L = s.xbar @ Hinv @ s.xbar.T
    lev = np.diag(L)
    c = s.xbar.T @ (w * w_rbar)
    d_rss = -float(w_rbar @ w_rbar)
    dd_rss = 2.0 * float((w_rbar * w_rbar) @ w) - 2.0 * float(c @ Hinv @ c)
    dof = s.n_obs - s.n_params
    slope = dof * d_rss / rss + w.sum() - w2 @ lev
    curv = (dof * (dd_rss / rss - (d_rss / rss) ** 2) - w2.sum() + 2.0 * (w2 * w) @ lev
            - w2 @ (L * L) @ w2)
    return float(slope), float(curv)


def _newton(s: GroupStats, lo: float, hi: float, x: float) -> float:
    """Root of f' in [lo, hi] by Newton's method kept inside a shrinking bracket, bisecting
    when a step leaves it (rtsafe: Press et al., "Numerical Recipes", 3rd ed., §9.4)."""
    for _ in range(_NEWTON_MAX):
        slope, curv = reml_newton_terms(s, x)
        if not np.isfinite(slope):
            return float("nan")
        lo, hi = (x, hi) if slope < 0.0 else (lo, x)
        new = x - slope / curv if curv > 0.0 else 0.5 * (lo + hi)
        if not lo <= new <= hi:
            new = 0.5 * (lo + hi)
        if abs(new - x) <= _NEWTON_XTOL * max(x, _GAMMA_GRID[1]):
            return new
        x = new
    return float("nan")


def _hermite_start(a: float, b: float, fa: float, fb: float, da: float, db: float) -> float:
    """Zero in [a, b] of the quadratic slope matching f'(a), f'(b) and ∫f' = f(b) − f(a)
    (the derivative of the cubic Hermite interpolant of f): a Newton start near the root."""
    h = b - a
    # s(t) = da + α t + β t², t ∈ [0, h]: s(h) = db and ∫₀ʰ s = fb − fa.
    beta = (3.0 * (da + db) - 6.0 * (fb - fa) / h) / h ** 2
    alpha = (db - da) / h - beta * h
    disc = alpha * alpha - 4.0 * beta * da
    if beta != 0.0 and disc >= 0.0:
        q = -0.5 * (alpha + math.copysign(math.sqrt(disc), alpha))  # stable quadratic roots
        inside = [r for r in (q / beta, da / q if q != 0.0 else -1.0) if 0.0 <= r <= h]
        if inside:
            return a + min(inside)
    return a - da * h / (db - da)  # linear interpolation of the slope


def gamma_candidates(s: GroupStats) -> tuple[float, float, float]:
    """(REML γ̂ ≥ 0 refined by Newton, best point of the global grid, its criterion).

    The global grid guards against local optima, and the boundary γ = 0 is checked
    explicitly: a slope ≥ 0 there makes it the optimum. nan when the criterion is undefined,
    X is near singular (largest variance inflation factor of X'X over 1e12), the criterion
    is flat (γ not identified), or the optimum is at the top of the grid (ICC ≈ 1).
    """
    nan = float("nan")
    t = _evaluate(s, _GAMMA_GRID)
    crit, slope = t["crit"], t["slope"]
    vif = (np.diag(s.wxx) + s.n_j @ s.xbar ** 2) * np.diag(t["Hinv"][0])  # γ = 0: H = X'X
    if not np.isfinite(crit).any() or not (0 < vif.min() and vif.max() < _MAX_VIF):
        return nan, nan, nan
    if np.nanmax(crit) - np.nanmin(crit) <= _FLAT * (1.0 + abs(np.nanmin(crit))):
        return nan, nan, nan  # γ not identified, e.g. no between-group residual df
    k = int(np.argmin(np.where(np.isnan(crit), np.inf, crit)))
    if k == _GAMMA_GRID.size - 1:
        return nan, nan, nan
    if k == 0 and slope[0] >= 0.0:
        return 0.0, 0.0, float(crit[0])
    i = k if slope[k] < 0.0 else k - 1  # the cell [i, i + 1] where the slope turns + here
    g, f, d = _GAMMA_GRID[i:i + 2], crit[i:i + 2], slope[i:i + 2]
    bracketed = d[0] < 0.0 < d[1]
    start = _hermite_start(g[0], g[1], f[0], f[1], d[0], d[1]) if bracketed else g[k - i]
    return _newton(s, g[0], g[1], start), float(_GAMMA_GRID[k]), float(crit[k])


def fit_from_stats(s: GroupStats) -> RemlFit:
    """REML fit from sufficient statistics (the batchable core of ``fit_random_intercept``).

    The Newton γ̂ is kept only if its criterion is no worse than the best grid point's.
    """
    G, p, n = s.n_j.size, s.n_params, s.n_obs
    gamma, grid_gamma, grid_crit = gamma_candidates(s)
    if not np.isfinite(gamma):
        return RemlFit.failed(n, G, p)
    t = _evaluate(s, np.array([gamma]))
    if not t["crit"][0] <= grid_crit:
        gamma, t = grid_gamma, _evaluate(s, np.array([grid_gamma]))
    rss = float(t["rss"][0])
    if not (np.isfinite(t["crit"][0]) and np.isfinite(t["beta"]).all()
            and rss > _EXACT_FIT * s.total_ss):
        return RemlFit.failed(n, G, p)
    sigma2 = rss / (n - p)
    return RemlFit(t["beta"][0], sigma2 * t["Hinv"][0], gamma * sigma2, sigma2, gamma, True,
                   n, G, -0.5 * float(t["crit"][0]))


def _usable(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> bool:
    """Shapes agree, data finite, groups int codes 0..G-1 all present with G ≥ 2, n > p."""
    if X.ndim != 2 or groups.dtype.kind not in "iu":
        return False
    n, p = X.shape
    if y.shape != (n,) or groups.shape != (n,) or n <= p or groups.min(initial=0) < 0:
        return False
    counts = np.bincount(groups)
    return bool(counts.size >= 2 and (counts > 0).all()
                and np.isfinite(y).all() and np.isfinite(X).all())


def fit_with_stats(y: np.ndarray, X: np.ndarray, groups: np.ndarray
                   ) -> tuple[RemlFit, GroupStats | None]:
    """``fit_random_intercept`` and the sufficient statistics it used (None for bad input)."""
    try:
        y, X, groups = np.asarray(y, dtype=float), np.asarray(X, dtype=float), np.asarray(groups)
        if _usable(y, X, groups):
            with np.errstate(all="ignore"):
                s = group_stats(y, X, groups)
                return fit_from_stats(s), s
    except (np.linalg.LinAlgError, ValueError, TypeError, FloatingPointError):
        pass  # e.g. an exactly singular X'X, or data that are not numbers: failed fit below
    p = np.shape(X)[1] if np.ndim(X) == 2 else 1
    return RemlFit.failed(int(np.size(y)), len(set(np.ravel(groups).tolist())), p), None


def fit_random_intercept(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> RemlFit:
    """REML fit of y = Xβ + u_group + e (Harville 1977; Searle, Casella & McCulloch 1992).

    ``groups``: int codes 0..G-1, each present. Where the REML optimum is at γ = 0 the result
    is OLS (β and σ²(X'X)⁻¹, σ² with n − p denominator). Bad input (singular X, fewer than
    2 groups, non-finite data) gives ``converged=False``, never an exception.
    """
    return fit_with_stats(y, X, groups)[0]


def mixed_ancova(trial: ObservedTrial, *, alpha: float = 0.05, adjust_for_strata: bool = True,
                 df_method: str = "between_within", adjust_for=None) -> Estimate:
    """Arm effect from y ~ 1 + arm [+ baseline] [+ factors] + (1 | team), REML, complete cases.

    Terms: ``adjust_for`` (names in ``inference.ADJUSTMENTS``), or when None, baseline plus
    strata if ``adjust_for_strata`` (``inference.ancova_design``). Wald t with df by
    ``df_method``: "between_within" = analysed teams − team-level fixed parameters
    (intercept, arm, factor dummies), as SAS PROC MIXED DDFM=BW (Hayes & Moulton 2017
    "Cluster Randomised Trials", 2nd ed., ch. 10); "satterthwaite" (as lmerTest) or
    "kenward_roger" (as pbkrtest, with its adjusted SE): ``mixed_df``. Failure gives
    ``Estimate.failed()``; an unknown ``df_method`` or term raises ValueError.
    """
    if df_method not in DF_METHODS:
        raise ValueError(f"df_method={df_method!r}: choose one of {list(DF_METHODS)}")
    y, X, groups, team_arm = ancova_design(trial, adjust_for_strata, adjust_for)
    if not (team_arm == 1).any() or not (team_arm == 0).any():
        return Estimate.failed()
    baseline = "baseline" in resolve_adjustments(adjust_for, adjust_for_strata)
    bw_df = team_arm.size - (X.shape[1] - baseline)  # every other column is at team level
    if bw_df < 1:
        return Estimate.failed()
    fit, s = fit_with_stats(y, X, groups)
    if not fit.converged:
        return Estimate.failed()
    if df_method == "between_within":
        return t_estimate(float(fit.beta[1]), float(np.sqrt(fit.cov_beta[1, 1])), bw_df, alpha)
    se, df = contrast_inference(s, fit, np.eye(s.n_params)[1], df_method)
    return t_estimate(float(fit.beta[1]), se, df, alpha)
