"""Priors: the distribution of one uncertain scenario input, given by its mean and SD.

A prior is ``{distribution, ...}`` with the parameters a planner knows:

- ``normal``: mean, sd; N(mean, sd²).
- ``lognormal``: mean, sd of the value; exp N(μ, s²) with s² = log(1 + sd²/mean²) and
  μ = log(mean) - s²/2.
- ``gamma``: mean, sd; shape (mean/sd)², scale sd²/mean.
- ``beta``: mean, sd; Beta(a, b) with a + b = mean (1 - mean)/sd² - 1, a = mean (a + b)
  (infeasible unless sd² < mean (1 - mean)).
- ``truncated_normal``: mean, sd, lower and/or upper; N(mean, sd²) restricted to
  [lower, upper], mean and sd being the untruncated normal's (an omitted bound is unbounded).
- ``uniform``: lower, upper; U(lower, upper).

``sd: 0`` is a point mass at the mean for every distribution with a mean, and ``uniform`` with
``lower == upper`` is a point mass at that value: the value is then exactly the point, whatever
the random number (tests/test_priors.py).

Every value is the distribution's quantile function at one uniform number u in (0, 1)
(``quantile``): a replicate's draw is one u per prior from its own stream (montecarlo/priors.py),
and the closed-form assurance integrates over u (planning/assurance.py), so both see one
definition of each distribution.  This module knows nothing of the scenario's keys;
``prior_keys`` checks a prior against the key it is put on.
"""
from __future__ import annotations

import math
from typing import Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import special, stats

Distribution = Literal["normal", "lognormal", "gamma", "beta", "uniform", "truncated_normal"]
MEAN_SD = ("normal", "lognormal", "gamma", "beta", "truncated_normal")


class Prior(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)

    distribution: Distribution
    mean: Optional[float] = Field(None, ge=-1e12, le=1e12)
    sd: Optional[float] = Field(None, ge=0, le=1e12)
    lower: Optional[float] = Field(None, ge=-1e12, le=1e12)
    upper: Optional[float] = Field(None, ge=-1e12, le=1e12)

    @property
    def is_point(self) -> bool:
        return self.sd == 0 if self.distribution in MEAN_SD else self.lower == self.upper


def _needs(p: Prior, required: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    out = [f"{name}: required for {p.distribution}" for name in required
           if getattr(p, name) is None]
    return out + [f"{name}: not a parameter of {p.distribution} "
                  f"(it takes {', '.join(required) or 'mean, sd, lower, upper'})"
                  for name in forbidden if getattr(p, name) is not None]


def parameter_problems(p: Prior) -> list[str]:
    """What is wrong with a prior's parameters, each as ``field: what is allowed``."""
    if p.distribution == "uniform":
        out = _needs(p, ("lower", "upper"), ("mean", "sd"))
        if not out and p.lower > p.upper:
            out.append(f"lower: {p.lower:g} is above upper {p.upper:g}")
        return out
    bounds = ("lower", "upper") if p.distribution != "truncated_normal" else ()
    out = _needs(p, ("mean", "sd"), bounds)
    if out:
        return out
    return out + _shape_problems(p)


def _shape_problems(p: Prior) -> list[str]:
    m, sd = p.mean, p.sd
    if p.distribution in ("lognormal", "gamma") and m <= 0:
        return [f"mean: {m:g} -- {p.distribution} needs mean > 0"]
    if p.distribution == "beta":
        if not 0 < m < 1:
            return [f"mean: {m:g} -- beta needs 0 < mean < 1"]
        if sd > 0 and sd**2 >= m * (1 - m):
            return [f"sd: {sd:g} -- no beta has mean {m:g} and sd {sd:g}: sd must be below "
                    f"sqrt(mean (1 - mean)) = {math.sqrt(m * (1 - m)):.4g}"]
    if p.distribution == "truncated_normal":
        return _truncation_problems(p)
    return []


def _truncation_problems(p: Prior) -> list[str]:
    lo, hi = _bounds(p)
    if p.lower is None and p.upper is None:
        return ["lower: give lower, upper or both (without bounds use normal)"]
    if lo >= hi:
        return [f"lower: {lo:g} is not below upper {hi:g}"]
    if p.sd == 0 and not lo <= p.mean <= hi:
        return [f"mean: {p.mean:g} -- with sd 0 the point must lie in [{lo:g}, {hi:g}]"]
    if p.sd > 0 and stats.norm.cdf((hi - p.mean) / p.sd) - stats.norm.cdf((lo - p.mean) / p.sd) \
            < 1e-12:
        return [f"lower: [{lo:g}, {hi:g}] holds almost none of N({p.mean:g}, {p.sd:g}²)"]
    return []


def _bounds(p: Prior) -> tuple[float, float]:
    return (-math.inf if p.lower is None else p.lower, math.inf if p.upper is None else p.upper)


def beta_parameters(mean: float, sd: float) -> tuple[float, float]:
    """(a, b) of the beta distribution with this mean and SD (method of moments)."""
    total = mean * (1.0 - mean) / sd**2 - 1.0
    return mean * total, (1.0 - mean) * total


def lognormal_parameters(mean: float, sd: float) -> tuple[float, float]:
    """(μ, s) of log(value) for a lognormal value with this mean and SD."""
    s2 = math.log1p((sd / mean) ** 2)
    return math.log(mean) - s2 / 2.0, math.sqrt(s2)


def quantile(p: Prior, u) -> np.ndarray:
    """The prior's quantile function at u in (0, 1) (arrays element-wise)."""
    u = np.asarray(u, dtype=float)
    if p.is_point:
        return np.full(u.shape, p.mean if p.distribution in MEAN_SD else p.lower)
    if p.distribution == "uniform":
        return p.lower + (p.upper - p.lower) * u
    if p.distribution == "normal":
        return p.mean + p.sd * special.ndtri(u)
    if p.distribution == "lognormal":
        mu, s = lognormal_parameters(p.mean, p.sd)
        return np.exp(mu + s * special.ndtri(u))
    if p.distribution == "gamma":
        shape = (p.mean / p.sd) ** 2
        return p.sd**2 / p.mean * special.gammaincinv(shape, u)
    if p.distribution == "beta":
        return special.betaincinv(*beta_parameters(p.mean, p.sd), u)
    lo, hi = ((b - p.mean) / p.sd for b in _bounds(p))
    return stats.truncnorm.ppf(u, lo, hi, loc=p.mean, scale=p.sd)


def describe(p: Prior) -> str:
    """A short description for the terminal, e.g.
    ``beta(a = 2.59, b = 49.2): mean 0.05, sd 0.03``."""
    if p.is_point:
        return f"{p.distribution}, a point mass at {float(quantile(p, 0.5)):g}"
    if p.distribution == "uniform":
        return f"uniform on [{p.lower:g}, {p.upper:g}]"
    head = {"beta": "beta(a = {:.3g}, b = {:.3g})".format(*beta_parameters(p.mean, p.sd)),
            "gamma": f"gamma(shape {(p.mean / p.sd) ** 2:.3g}, scale {p.sd**2 / p.mean:.3g})",
            "lognormal": "lognormal(log-mean {:.3g}, log-sd {:.3g})".format(
                *lognormal_parameters(p.mean, p.sd))}.get(p.distribution, p.distribution)
    if p.distribution == "truncated_normal":
        head += " on [{:g}, {:g}]".format(*_bounds(p))
    return f"{head}: mean {p.mean:g}, sd {p.sd:g}"
