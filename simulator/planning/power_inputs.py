"""The records of a closed-form power calculation and the checks on its arguments.

``power.solve_power`` builds an ``Assumptions`` from its keywords, checks them and the four
design quantities here (every problem collected and reported together, STYLE.md principle 8),
and returns a ``PowerSolution``.  The formulas themselves are in ``power``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE_METHODS = ("equal", "eldridge", "taylor")
EXACT_METHODS = ("exact", "exact_clusterpower")
METHODS = SIZE_METHODS + EXACT_METHODS
UNKNOWNS = ("effect", "teams_per_arm", "patients_per_team", "power")


@dataclass(frozen=True)
class BaselineCorrelations:
    """Baseline-follow-up correlations of a cohort design (Teerenstra et al. 2012).

    individual: rho_s, within patient; cluster: rho_c, of the team effects.
    """

    individual: float
    cluster: float


@dataclass(frozen=True)
class Assumptions:
    """Everything but the four quantities ``solve_power`` can solve for.

    ``cluster_sizes`` (recruited sizes of the teams of one arm) fixes teams_per_arm and the mean
    team size; with "eldridge"/"taylor" its CV (sample SD / mean, as clusterPower) is used.
    """

    icc: float
    sd: float
    alpha: float = 0.05
    cv: float = 0.0
    method: str = "taylor"
    cluster_sizes: tuple[float, ...] | None = None
    baseline: BaselineCorrelations | None = None
    attrition: float = 0.0
    two_tailed: bool = False

    def problems(self) -> list[str]:
        """Every invalid field, each with its value and what is allowed."""
        out = []
        _need(out, 0 <= self.icc < 1, f"icc={self.icc!r}: need 0 <= icc < 1")
        _need(out, self.sd > 0, f"sd={self.sd!r}: need sd > 0")
        _need(out, 0 < self.alpha < 1, f"alpha={self.alpha!r}: need 0 < alpha < 1")
        _need(out, self.cv >= 0, f"cv={self.cv!r}: need cv >= 0")
        _need(out, 0 <= self.attrition < 1, f"attrition={self.attrition!r}: need 0 <= it < 1")
        _need(out, self.method in METHODS, f"method={self.method!r}: need one of {METHODS}")
        _need(out, not (self.method == "taylor" and self.cv >= 2),
              f"cv={self.cv!r} with method='taylor': the approximation needs cv < 2")
        _need(out, not (self.method == "equal" and self.cv != 0),
              f"cv={self.cv!r} with method='equal': use 'eldridge' or 'taylor' for unequal sizes")
        out += _size_problems(self)
        out += _baseline_problems(self.baseline)
        return out


@dataclass(frozen=True)
class PowerSolution:
    """All four design quantities after a solve, with the derived test quantities.

    ``solved_for`` names the one that was solved; ``value`` returns it.  A failed solve leaves
    it nan (and a warning was issued).
    """

    solved_for: str
    effect: float
    teams_per_arm: float
    patients_per_team: float
    power: float
    variance_inflation: float
    df: float
    ncp: float
    t_crit: float

    @property
    def value(self) -> float:
        return getattr(self, self.solved_for)


def _need(problems: list[str], ok: bool, message: str) -> None:
    if not ok:
        problems.append(message)


def _size_problems(a: Assumptions) -> list[str]:
    if a.cluster_sizes is None:
        return [f"method={a.method!r} needs cluster_sizes"] if a.method in EXACT_METHODS else []
    sizes = np.asarray(a.cluster_sizes, dtype=float)
    out = []
    _need(out, sizes.ndim == 1 and sizes.size >= 2, "cluster_sizes: need at least 2 teams per arm")
    _need(out, bool(np.all(sizes > 0)), "cluster_sizes: every size must be > 0")
    _need(out, a.cv == 0, f"cv={a.cv!r}: give cv or cluster_sizes, not both")
    return out


def _baseline_problems(b: BaselineCorrelations | None) -> list[str]:
    if b is None:
        return []
    out = []
    _need(out, -1 <= b.individual <= 1, f"baseline.individual={b.individual!r}: need -1..1")
    _need(out, -1 <= b.cluster <= 1, f"baseline.cluster={b.cluster!r}: need -1..1")
    return out


def free_unknowns(given: dict, a: Assumptions) -> tuple[list[str], list[str]]:
    """(unknowns that may be None, those that are None); cluster_sizes fix teams and patients."""
    sized = a.cluster_sizes is not None
    allowed = [n for n in UNKNOWNS if not (sized and n in ("teams_per_arm", "patients_per_team"))]
    return allowed, [n for n in allowed if given[n] is None]


def argument_problems(given: dict, a: Assumptions) -> list[str]:
    """Problems with the four design quantities: exactly one unknown, each given one in range."""
    allowed, free = free_unknowns(given, a)
    out = [f"{n}: fixed by cluster_sizes, pass None"
           for n in UNKNOWNS if n not in allowed and given[n] is not None]
    _need(out, len(free) == 1, f"exactly one of {allowed} must be None; None: {free}")
    p, k, m, d = (given[n] for n in ("power", "teams_per_arm", "patients_per_team", "effect"))
    _need(out, p is None or 0 < p < 1, f"power={p!r}: need 0 < power < 1")
    _need(out, k is None or k > 1, f"teams_per_arm={k!r}: need > 1")
    _need(out, m is None or m > 0, f"patients_per_team={m!r}: need > 0")
    _need(out, d is None or bool(np.isfinite(d)), f"effect={d!r}: need a finite number")
    return out


def raise_if(problems: list[str]) -> None:
    """One ValueError listing every problem, or nothing."""
    if problems:
        raise ValueError("invalid power arguments:\n  " + "\n  ".join(problems))
