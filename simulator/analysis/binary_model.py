"""Random-intercept logistic model for a binary outcome: the ICC on the proportion scale, the
intercept that gives a marginal proportion, true estimands by integration, and the draw.

Model (team j, patient i): u_j ~ N(0, σ_u²), logit π_ij = β0 + δ·arm_j + x_ij'γ + u_j,
y_ij ~ Bernoulli(π_ij). δ is the *conditional* log odds ratio (the GLMM's parameter).

Proportion-scale ICC. For patients of one team with the same linear predictor, the team's
proportion π_j = expit(β0 + σ_u Z) (Z standard normal) has mean p̄ = E π_j and

    ICC_prop = Cov(y_ij, y_kj) / Var(y_ij) = Var_Z(π_j) / (p̄(1 − p̄)),

the correlation of two outcomes in the same team. It is the ρ of the design effect
1 + (m − 1)ρ, which is how clusterPower's ``cpa.binary`` and trial reports use the ICC
(Eldridge, Ukoumunne & Carlin 2009, Int Stat Rev 77:378, section 4; Goldstein, Browne &
Rasbash 2002, Understanding Statistics 1:223, "method D" computes the same quantity by
simulation). Given ICC_prop and the control proportion p, σ_u is found in two nested
one-dimensional solves:
  1. for a given σ_u, β0(σ_u) is the root of E_Z expit(β0 + σ_u Z) = p (increasing in β0;
     Newton steps, derivative E_Z π(1 − π));
  2. σ_u is the root of ICC_prop(σ_u; β0(σ_u)) = ICC (increasing in σ_u) by Brent's method.

Integration: E_Z f(Z) by Gauss–Hermite quadrature for the weight exp(−z²/2)
(``numpy.polynomial.hermite_e.hermegauss``, weights divided by √(2π)) with ``N_NODES`` = 150
nodes. expit(β0 + σz) is analytic in a strip of half-width π/σ, so the error falls
geometrically in √n; against adaptive quadrature (tests/test_binary_model.py) it is below
1e-12 for σ_u ≤ 2, 1e-9 for σ_u ≤ 3 and 1e-6 at σ_u = 5. ``SIGMA_MAX`` = 5 bounds the solves (at p = 0.3
that is ICC_prop ≈ 0.6, far beyond what cluster trials report).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, special

N_NODES = 150
SIGMA_MAX = 5.0
_TOL = 1e-13


@lru_cache(maxsize=8)
def normal_nodes(n: int = N_NODES) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, weights) with Σ w f(z) ≈ E f(Z), Z ~ N(0, 1) (Gauss–Hermite, probabilists')."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / np.sqrt(2.0 * np.pi)


def expected_expit(eta: np.ndarray | float, sigma: float, power: int = 1) -> np.ndarray:
    """E_Z expit(η + σZ)^power for each η (array broadcast), by Gauss–Hermite."""
    z, w = normal_nodes()
    pi = special.expit(np.asarray(eta, float)[..., None] + sigma * z)
    return (pi ** power) @ w


def intercept_for_proportion(p: float, sigma: float) -> float:
    """β0 with E_Z expit(β0 + σZ) = p (conditional intercept giving marginal proportion p).

    Newton steps (derivative E_Z π(1 − π) > 0) from the attenuation approximation
    logit(p)·√(1 + c²σ²), c = 16√3/(15π) (Zeger, Liang & Albert 1988, Biometrics 44:1049),
    until a step is below 1e-13.
    """
    if not 0.0 < p < 1.0 or not 0.0 <= sigma <= SIGMA_MAX:
        raise ValueError(f"need 0 < p < 1 and 0 <= sigma <= {SIGMA_MAX}; got p={p}, sigma={sigma}")
    z, w = normal_nodes()
    b = special.logit(p) * np.sqrt(1.0 + (16.0 * np.sqrt(3.0) / (15.0 * np.pi)) ** 2 * sigma**2)
    for _ in range(100):
        pi = special.expit(b + sigma * z)
        step = (pi @ w - p) / ((pi * (1.0 - pi)) @ w)
        b -= step
        if abs(step) < _TOL:
            break
    return float(b)


def proportion_icc(p: float, sigma: float) -> float:
    """ICC on the proportion scale, Var_Z(π_j) / (p(1 − p)), for marginal proportion p."""
    b = intercept_for_proportion(p, sigma)
    second = float(expected_expit(b, sigma, power=2))
    return (second - p * p) / (p * (1.0 - p))


def latent_sd_for_icc(icc: float, p: float) -> float:
    """σ_u of the random-intercept logistic model whose proportion-scale ICC at marginal
    proportion p is ``icc`` (module docstring; Brent's method, xtol 1e-12). 0 for icc = 0;
    ValueError when icc needs σ_u > SIGMA_MAX."""
    if icc == 0.0:
        return 0.0
    top = proportion_icc(p, SIGMA_MAX)
    if not 0.0 < icc < top:
        raise ValueError(f"icc={icc} at p={p}: need 0 <= icc < {top:.3f} (sigma_u <= {SIGMA_MAX})")
    return float(optimize.brentq(lambda s: proportion_icc(p, s) - icc, 0.0, SIGMA_MAX,
                                 xtol=1e-12, rtol=1e-14))


@dataclass(frozen=True)
class BinaryParameters:
    """The model's natural parameters for a two-arm trial without covariates."""

    intercept: float     # β0, conditional log odds in control teams at u = 0
    sigma_u: float       # SD of the team random intercept (logit scale)
    log_or: float        # δ, conditional log odds ratio


def parameters_from_design(control_proportion: float, icc: float,
                           odds_ratio: float) -> BinaryParameters:
    """β0, σ_u from the control arm's marginal proportion and proportion-scale ICC (both as a
    scenario gives them, ICC taken in the control arm), and δ = log(conditional OR)."""
    sigma = latent_sd_for_icc(icc, control_proportion)
    return BinaryParameters(intercept_for_proportion(control_proportion, sigma), sigma,
                            float(np.log(odds_ratio)))


@dataclass(frozen=True)
class BinaryEstimands:
    """True values of each estimator's estimand (module docstring), by integration over u."""

    conditional_log_or: float   # δ: glmm
    marginal_log_or: float      # log[p1(1 − p0) / (p0(1 − p1))]: gee_robust
    risk_difference: float      # p1 − p0: cluster_summary
    proportion_ctl: float       # p0 = E_u expit(β0 + u)
    proportion_int: float       # p1 = E_u expit(β0 + δ + u)


def true_estimands(intercept: float, sigma_u: float, log_or: float) -> BinaryEstimands:
    """Marginal proportions in each arm by Gauss–Hermite integration over u ~ N(0, σ_u²), and
    the marginal (population-averaged) log OR and risk difference they imply. Teams weigh
    equally with patients here: the marginal mean over patients of equal-probability teams."""
    p0, p1 = (float(v) for v in expected_expit(np.array([intercept, intercept + log_or]), sigma_u))
    marginal = float(special.logit(p1) - special.logit(p0))
    return BinaryEstimands(float(log_or), marginal, p1 - p0, p0, p1)


def draw_binary(eta: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """y ~ Bernoulli(expit(η)) elementwise, as float 0/1 of η's shape: one uniform per element
    (y = U < expit(η)), so the draws for a given rng state depend only on η's size."""
    return (rng.random(np.shape(eta)) < special.expit(eta)).astype(float)


def draw_team_effects(sigma_u: float, n_teams, *, rng: np.random.Generator) -> np.ndarray:
    """u_j ~ N(0, σ_u²), shape ``n_teams`` (an int or a tuple, e.g. (replicates, teams))."""
    return sigma_u * rng.standard_normal(n_teams)
