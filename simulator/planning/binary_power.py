"""Closed-form power for a two-arm parallel cluster randomised trial with a binary outcome.

The formula of clusterPower's ``cpa.binary`` (Kleinman et al., R package clusterPower 0.7.0,
R/cpa.binary.R; Donner & Klar 2000, "Design and Analysis of Cluster Randomization Trials in
Health Research", ch. 5), with k teams per arm of mean size m, size CV, marginal proportions
p1, p2 and ICC ρ on the proportion scale (``analysis.binary_model`` docstring):

    DEFF = 1 + ((CV² + 1) m − 1) ρ
    sd   = √((p1(1 − p1) + p2(1 − p2)) DEFF / (k m))        (pooled: √(2 p̄(1 − p̄) DEFF/(k m)))
    t:  power = P(T_{2(k−1), ncp} > t_{1−α/2, 2(k−1)}),  ncp = |p1 − p2| / sd
    z:  power = Φ(|p1 − p2| / sd − z_{1−α/2})

(one tail only, as clusterPower). ``solve_binary`` solves for whichever one of power, teams
per arm, team size or p2 is None, by Brent's method on cpa.binary's intervals; when no root
exists it warns and returns nan (statsmodels.stats.power's convention) instead of raising.

From the model's parameters (control proportion, ICC, conditional odds ratio), the
intervention arm's marginal proportion is E_u expit(β0 + log OR + u) (``binary_proportions``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

from scipy import optimize, stats

from simulator.analysis.binary_model import parameters_from_design, true_estimands

UNKNOWNS = ("power", "teams_per_arm", "patients_per_team", "p2")


@dataclass(frozen=True)
class BinaryPowerSolution:
    """Every quantity of the power formula, the solved one included (nan if no solution)."""

    power: float
    teams_per_arm: float
    patients_per_team: float
    p1: float
    p2: float
    icc: float
    cv: float = 0.0
    alpha: float = 0.05
    tdist: bool = True
    pooled: bool = False

    @property
    def design_effect(self) -> float:
        return binary_design_effect(self.patients_per_team, self.icc, self.cv)


def binary_design_effect(m: float, icc: float, cv: float = 0.0) -> float:
    """1 + ((CV² + 1) m − 1) ρ, clusterPower cpa.binary's design effect (module docstring)."""
    return 1.0 + ((cv**2 + 1.0) * m - 1.0) * icc


def binary_power(p1: float, p2: float, teams_per_arm: float, patients_per_team: float,
                 icc: float, *, cv: float = 0.0, alpha: float = 0.05, tdist: bool = True,
                 pooled: bool = False, two_tailed: bool = False) -> float:
    """Power of the two-sided test of p1 = p2 (module docstring; cpa.binary's ``pwr``);
    ``two_tailed`` adds the wrong-direction rejections, so that power at p1 = p2 is α (the
    simulated rejection rate's convention)."""
    k, m = teams_per_arm, patients_per_team
    deff = binary_design_effect(m, icc, cv)
    if pooled:
        p = (p1 + p2) / 2.0
        sd = math.sqrt(p * (1.0 - p) * 2.0 * deff / (k * m))
    else:
        sd = math.sqrt((p1 * (1.0 - p1) + p2 * (1.0 - p2)) * deff / (k * m))
    ncp = abs(p1 - p2) / sd
    if not tdist:
        z = stats.norm.isf(alpha / 2.0)
        return float(stats.norm.cdf(ncp - z) + (stats.norm.cdf(-ncp - z) if two_tailed else 0.0))
    df = 2.0 * (k - 1.0)
    t = stats.t.isf(alpha / 2.0, df)
    return float(stats.nct.sf(t, df, ncp) + (stats.nct.cdf(-t, df, ncp) if two_tailed else 0.0))


def _interval(name: str, s: BinaryPowerSolution, p2_above: bool) -> tuple[float, float]:
    """cpa.binary's search interval for the unknown ``name``."""
    if name == "p2":
        return (s.p1 + 1e-7, 1.0 - 1e-7) if p2_above else (1e-7, s.p1 - 1e-7)
    return 2.0 + 1e-10, 1e7


def solve_binary(*, power: float | None = None, teams_per_arm: float | None = None,
                 patients_per_team: float | None = None, p1: float, p2: float | None = None,
                 icc: float, cv: float = 0.0, alpha: float = 0.05, tdist: bool = True,
                 pooled: bool = False, p2_above: bool = True) -> BinaryPowerSolution:
    """Solve for the one of power, teams_per_arm, patients_per_team, p2 given as None (module
    docstring). ``p2_above``: search p2 above p1 (else below). The solved teams or team size
    is continuous: round up for a design. ValueError unless exactly one is None."""
    given = dict(power=power, teams_per_arm=teams_per_arm,
                 patients_per_team=patients_per_team, p2=p2)
    free = [k for k, v in given.items() if v is None]
    if len(free) != 1:
        raise ValueError(f"exactly one of {list(UNKNOWNS)} must be None; got {free or 'none'}")
    value = lambda v: float("nan") if v is None else float(v)  # noqa: E731
    s = BinaryPowerSolution(value(power), value(teams_per_arm), value(patients_per_team),
                            p1, value(p2), icc, cv, alpha, tdist, pooled)
    return _solve(free[0], s, p2_above)


def _power_of(s: BinaryPowerSolution) -> float:
    return binary_power(s.p1, s.p2, s.teams_per_arm, s.patients_per_team, s.icc, cv=s.cv,
                        alpha=s.alpha, tdist=s.tdist, pooled=s.pooled)


def _solve(name: str, s: BinaryPowerSolution, p2_above: bool) -> BinaryPowerSolution:
    if name == "power":
        return replace(s, power=_power_of(s))
    gap = lambda v: _power_of(replace(s, **{name: v})) - s.power  # noqa: E731
    lo, hi = _interval(name, s, p2_above)
    try:
        root = optimize.brentq(gap, lo, hi, xtol=1e-10, rtol=1e-12)
    except ValueError:
        warnings.warn(f"solve_binary: no {name} in [{lo:g}, {hi:g}] gives power {s.power}",
                      RuntimeWarning, stacklevel=3)
        root = float("nan")
    return replace(s, **{name: float(root)})


@dataclass(frozen=True)
class BinaryProportions:
    """Marginal proportions implied by the model (``crtsim power --json`` reports them)."""

    proportion_ctl: float
    proportion_int: float
    sigma_u: float


def binary_proportions(control_proportion: float, icc: float,
                       odds_ratio: float) -> BinaryProportions:
    """Control and intervention marginal proportions for a conditional odds ratio: σ_u and β0
    from the proportion-scale ICC in the control arm, then E_u expit(β0 + log OR + u)."""
    par = parameters_from_design(control_proportion, icc, odds_ratio)
    truth = true_estimands(par.intercept, par.sigma_u, par.log_or)
    return BinaryProportions(truth.proportion_ctl, truth.proportion_int, par.sigma_u)
