"""Small-sample inference for a contrast c'β of the REML random-intercept fit (``mixed``):
Satterthwaite and Kenward–Roger, with exact derivatives in the variance parameters.

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
Hessian tr(PV_iPV_j) (Searle, Casella & McCulloch 1992, ch. 6). All closed forms: O(G p²).

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

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: mixed imports this module
    from simulator.analysis.mixed import GroupStats, RemlFit

DF_METHODS = ("between_within", "satterthwaite", "kenward_roger")


@dataclass(frozen=True)
class VarianceDerivatives:
    """Derivatives in θ = (σ²_b, σ²_w) at the REML estimates (module docstring)."""

    phi: np.ndarray       # (p, p) Φ = (X'V⁻¹X)⁻¹
    P: np.ndarray         # (2, p, p) X'V⁻¹V_iV⁻¹X; ∂Φ/∂θ_i = Φ P_i Φ
    Q: np.ndarray         # (2, 2, p, p) X'V⁻¹V_iV⁻¹V_jV⁻¹X
    expected: np.ndarray  # (2, 2) tr(PV_iPV_j): expected Hessian of the REML deviance
    observed: np.ndarray  # (2, 2) observed Hessian of the REML deviance
    boundary: bool        # σ̂²_b = 0


def _residual_stats(s: GroupStats, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(team means z̄_j (G, p+1), within cross-products W_zz (p+1, p+1)) of z = [X, r]."""
    rbar = s.ybar - s.xbar @ beta
    wxr = s.wxy - s.wxx @ beta
    wrr = s.wyy - 2.0 * beta @ s.wxy + beta @ s.wxx @ beta
    wzz = np.block([[s.wxx, wxr[:, None]], [wxr[None, :], np.array([[wrr]])]])
    return np.column_stack([s.xbar, rbar]), wzz


def _forms(s: GroupStats, zbar, wzz, h: np.ndarray, h_w: np.ndarray) -> np.ndarray:
    """C(h, h_w) = h_w W_zz + Σ_j n_j h_j z̄_j z̄_j', batched over the leading axes of
    h (..., G) and h_w (...)."""
    between = np.einsum("...g,ga,gb->...ab", h * s.n_j, zbar, zbar)
    return between + h_w[..., None, None] * wzz


def variance_derivatives(s: GroupStats, fit: RemlFit) -> VarianceDerivatives:
    """P_i, Q_ij, expected and observed REML Hessians at the fit (module docstring)."""
    p, sigma2 = s.n_params, fit.var_within
    tau = sigma2 * (1.0 + fit.gamma * s.n_j)
    delta = np.stack([s.n_j, np.ones_like(s.n_j)])  # (2, G) ∂τ_j/∂θ_i
    delta_w = np.array([0.0, 1.0])                   # within coordinates
    zbar, wzz = _residual_stats(s, fit.beta)
    Pz = _forms(s, zbar, wzz, delta / tau ** 2, delta_w / sigma2 ** 2)
    dd = delta[:, None, :] * delta[None, :, :]
    Qz = _forms(s, zbar, wzz, dd / tau ** 3, np.outer(delta_w, delta_w) / sigma2 ** 3)
    phi = fit.cov_beta
    P, Q, Pr = Pz[:, :p, :p], Qz[:, :, :p, :p], Pz[:, :p, p]
    phiP = phi @ P                                   # (2, p, p)
    trace = ((dd / tau ** 2).sum(axis=-1) + (s.n_obs - s.n_j.size) * np.outer(delta_w, delta_w)
             / sigma2 ** 2 - 2.0 * np.einsum("ab,ijba->ij", phi, Q)
             + np.einsum("iab,jba->ij", phiP, phiP))
    quad = Qz[:, :, p, p] - np.einsum("ia,ab,jb->ij", Pr, phi, Pr)
    return VarianceDerivatives(phi, P, Q, trace, 2.0 * quad - trace, fit.gamma == 0.0)


def _gradient(d: VarianceDerivatives, c: np.ndarray) -> np.ndarray:
    """g_i = ∂(c'Φc)/∂θ_i = c'ΦP_iΦc."""
    phic = d.phi @ c
    return np.einsum("a,iab,b->i", phic, d.P, phic)


def _df(variance: float, g: np.ndarray, hessian: np.ndarray) -> float:
    """2(c'Φc)²/(g'Ag) with A = 2 hessian⁻¹ (hessian of the REML deviance); nan unless the
    hessian is positive definite."""
    try:
        chol = np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return float("nan")
    half = np.linalg.solve(chol, g)  # g'A g = 2 |L⁻¹g|²
    return float(variance ** 2 / (half @ half))


def satterthwaite(d: VarianceDerivatives, c: np.ndarray) -> tuple[float, float]:
    """(c'Φc, Satterthwaite df) with the observed information, as lmerTest; at the boundary
    σ̂²_b = 0 only σ²_w is a free parameter (module docstring)."""
    variance, g = float(c @ d.phi @ c), _gradient(d, c)
    free = slice(1, 2) if d.boundary else slice(0, 2)
    return variance, _df(variance, g[free], d.observed[free, free])


def kenward_roger(d: VarianceDerivatives, c: np.ndarray) -> tuple[float, float]:
    """(c'Φ_Ac, KR df) for one contrast, as pbkrtest ``vcovAdj`` and ``Lb_ddf`` (module
    docstring: λ = 1, m = 2(c'Φc)²/(g'Wg) with the expected information)."""
    try:
        W = 2.0 * np.linalg.inv(d.expected)
    except np.linalg.LinAlgError:
        return float("nan"), float("nan")
    U = np.einsum("ij,ijab->ab", W, d.Q - d.P[:, None] @ d.phi @ d.P[None, :])
    phi_adj = d.phi + 2.0 * d.phi @ U @ d.phi
    variance = float(c @ d.phi @ c)
    return float(c @ phi_adj @ c), _df(variance, _gradient(d, c), d.expected)


def contrast_inference(s: GroupStats, fit: RemlFit, c: np.ndarray, method: str
                       ) -> tuple[float, float]:
    """(SE of c'β̂, df) by ``method`` "satterthwaite" or "kenward_roger"; nan where the
    information is singular or the (adjusted) variance is not positive."""
    with np.errstate(all="ignore"):
        d = variance_derivatives(s, fit)
        variance, df = satterthwaite(d, c) if method == "satterthwaite" else kenward_roger(d, c)
    return (math.sqrt(variance) if variance > 0.0 else float("nan")), df
