"""Closed-form assurance: the closed-form power (``closed_form.closed_form_power``) averaged over
the priors of a scenario.

With d priors, each value is its prior's quantile at a uniform u (``scenario.priors.quantile``,
bounded and rounded by ``scenario.prior_keys`` exactly as the simulator's draws are), so

    assurance = ∫_(0,1)^d power(Q_1(u_1), ..., Q_d(u_d)) du.

- d = 1: Gauss–Legendre with 24 nodes on u; d = 2: the 12 x 12 tensor rule.  The error stated
  is |A_n - A_(n/2)|, the difference from the rule with half the nodes per dimension: a
  conservative bound for A_n, as Gauss rules converge fast for this smooth, bounded integrand
  (power is in [0, 1] and flattens in the tails, where Q may be unbounded).
- d >= 3: randomised quasi-Monte Carlo, 8 independent scramblings of a 32-point Sobol'
  sequence (Owen scrambling from a fixed seed, so the answer is reproducible); the answer is
  their mean and the error stated is 2 standard errors of that mean (the 8 estimates are
  independent and unbiased).
Each point costs one closed-form power (~50 ms, mostly the mean-field exposure model); the
rules above cost 36, 180 and 256 evaluations.  An integer key is rounded at each node, as in
the simulation, so the integrand has steps there and the Gauss error bound is then looser.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np
from scipy.stats import qmc

from simulator.montecarlo.seeds import stream
from simulator.planning.closed_form import closed_form_power
from simulator.scenario.prior_keys import values_at, with_values
from simulator.scenario.schema import Scenario

GAUSS_NODES = {1: 24, 2: 12}
QMC_SCRAMBLES, QMC_POINTS, QMC_SEED = 8, 32, 20_150


@dataclass(frozen=True)
class ClosedFormAssurance:
    assurance: float          # closed-form power averaged over the priors
    error: float              # estimated numerical error (module docstring)
    method: str
    evaluations: int          # closed-form powers computed
    power_at_point: float     # closed-form power at the file's values (the point guesses)

    def as_dict(self) -> dict:
        return {f"closed_form_{k}" if k in ("assurance", "power_at_point") else f"assurance_{k}": v
                for k, v in asdict(self).items()}


def power_at(scenario: Scenario, values: Mapping[str, float], *,
             estimator: str | None = None) -> float:
    """Closed-form power of the scenario with these values (e.g. one replicate's draw)."""
    s = with_values(scenario, values)
    return float(closed_form_power(s, estimator=estimator)["closed_form_power"])


class _Power:
    """Closed-form power at the values of uniform numbers u (rows), each distinct set once."""

    def __init__(self, scenario: Scenario, estimator: str | None):
        self.scenario, self.estimator, self.seen = scenario, estimator, {}

    def __call__(self, u: np.ndarray) -> np.ndarray:
        out = []
        for values in values_at(self.scenario, u):
            key = tuple(values.values())
            if key not in self.seen:
                self.seen[key] = power_at(self.scenario, values, estimator=self.estimator)
            out.append(self.seen[key])
        return np.array(out)


def _gauss(power: _Power, d: int, n: int) -> float:
    x, w = np.polynomial.legendre.leggauss(n)
    u, w = (x + 1.0) / 2.0, w / 2.0
    grid = np.stack(np.meshgrid(*[u] * d, indexing="ij"), axis=-1).reshape(-1, d)
    weights = np.prod(np.stack(np.meshgrid(*[w] * d, indexing="ij"), axis=-1).reshape(-1, d),
                      axis=1)
    return float(weights @ power(grid))


def _rqmc(power: _Power, d: int) -> tuple[float, float]:
    rng = stream(QMC_SEED, 0, "priors")
    estimates = [float(np.mean(power(qmc.Sobol(d, scramble=True, rng=rng).random(QMC_POINTS))))
                 for _ in range(QMC_SCRAMBLES)]
    spread = float(np.std(estimates, ddof=1) / np.sqrt(QMC_SCRAMBLES))
    return float(np.mean(estimates)), 2.0 * spread


def closed_form_assurance(scenario: Scenario, *, estimator: str | None = None
                          ) -> ClosedFormAssurance:
    """The closed-form assurance of one design point with priors (module docstring)."""
    d = len(scenario.priors)
    if d == 0:
        raise ValueError("closed_form_assurance needs a scenario with priors")
    power = _Power(scenario, estimator)
    point = power_at(scenario, {}, estimator=estimator)
    if d in GAUSS_NODES:
        n = GAUSS_NODES[d]
        value = _gauss(power, d, n)
        error = abs(value - _gauss(power, d, n // 2))
        method = f"Gauss-Legendre, {n} nodes per prior"
    else:
        value, error = _rqmc(power, d)
        method = f"randomised QMC, {QMC_SCRAMBLES} x {QMC_POINTS} scrambled Sobol' points"
    return ClosedFormAssurance(float(np.clip(value, 0.0, 1.0)), error, method, len(power.seen),
                               point)


def assurance_rows(scenario: Scenario, *, estimator: str | None = None) -> list[dict]:
    """One row per design point: the swept values and ``ClosedFormAssurance.as_dict``."""
    from simulator.scenario.files import design_points

    return [{**point.swept, **closed_form_assurance(point.scenario, estimator=estimator).as_dict()}
            for point in design_points(scenario)]
