"""Closed-form power for a two-arm parallel cluster randomised trial, continuous outcome.

Conventions follow R's clusterPower ``cpa.normal`` (worked examples CP-1..CP-4 in
``/work/shared/reference/analytic_power.md``).  With k teams per arm, m patients analysed per
team, difference d and total outcome SD sigma:

    df = 2(k - 1),  t_crit = t_{1 - alpha/2, df},  ncp = sqrt(k m / (2 VIF)) |d| / sigma,
    power = P(T_{df, ncp} > t_crit)                 (noncentral t, upper tail only)

VIF, the variance inflation relative to individual randomisation of the same patients, is
``design_effect`` (equal sizes, Eldridge 2006, van Breukelen 2007 Taylor) or
``exact_design_effect`` (a known vector of team sizes), times the baseline-adjustment factor
1 - r^2 of Teerenstra et al. (2012) when baseline correlations are given (df stay 2(k - 1),
as in the reference).  Equation numbers are not cited: the formulas are those written out in
analytic_power.md, with the paper each comes from.

Known vector of team sizes: method "exact" uses VIF = DEFF(m) / RE, RE <= 1 the relative
efficiency of van Breukelen et al. (2007); "exact_clusterpower" uses DEFF(m) * RE, which is what
clusterPower computes and analytic_power.md states (it reproduces CP-3, 0.13315) but which gives
*more* power to unequal than to equal sizes.  Prefer "exact" (or "taylor") for planning.

Scenario forces enter as follows.
- Attrition: the analysed team size is the recruited size times (1 - attrition), and the
  solved ``patients_per_team`` is the number *recruited*.  The CV of team sizes is kept as
  given (random dropout raises it slightly; pass a larger CV to allow for that).
- Implementation dilution: the caller passes the expected ITT effect as ``effect``
  (e.g. delta_full * E[g(E)]); nothing here models implementation.
- Unequal arms (14 vs 13 teams): pass the harmonic mean 2 k1 k0 / (k1 + k0) as
  ``teams_per_arm`` (same variance; df then differs from k1 + k0 - 2 by a few hundredths).

This is the only implementation of these formulas: ``closed_form`` (``crtsim power`` and
``solve``) and ``derived`` (``crtsim validate``) call ``design_effect`` and ``solve_power``.
The argument records and their checks are in ``power_inputs``.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
from scipy import optimize, stats

from simulator.planning.power_inputs import (EXACT_METHODS, SIZE_METHODS, UNKNOWNS, Assumptions,
                                             BaselineCorrelations, PowerSolution,
                                             argument_problems, free_unknowns, raise_if)

__all__ = ["Assumptions", "BaselineCorrelations", "PowerSolution", "baseline_factor",
           "design_effect", "exact_design_effect", "relative_efficiency", "solve_power"]


def design_effect(m_bar: float, icc: float, cv: float = 0.0, method: str = "taylor") -> float:
    """Variance inflation of a CRT with mean team size m_bar and size CV ``cv``.

    equal:    DEFF = 1 + (m - 1) rho                      (Donner & Klar 2000)
    eldridge: 1 + ((CV^2 + 1) m - 1) rho                  (Eldridge, Ashby & Kerry 2006,
                                                           IJE 35:1292, "weighted")
    taylor:   DEFF / (1 - CV^2 L (1 - L)), L = m rho / DEFF
              (Taylor approximation of van Breukelen, Candel & Berger 2007, Stat Med 26:2589)
    """
    deff = 1.0 + (m_bar - 1.0) * icc
    if method == "equal":
        return deff
    if method == "eldridge":
        return 1.0 + ((cv**2 + 1.0) * m_bar - 1.0) * icc
    if method == "taylor":
        lam = m_bar * icc / deff
        denominator = 1.0 - cv**2 * lam * (1.0 - lam)
        if denominator <= 0:
            raise ValueError(f"taylor approximation breaks down at cv={cv!r}")
        return deff / denominator
    raise ValueError(f"method={method!r}: need one of {SIZE_METHODS}")


def relative_efficiency(cluster_sizes, icc: float) -> float:
    """Efficiency of unequal vs equal sizes with the same mean, ML analysis (<= 1).

    RE = ((m + a) / m) * mean_j(n_j / (n_j + a)), a = (1 - rho) / rho
    (van Breukelen, Candel & Berger 2007, Stat Med 26:2589).
    """
    sizes = np.asarray(cluster_sizes, dtype=float)
    if icc == 0:
        return 1.0
    a = (1.0 - icc) / icc
    m_bar = sizes.mean()
    return float((m_bar + a) / m_bar * np.mean(sizes / (sizes + a)))


def exact_design_effect(cluster_sizes, icc: float, *, convention: str = "van_breukelen") -> float:
    """Variance inflation for a known vector of team sizes (one arm).

    "van_breukelen": DEFF(m) / RE, the variance of the ML estimator relative to individual
    randomisation.  "clusterpower": DEFF(m) * RE, as clusterPower's cpa.normal computes it and
    as analytic_power.md states it (reproduces CP-3); since RE <= 1 this *understates* the
    inflation, giving more power than equal team sizes would.
    """
    m_bar = float(np.mean(cluster_sizes))
    deff = design_effect(m_bar, icc, method="equal")
    efficiency = relative_efficiency(cluster_sizes, icc)
    if convention == "van_breukelen":
        return deff / efficiency
    if convention == "clusterpower":
        return deff * efficiency
    raise ValueError(f"convention={convention!r}: need 'van_breukelen' or 'clusterpower'")


def baseline_factor(m_bar: float, icc: float, correlations: BaselineCorrelations) -> float:
    """Variance factor 1 - r^2 of baseline adjustment in a cohort CRT.

    r = (m rho rho_c + (1 - rho) rho_s) / (1 + (m - 1) rho), rho_c the cluster and rho_s the
    individual autocorrelation (Teerenstra et al. 2012, Stat Med 31:2169).
    """
    r = (m_bar * icc * correlations.cluster + (1.0 - icc) * correlations.individual) / (
        1.0 + (m_bar - 1.0) * icc
    )
    return 1.0 - r**2


def _analysed_design(teams_per_arm, patients_per_team, a: Assumptions) -> tuple[float, ...]:
    """(k, analysed mean size m, VIF) after attrition and baseline adjustment."""
    keep = 1.0 - a.attrition
    if a.cluster_sizes is not None:
        sizes = keep * np.asarray(a.cluster_sizes, dtype=float)
        k, m_bar = float(sizes.size), float(sizes.mean())
        cv = float(sizes.std(ddof=1) / m_bar)
    else:
        k, m_bar, cv = float(teams_per_arm), keep * float(patients_per_team), a.cv
    if a.method in EXACT_METHODS:
        convention = "clusterpower" if a.method == "exact_clusterpower" else "van_breukelen"
        vif = exact_design_effect(sizes, a.icc, convention=convention)
    else:
        vif = design_effect(m_bar, a.icc, cv, a.method)
    if a.baseline is not None:
        vif *= baseline_factor(m_bar, a.icc, a.baseline)
    return k, m_bar, vif


def _test_quantities(values: dict, a: Assumptions) -> tuple[float, float, float, float, float]:
    """(power, vif, df, ncp, t_crit) of the clusterPower noncentral-t formula.

    ``values`` holds effect, teams_per_arm and patients_per_team (the latter two unused when
    ``a.cluster_sizes`` is set).
    """
    k, m_bar, vif = _analysed_design(values["teams_per_arm"], values["patients_per_team"], a)
    df = 2.0 * (k - 1.0)
    t_crit = stats.t.isf(a.alpha / 2.0, df)
    ncp = np.sqrt(k * m_bar / (2.0 * vif)) * abs(values["effect"]) / a.sd
    power = stats.nct.sf(t_crit, df, ncp)
    if a.two_tailed:  # P(T_ncp < -t) = P(T_-ncp > t); nct.cdf far in the lower tail can be nan
        power += stats.nct.sf(t_crit, df, -ncp)
    return float(power), vif, df, float(ncp), float(t_crit)


def _failed(message: str) -> float:
    warnings.warn(message, RuntimeWarning, stacklevel=5)
    return float("nan")


def _solve_increasing(f: Callable[[float], float], lower: float, start: float, limit: float,
                      name: str) -> float:
    """Root of an increasing f above ``lower``: bracket by doubling, then brentq.

    Returns nan with a warning when f(lower) >= 0 (the answer lies below the allowed range),
    f stays negative up to ``limit`` (the target is out of reach) or f is not finite.
    """
    f_lower = f(lower)
    if f_lower >= 0:
        return _failed(f"solve for {name}: target already met at {name}={lower:g}")
    upper = max(start, lower * 2.0)
    while np.isfinite(f_lower) and f(upper) < 0:
        if upper >= limit:
            return _failed(f"solve for {name}: target not reached by {name}={limit:g}")
        lower, upper = upper, min(upper * 2.0, limit)
    try:
        return float(optimize.brentq(f, lower, upper, xtol=1e-12, rtol=1e-13))
    except (ValueError, RuntimeError) as error:
        return _failed(f"solve for {name}: root finding failed ({error})")


_SEARCH = {  # unknown -> (lower, first upper, limit) as multiples of 1 (effect: of sd)
    "effect": (0.0, 1.0, 1e6),
    "teams_per_arm": (2.0, 4.0, 1e7),
    "patients_per_team": (1.0, 2.0, 1e7),
}


def _solve_unknown(name: str, given: dict, a: Assumptions) -> float:
    """Solve power(...) = target for the one unknown ``name`` (power itself is evaluated)."""
    if name == "power":
        return _test_quantities(given, a)[0]

    def gap(x: float) -> float:
        return _test_quantities({**given, name: x}, a)[0] - given["power"]

    scale = a.sd if name == "effect" else 1.0
    lower, start, limit = (scale * v for v in _SEARCH[name])
    return _solve_increasing(gap, lower, start, limit, name)


def solve_power(*, effect: float | None = None, teams_per_arm: float | None = None,
                patients_per_team: float | None = None, power: float | None = None,
                icc: float, sd: float, alpha: float = 0.05, cv: float = 0.0,
                method: str = "taylor", cluster_sizes=None,
                baseline_correlations: BaselineCorrelations | None = None,
                attrition: float = 0.0, two_tailed: bool = False) -> PowerSolution:
    """Solve for whichever one of effect / teams_per_arm / patients_per_team / power is None.

    Teams and patients are solved as real numbers (clusterPower's k = 15.9328; round up for a
    design).  teams_per_arm is searched from 2 and patients_per_team (recruited) from 1; the
    effect is solved as |d|.  A target out of reach gives nan and a RuntimeWarning.  With
    ``cluster_sizes`` the teams and patients are fixed by the sizes and must be None.
    Power is upper tail only, as clusterPower, so at effect 0 it is alpha / 2; with
    ``two_tailed=True`` the wrong-direction rejections are added and it is alpha.
    Formulas: module docstring.  Raises ValueError listing every invalid argument
    (``power_inputs``).
    """
    sizes = None if cluster_sizes is None else tuple(float(n) for n in np.ravel(cluster_sizes))
    a = Assumptions(icc, sd, alpha, cv, method, sizes, baseline_correlations, attrition, two_tailed)
    given = {"effect": effect, "teams_per_arm": teams_per_arm,
             "patients_per_team": patients_per_team, "power": power}
    raise_if(argument_problems(given, a) + a.problems())
    name = free_unknowns(given, a)[1][0]
    solved = {**given, name: _solve_unknown(name, given, a)}
    if sizes is not None:
        solved["teams_per_arm"], solved["patients_per_team"] = len(sizes), float(np.mean(sizes))
    return _solution(name, solved, a)


def _solution(name: str, solved: dict, a: Assumptions) -> PowerSolution:
    """Package a solve; derived quantities are nan when the solve failed."""
    head = [float(solved[n]) for n in UNKNOWNS]
    if np.isnan(solved[name]):
        return PowerSolution(name, *head, *[float("nan")] * 4)
    power, vif, df, ncp, t_crit = _test_quantities(solved, a)
    if name == "power":
        head[UNKNOWNS.index("power")] = power
    return PowerSolution(name, *head, vif, df, ncp, t_crit)
