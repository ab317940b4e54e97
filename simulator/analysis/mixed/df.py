"""Small-sample df for a contrast c'β of the REML fits of a batch of trials (``reml``):
Satterthwaite and Kenward–Roger, with exact derivatives in the variance parameters; the
between-within df is a count (``ancova``).

Parameters θ = (σ²_b, σ²_w); V is linear in θ: V_1 = ∂V/∂σ²_b = ZZ' (block J_j per team),
V_2 = ∂V/∂σ²_w = I. Rotate each team's rows to the orthonormal basis whose first vector is
1/√n_j: V becomes diagonal, with variance τ_j = σ²_w + n_jσ²_b and derivatives δ_j = (n_j, 1)
on team j's "between" coordinate (the team mean × √n_j), and σ²_w with derivatives (0, 1) on
the N − G "within" coordinates. With z = [X, r] (r = y − Xβ̂ at the REML estimates), every
quadratic form needed is C(h, h_w) = h_w W_zz + Σ_j n_j h_j z̄_j z̄_j' (pooled within-team
cross-products W_zz, team means z̄_j): with Φ = (X'V⁻¹X)⁻¹, P = V⁻¹ − V⁻¹XΦX'V⁻¹, e = V⁻¹r,

    P_i  = X'V⁻¹V_iV⁻¹X          = C(δ_i/τ², δ_w,i/σ⁴_w)[X, X]     (∂Φ/∂θ_i = ΦP_iΦ)
    Q_ij = X'V⁻¹V_iV⁻¹V_jV⁻¹X    = C(δ_iδ_j/τ³, δ_w,iδ_w,j/σ⁶_w)[X, X]
    tr(PV_iPV_j) = Σ_j δ_iδ_j/τ_j² + (N − G)δ_w,iδ_w,j/σ⁴_w − 2 tr(ΦQ_ij) + tr(ΦP_iΦP_j)
    e'V_iPV_je   = Q_ij[r, r] − P_i[X, r]'Φ P_j[X, r]

(the [·, r] blocks are the same forms with r in place of a column of X). The REML deviance
−2ℓ_R = log|V| + log|X'V⁻¹X| + y'Py has Hessian −tr(PV_iPV_j) + 2 e'V_iPV_je and expected
Hessian tr(PV_iPV_j) (Searle, Casella & McCulloch 1992, ch. 6). All closed forms: O(G p²)
per trial, padding teams masked out.

Satterthwaite (1946, Biometrics Bull. 2:110), as lmerTest (Kuznetsova, Brockhoff &
Christensen 2017, J. Stat. Softw. 82(13)): df = 2(c'Φc)² / (g'Ag), g_i = c'ΦP_iΦc,
A = 2 × inverse of the observed Hessian of the REML deviance. lmerTest differentiates in
(σ_b/σ_w, σ_w); at an interior optimum the observed Hessian transforms with the Jacobian
(the gradient is zero), so the df is the same in any parametrisation. At the boundary
σ̂²_b = 0, ∂Φ/∂σ_b = 0 in lmerTest's parametrisation: σ²_b drops out and df = n − p.

Kenward & Roger (1997, Biometrics 53:983), as pbkrtest (Halekoh & Højsgaard 2014, J. Stat.
Softw. 59(9)): W = 2 × inverse of the expected Hessian, Φ_A = Φ + 2ΦUΦ with
U = Σ_ij W_ij (Q_ij − P_iΦP_j) (the R_ij terms vanish: V is linear in θ). For one contrast
(q = 1) the KR quantities reduce exactly: with a = g'Wg/(c'Φc)², A₁ = A₂ = a, B = 7a/2,
g = −1, ρ = (1 − a/2)/(1 − 2a), so the F scale λ = 1 and m = 4 + 3/(ρ − 1) = 2/a: the
t statistic c'β̂/√(c'Φ_Ac) on 2(c'Φc)²/(g'Wg) df (the Satterthwaite df with the expected
information, on the unadjusted Φ).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from simulator.analysis.linalg import inner, mv
from simulator.analysis.mixed.reml import Fits
from simulator.analysis.mixed.stats import Stats

DF_METHODS = ("between_within", "satterthwaite", "kenward_roger")


@dataclass(frozen=True)
class VarianceDerivatives:
    """Derivatives in θ = (σ²_b, σ²_w) at the REML estimates of R trials (module docstring)."""

    phi: np.ndarray       # (R, p, p) Φ = (X'V⁻¹X)⁻¹
    P: np.ndarray         # (R, 2, p, p) X'V⁻¹V_iV⁻¹X; ∂Φ/∂θ_i = Φ P_i Φ
    Q: np.ndarray         # (R, 2, 2, p, p) X'V⁻¹V_iV⁻¹V_jV⁻¹X
    expected: np.ndarray  # (R, 2, 2) tr(PV_iPV_j): expected Hessian of the REML deviance
    observed: np.ndarray  # (R, 2, 2) observed Hessian of the REML deviance
    boundary: np.ndarray  # (R,) σ̂²_b = 0

    def trial(self, r: int) -> "VarianceDerivatives":
        """Trial r alone, without the batch axis (the df functions take either)."""
        return VarianceDerivatives(*(getattr(self, f.name)[r] for f in fields(self)))


def _forms(s: Stats, zz: np.ndarray, h: np.ndarray, h_w: np.ndarray, wzz: np.ndarray):
    """C(h, h_w) = h_w W_zz + Σ_j n_j h_j z̄_j z̄_j' per trial for h (R, m, G), h_w (R, m);
    ``zz`` (R, G, q²) holds z̄_j z̄_j' flattened. Returns (R, m, q, q)."""
    R, m, q = h.shape[0], h.shape[1], wzz.shape[-1]
    between = ((h * s.n_j[:, None, :]) @ zz).reshape(R, m, q, q)
    return between + h_w[..., None, None] * wzz[:, None]


def _residual_stats(s: Stats, beta: np.ndarray):
    """(z̄_j z̄_j' flattened (R, G, q²), W_zz (R, q, q)) of z = [X, r], q = p + 1."""
    R, G, p = s.xbar.shape
    rbar = s.ybar - (s.xbar @ beta[:, :, None])[..., 0]
    wxr = s.wxy - (s.wxx @ beta[:, :, None])[..., 0]
    wrr = (s.wyy - 2.0 * (beta * s.wxy).sum(-1)
           + (beta * (s.wxx @ beta[:, :, None])[..., 0]).sum(-1))
    q = p + 1
    wzz = np.zeros((R, q, q))
    wzz[:, :p, :p], wzz[:, :p, p], wzz[:, p, :p], wzz[:, p, p] = s.wxx, wxr, wxr, wrr
    zbar = np.concatenate([s.xbar, rbar[..., None]], -1)
    return (zbar[..., :, None] * zbar[..., None, :]).reshape(R, G, q * q), wzz


def variance_derivatives(s: Stats, f: Fits) -> VarianceDerivatives:
    """P_i, Q_ij, expected and observed REML Hessians at the fits (module docstring)."""
    R, G, p = s.xbar.shape
    sigma2, zero = f.sigma2, np.zeros(R)
    phi = sigma2[:, None, None] * f.Hinv
    tau = sigma2[:, None] * (1.0 + f.gamma[:, None] * s.n_j)                    # (R, G)
    delta = np.stack([s.n_j, (s.n_j > 0).astype(float)], 1)                     # (R, 2, G)
    zz, wzz = _residual_stats(s, f.beta)
    Pz = _forms(s, zz, delta / (tau * tau)[:, None], np.stack([zero, 1.0 / sigma2 ** 2], 1),
                wzz)                                                            # (R, 2, q, q)
    dd = (delta[:, :, None, :] * delta[:, None, :, :]).reshape(R, 4, G)
    h_w = np.stack([zero, zero, zero, 1.0 / sigma2 ** 3], 1)
    Qz = _forms(s, zz, dd / (tau * tau * tau)[:, None], h_w, wzz).reshape(R, 2, 2, p + 1, p + 1)
    P, Q, Pr = Pz[:, :, :p, :p], Qz[:, :, :, :p, :p], Pz[:, :, :p, p]
    phiP = phi[:, None] @ P                                                     # (R, 2, p, p)
    within = np.stack([zero, zero, zero, (s.n_obs - (s.n_j > 0).sum(1)) / sigma2 ** 2], 1)
    phiT = phi.transpose(0, 2, 1).reshape(R, 1, p * p)                           # tr(ΦQ_ij)
    phiPT = phiP.transpose(0, 1, 3, 2).reshape(R, 1, 2, p * p)                   # tr(ΦP_iΦP_j)
    trace = ((dd / (tau * tau)[:, None]).sum(-1) + within
             - 2.0 * inner(phiT, Q.reshape(R, 4, p * p))
             + inner(phiP.reshape(R, 2, 1, p * p), phiPT).reshape(R, 4))
    quad = (Qz[:, :, :, p, p].reshape(R, 4)
            - inner(Pr[:, :, None, :], mv(phi[:, None], Pr)[:, None, :, :]).reshape(R, 4))
    obs = 2.0 * quad - trace                                                     # (R, 4)
    return VarianceDerivatives(phi, P, Q, trace.reshape(R, 2, 2), obs.reshape(R, 2, 2),
                               f.gamma == 0.0)


def _gradient(d: VarianceDerivatives, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(c'Φc, g_i = ∂(c'Φc)/∂θ_i = c'ΦP_iΦc (..., 2)) for the contrast c (p,)."""
    phic = mv(d.phi, c)
    return inner(c, phic), inner(phic[..., None, :], mv(d.P, phic[..., None, :]))


def _df(variance: np.ndarray, g: np.ndarray, hessian: np.ndarray) -> np.ndarray:
    """2 variance²/(g'Ag) with A = 2 hessian⁻¹ (..., 2, 2): |L⁻¹g|² by the Cholesky factor
    L of each 2 × 2 hessian; nan unless it is positive definite."""
    l11 = np.sqrt(hessian[..., 0, 0])
    l21 = hessian[..., 1, 0] / l11
    t22 = hessian[..., 1, 1] - l21 * l21
    h1 = g[..., 0] / l11
    h2 = (g[..., 1] - l21 * h1) / np.sqrt(t22)
    return np.where((hessian[..., 0, 0] > 0) & (t22 > 0), variance ** 2 / (h1 * h1 + h2 * h2),
                    np.nan)


def satterthwaite(d: VarianceDerivatives, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(c'Φc, Satterthwaite df) per trial for the contrast c (p,), with the observed
    information, as lmerTest; at the boundary σ̂²_b = 0 only σ²_w is a free parameter
    (module docstring)."""
    with np.errstate(all="ignore"):  # nan where not positive definite
        variance, g = _gradient(d, c)
        hb = g[..., 1] / np.sqrt(d.observed[..., 1, 1])
        boundary = np.where(d.observed[..., 1, 1] > 0, variance ** 2 / (hb * hb), np.nan)
        return variance, np.where(d.boundary, boundary, _df(variance, g, d.observed))


def kenward_roger(d: VarianceDerivatives, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(c'Φ_Ac, KR df) per trial for the contrast c (p,), as pbkrtest ``vcovAdj`` and
    ``Lb_ddf`` (module docstring: λ = 1, m = 2(c'Φc)²/(g'Wg) with the expected
    information); nan where the expected information is singular."""
    with np.errstate(all="ignore"):
        return _kenward_roger(d, c)


def _kenward_roger(d: VarianceDerivatives, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``kenward_roger``; W by the closed-form inverse of each 2 × 2 expected Hessian."""
    e = d.expected
    det = e[..., 0, 0] * e[..., 1, 1] - e[..., 0, 1] * e[..., 1, 0]
    W = 2.0 * np.stack([e[..., 1, 1], -e[..., 0, 1], -e[..., 1, 0], e[..., 0, 0]], -1)
    W = W / det[..., None]
    U = 0.0
    for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)):  # U = Σ_ij W_ij (Q_ij − P_iΦP_j)
        term = d.Q[..., i, j, :, :] - d.P[..., i, :, :] @ d.phi @ d.P[..., j, :, :]
        U = U + W[..., 2 * i + j, None, None] * term
    phi_adj = d.phi + 2.0 * d.phi @ U @ d.phi
    variance, g = _gradient(d, c)
    return inner(c, mv(phi_adj, c)), _df(variance, g, e)
