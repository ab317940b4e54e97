"""Batched REML for the random-intercept model and the Satterthwaite df of the arm contrast,
vectorised over trials with per-trial masks (see ``batched.py`` for the method and the
row-independence rules)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np

from simulator.analysis.batched_data import Analysed
from simulator.analysis.mixed import _EXACT_FIT, _FLAT, _GAMMA_GRID, _MAX_VIF, _NEWTON_MAX, _NEWTON_XTOL

def _inner(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_k a_k b_k along the last axis (broadcasting the others): the product is laid out
    C-contiguous, so each sum runs along a row's own contiguous run whatever the number of
    rows (``np.einsum`` may pick its loop order from the strides of the whole stack)."""
    return np.multiply(a, b, order="C").sum(-1)


def _mv(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A x for stacks of matrices and vectors (one matrix product per matrix)."""
    return (A @ x[..., None])[..., 0]


def _sweep(H: np.ndarray):
    """(H⁻¹, log|H|, positive definite, zero pivot) for a stack of symmetric matrices:
    sweep every pivot in turn (Gauss-Jordan, no pivoting; Goodnight 1979), on a (p, p, N)
    copy so that each operation runs over contiguous stacks (elementwise: each matrix's
    arithmetic is its own)."""
    A = np.moveaxis(H, (-2, -1), (0, 1)).copy()
    logdet = np.zeros(H.shape[:-2])
    pd, zero = np.ones(H.shape[:-2], bool), np.zeros(H.shape[:-2], bool)
    for k in range(H.shape[-1]):
        d = A[k, k].copy()
        pd &= d > 0
        zero |= d == 0
        logdet += np.log(np.abs(d))
        row, col = A[k] / d, A[:, k].copy()
        A -= col[:, None] * row[None, :]
        A[k], A[:, k] = row, -col / d
        A[k, k] = 1.0 / d
    # A C-contiguous result: its strides, and so the loops that later reduce over it, do
    # not depend on the number of matrices (row independence, module docstring).
    return np.ascontiguousarray(np.moveaxis(A, (0, 1), (-2, -1))), logdet, pd, zero


@dataclass(frozen=True)
class Stats:
    """``mixed.GroupStats`` of R trials with p columns, teams padded to G."""

    n_j: np.ndarray    # (R, G), 0 for padding
    xbar: np.ndarray   # (R, G, p)
    ybar: np.ndarray   # (R, G)
    wxx: np.ndarray    # (R, p, p)
    wxy: np.ndarray    # (R, p)
    wyy: np.ndarray    # (R,)
    n_obs: np.ndarray  # (R,)
    xx: np.ndarray     # (R, G, p²): x̄_j x̄_j' flattened

    def take(self, rows: np.ndarray) -> "Stats":
        return Stats(*(getattr(self, f.name)[rows] for f in fields(self)))

    @cached_property
    def dof(self) -> np.ndarray:
        return (self.n_obs - self.xbar.shape[2]).astype(float)


def _select(a: Analysed, rows: np.ndarray, n_dummies: int):
    """(mask of the teams of trials ``rows``, their trial's position in ``rows``, their
    ``n_dummies`` stratum dummy columns)."""
    rank = np.full(a.n_teams.size, -1)
    rank[rows] = np.arange(rows.size)
    tm = rank[a.trial] >= 0
    return tm, rank[a.trial[tm]], [(a.level[tm] == lv).astype(float)
                                   for lv in range(1, n_dummies + 1)]


def batch_stats(a: Analysed, rows: np.ndarray, n_dummies: int) -> Stats:
    """Stats of trials ``rows`` (all with the same K) for X = [1, arm, baseline, stratum
    dummies], teams padded to K; only the baseline has within-team deviations (the others'
    are exactly 0, as in ``mixed.py``)."""
    tm, rt, dummies = _select(a, rows, n_dummies)
    width = int(a.width[rows[0]])
    assert (a.width[rows] == width).all(), "a block holds trials of one K"
    at, shape, p = (rt, a.slot[tm]), (rows.size, width), 3 + n_dummies
    columns = [np.ones(rt.size), a.arm[tm], a.bbar[tm]] + dummies
    n_j, xbar, ybar = np.zeros(shape), np.zeros(shape + (p,)), np.zeros(shape)
    n_j[at], xbar[at], ybar[at] = a.n_j[tm], np.column_stack(columns), a.ybar[tm]
    wxx, wxy = np.zeros((rows.size, p, p)), np.zeros((rows.size, p))
    wxx[:, 2, 2], wxy[:, 2] = a.within[rows, 0], a.within[rows, 1]
    xx = (xbar[..., :, None] * xbar[..., None, :]).reshape(shape + (p * p,))
    return Stats(n_j, xbar, ybar, wxx, wxy, a.within[rows, 2], a.n_obs[rows], xx)


def _sum_log_v(s: Stats, gammas: np.ndarray) -> np.ndarray:
    """Σ_j log(1 + n_j γ) (R, K) for shared ``gammas``, each trial along its own team axis
    (padding teams add log1p(0) = 0 exactly)."""
    return np.log1p(gammas[None, :, None] * s.n_j[:, None, :]).sum(-1)


def _gls(s: Stats, gam: np.ndarray) -> dict[str, np.ndarray]:
    """w, H⁻¹, log|H|, β̂, r̄, w r̄, x̄_j'H⁻¹x̄_j and RSS at γ = gam (R, K), all at once."""
    R, K, p = gam.shape[0], gam.shape[1], s.xbar.shape[2]
    w = s.n_j[:, None, :] / (1.0 + gam[:, :, None] * s.n_j[:, None, :])
    Hinv, logdet, pd, zero = _sweep(s.wxx[:, None] + (w @ s.xx).reshape(R, K, p, p))
    h = s.wxy[:, None] + w @ (s.xbar * s.ybar[..., None])
    beta = _mv(Hinv, h)
    rbar = s.ybar[:, None, :] - beta @ s.xbar.transpose(0, 2, 1)
    wr = w * rbar
    within = (s.wyy[:, None] - 2.0 * (beta * s.wxy[:, None]).sum(-1)
              + ((beta @ s.wxx) * beta).sum(-1))
    return dict(w=w, Hinv=Hinv, logdet=logdet, pd=pd, zero=zero, beta=beta, rbar=rbar, wr=wr,
                lev=Hinv.reshape(R, K, p * p) @ s.xx.transpose(0, 2, 1),
                rss=within + _inner(wr, rbar))


def _evaluate(s: Stats, gam: np.ndarray, log_v: np.ndarray | None = None) -> dict:
    """``mixed._evaluate`` for every trial: adds f ("crit") and f' ("slope"), nan where H
    is not positive definite or RSS ≤ 0. ``log_v``: Σ_j log(1 + n_j γ), if known."""
    t = _gls(s, gam)
    w, wr, dof = t["w"], t["wr"], s.dof[:, None]
    if log_v is None:
        log_v = np.log1p(gam[:, :, None] * s.n_j[:, None, :]).sum(-1)
    rss = t["rss"] = np.where(t["pd"] & (t["rss"] > 0), t["rss"], np.nan)
    t["crit"] = dof * (1.0 + np.log(2.0 * np.pi * rss / dof)) + log_v + t["logdet"]
    t["slope"] = -dof * _inner(wr, wr) / rss + w.sum(-1) - _inner(w * w, t["lev"])
    return t


def _newton_terms(s: Stats, x: np.ndarray):
    """(f', f'', zero pivot) at γ = x (R,): ``mixed.reml_newton_terms`` for every trial,
    with Σ_jk w_j² w_k² L_jk² = tr((H⁻¹A)²), A = Σ_j w_j² x̄_j x̄_j'."""
    R, p = x.size, s.xbar.shape[2]
    t = {k: v[:, 0] for k, v in _gls(s, x[:, None]).items()}
    w, wr, Hinv, rss, lev = t["w"], t["wr"], t["Hinv"], t["rss"], t["lev"]
    w2 = w * w
    c = ((w * wr)[:, None, :] @ s.xbar)[:, 0]
    d_rss = -(wr * wr).sum(-1)
    dd_rss = 2.0 * (wr * wr * w).sum(-1) - 2.0 * _inner(c, _mv(Hinv, c))
    M = Hinv @ (w2[:, None, :] @ s.xx)[:, 0].reshape(R, p, p)
    slope = s.dof * d_rss / rss + w.sum(-1) - (w2 * lev).sum(-1)
    curv = (s.dof * (dd_rss / rss - (d_rss / rss) ** 2) - w2.sum(-1)
            + 2.0 * (w2 * w * lev).sum(-1)
            - _inner(M.reshape(R, p * p), M.transpose(0, 2, 1).reshape(R, p * p)))
    return slope, curv, t["zero"]


def _newton(s: Stats, lo: np.ndarray, hi: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``mixed._newton`` for every trial, each to its own stop (nan if none); only the
    trials still iterating are evaluated."""
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
        stop = np.abs(new - xi) <= _NEWTON_XTOL * np.maximum(xi, _GAMMA_GRID[1])
        good = np.isfinite(slope) & ~zero
        root[live[stop & good]] = new[stop & good]
        x[live] = new
        live = live[good & ~stop]
    return root


def _hermite_start(a, b, fa, fb, da, db):
    """``mixed._hermite_start`` elementwise."""
    h = b - a
    beta = (3.0 * (da + db) - 6.0 * (fb - fa) / h) / h ** 2
    alpha = (db - da) / h - beta * h
    disc = alpha * alpha - 4.0 * beta * da
    q = -0.5 * (alpha + np.copysign(np.sqrt(np.maximum(disc, 0.0)), alpha))
    r1, r2 = q / beta, np.where(q != 0.0, da / np.where(q != 0.0, q, 1.0), -1.0)
    in1, in2 = (0.0 <= r1) & (r1 <= h), (0.0 <= r2) & (r2 <= h)
    root = np.where(in1 & in2, np.minimum(r1, r2), np.where(in1, r1, r2))
    quadratic = (beta != 0.0) & (disc >= 0.0) & (in1 | in2)
    return np.where(quadratic, a + root, a - da * h / (db - da))


def gamma_candidates(s: Stats):
    """(γ̂, best grid γ, its criterion, ok) per trial: ``mixed.gamma_candidates``."""
    R, last = s.n_j.shape[0], _GAMMA_GRID.size - 1
    t = _evaluate(s, np.broadcast_to(_GAMMA_GRID, (R, last + 1)), _sum_log_v(s, _GAMMA_GRID))
    crit, slope, r = t["crit"], t["slope"], np.arange(R)
    vif = ((np.diagonal(s.wxx, 0, 1, 2) + (s.n_j[:, None, :] @ s.xbar ** 2)[:, 0])
           * np.diagonal(t["Hinv"][:, 0], 0, 1, 2))
    low = np.where(np.isnan(crit), np.inf, crit).min(1)
    high = np.where(np.isnan(crit), -np.inf, crit).max(1)
    k = np.argmin(np.where(np.isnan(crit), np.inf, crit), 1)
    ok = (np.isfinite(crit).any(1) & ~t["zero"].any(1) & (vif.max(1) < _MAX_VIF)
          & (vif.min(1) > 0.0) & ~(high - low <= _FLAT * (1.0 + np.abs(low))) & (k != last))
    boundary = ok & (k == 0) & (slope[:, 0] >= 0.0)
    i = np.where(slope[r, k] < 0.0, k, k - 1)  # the cell [i, i + 1] where the slope turns +
    ok &= boundary | (i >= 0)
    i = np.clip(i, 0, last - 1)
    g0, g1, d0, d1 = _GAMMA_GRID[i], _GAMMA_GRID[i + 1], slope[r, i], slope[r, i + 1]
    start = np.where((d0 < 0.0) & (0.0 < d1),
                     _hermite_start(g0, g1, crit[r, i], crit[r, i + 1], d0, d1), _GAMMA_GRID[k])
    todo = np.flatnonzero(ok & ~boundary)
    gamma = np.where(boundary, 0.0, np.nan)
    gamma[todo] = _newton(s.take(todo), g0[todo], g1[todo], start[todo])
    return gamma, _GAMMA_GRID[k], crit[r, k], ok & np.isfinite(gamma)


@dataclass(frozen=True)
class Fits:
    """``mixed.RemlFit`` of R trials: γ̂, β̂ (R, p), H(γ̂)⁻¹ (R, p, p), σ̂²_w, converged."""

    gamma: np.ndarray
    beta: np.ndarray
    Hinv: np.ndarray
    sigma2: np.ndarray
    ok: np.ndarray


def fit_reml(s: Stats) -> Fits:
    """``mixed.fit_from_stats`` for every trial: the Newton γ̂ if its criterion is no
    worse than the best grid point's, else that grid point."""
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
                rss / s.dof, ok)


def _forms(s: Stats, zz: np.ndarray, h: np.ndarray, h_w: np.ndarray, wzz: np.ndarray):
    """``mixed_df._forms`` per trial: h_w W_zz + Σ_j n_j h_j z̄_j z̄_j' for h (R, m, G),
    h_w (R, m); ``zz`` (R, G, q²) holds z̄_j z̄_j' flattened. Returns (R, m, q, q)."""
    R, m, q = h.shape[0], h.shape[1], wzz.shape[-1]
    between = ((h * s.n_j[:, None, :]) @ zz).reshape(R, m, q, q)
    return between + h_w[..., None, None] * wzz[:, None]


def satterthwaite_arm(s: Stats, f: Fits) -> np.ndarray:
    """Satterthwaite df of the arm coefficient per trial (``mixed_df.satterthwaite`` with
    c = e_arm, observed information; σ²_b dropped at the boundary γ̂ = 0); nan where the
    observed information is not positive definite. Padding teams are masked out."""
    R, G, p = s.xbar.shape
    sigma2, beta = f.sigma2, f.beta
    phi = sigma2[:, None, None] * f.Hinv
    tau = sigma2[:, None] * (1.0 + f.gamma[:, None] * s.n_j)                    # (R, G)
    delta = np.stack([s.n_j, (s.n_j > 0).astype(float)], 1)                     # (R, 2, G)
    rbar = s.ybar - (s.xbar @ beta[:, :, None])[..., 0]
    wxr = s.wxy - (s.wxx @ beta[:, :, None])[..., 0]
    wrr = (s.wyy - 2.0 * (beta * s.wxy).sum(-1)
           + (beta * (s.wxx @ beta[:, :, None])[..., 0]).sum(-1))
    q = p + 1
    wzz = np.zeros((R, q, q))
    wzz[:, :p, :p], wzz[:, :p, p], wzz[:, p, :p], wzz[:, p, p] = s.wxx, wxr, wxr, wrr
    zbar = np.concatenate([s.xbar, rbar[..., None]], -1)
    zz = (zbar[..., :, None] * zbar[..., None, :]).reshape(R, G, q * q)
    zero = np.zeros(R)
    Pz = _forms(s, zz, delta / (tau * tau)[:, None], np.stack([zero, 1.0 / sigma2 ** 2], 1),
                wzz)                                                            # (R, 2, q, q)
    dd = (delta[:, :, None, :] * delta[:, None, :, :]).reshape(R, 4, G)
    h_w = np.stack([zero, zero, zero, 1.0 / sigma2 ** 3], 1)
    Qz = _forms(s, zz, dd / (tau * tau * tau)[:, None], h_w, wzz).reshape(R, 2, 2, q, q)
    P, Q, Pr = Pz[:, :, :p, :p], Qz[:, :, :, :p, :p], Pz[:, :, :p, p]
    phiP = phi[:, None] @ P                                                     # (R, 2, p, p)
    within = np.stack([zero, zero, zero, (s.n_obs - (s.n_j > 0).sum(1)) / sigma2 ** 2], 1)
    phiT = phi.transpose(0, 2, 1).reshape(R, 1, p * p)                           # tr(ΦQ_ij)
    phiPT = phiP.transpose(0, 1, 3, 2).reshape(R, 1, 2, p * p)                   # tr(ΦP_iΦP_j)
    trace = ((dd / (tau * tau)[:, None]).sum(-1) + within
             - 2.0 * _inner(phiT, Q.reshape(R, 4, p * p))
             + _inner(phiP.reshape(R, 2, 1, p * p), phiPT).reshape(R, 4))
    quad = (Qz[:, :, :, p, p].reshape(R, 4)
            - _inner(Pr[:, :, None, :], _mv(phi[:, None], Pr)[:, None, :, :]).reshape(R, 4))
    obs = 2.0 * quad - trace                                                     # (R, 4)
    phic = phi[:, :, 1]
    g = _inner(phic[:, None, :], _mv(P, phic[:, None, :]))                      # (R, 2)
    variance = phi[:, 1, 1]
    # Cholesky L of the 2×2 (or, at the boundary, 1×1) observed information, then |L⁻¹g|².
    l11 = np.sqrt(obs[:, 0])
    l21 = obs[:, 2] / l11
    t22 = obs[:, 3] - l21 * l21
    h1 = g[:, 0] / l11
    h2 = (g[:, 1] - l21 * h1) / np.sqrt(t22)
    interior = np.where((obs[:, 0] > 0) & (t22 > 0), variance ** 2 / (h1 * h1 + h2 * h2), np.nan)
    hb = g[:, 1] / np.sqrt(obs[:, 3])
    boundary = np.where(obs[:, 3] > 0, variance ** 2 / (hb * hb), np.nan)
    return np.where(f.gamma == 0.0, boundary, interior)
