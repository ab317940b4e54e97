"""The allocation stage's plain records: what to do (settings) and what was done (Allocation).

The settings mirror the ``allocation:`` block of the scenario file (docs: DESIGN.md, "Scenario
file"). An :class:`Allocation` carries the scheme that produced it, so a permutation test can
re-draw from the same design (STYLE.md principle 6; randomizr's ``obtain_permutation_matrix``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

METHODS = ("simple", "stratified", "matched_pairs", "minimisation", "constrained")
BALANCE_METRICS = ("crtsim_l2", "cvcrand_l2", "cvcrand_l1")


@dataclass(frozen=True)
class AllocationSettings:
    """How teams are randomised; field names are the scenario file's keys.

    method:                    simple | stratified | matched_pairs | minimisation | constrained
    strata:                    covariates defining strata (stratified, matched pairs) or the
                               minimisation factors
    balance_on:                covariates scored by constrained randomisation
    constrained_fraction:      share q of best-balanced candidate allocations kept, 0 < q <= 1
    max_enumerate:             largest allocation space listed in full (and the number of
                               candidates sampled by constrained randomisation otherwise)
    minimisation_probability:  chance of taking the imbalance-minimising arm, 0.5 <= p <= 1
    balance_metric:            constrained score: crtsim_l2, or cvcrand's cvcrand_l2 /
                               cvcrand_l1 (cvrall's coding, candidates and kept space; q < 1)

    Sequences are stored as tuples; every invalid field is reported in one ValueError.
    """

    method: str = "simple"
    strata: tuple[str, ...] = ("site",)
    balance_on: tuple[str, ...] = ("site", "team_type", "patients")
    constrained_fraction: float = 0.1
    max_enumerate: int = 100_000
    minimisation_probability: float = 0.8
    balance_metric: str = "crtsim_l2"

    def __post_init__(self) -> None:
        for name in ("strata", "balance_on"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        problems = settings_problems(self)
        if problems:
            raise ValueError("invalid allocation settings: " + "; ".join(problems))


def settings_problems(s: AllocationSettings) -> list[str]:
    """Every problem with a settings record, as readable strings (empty when valid)."""
    problems = []
    if s.method not in METHODS:
        problems.append(f"method={s.method!r}: allowed {', '.join(METHODS)}")
    if not 0 < s.constrained_fraction <= 1:
        problems.append(f"constrained_fraction={s.constrained_fraction!r}: must be in (0, 1]")
    if isinstance(s.max_enumerate, bool) or not isinstance(s.max_enumerate, (int, np.integer)) \
            or s.max_enumerate < 1:
        problems.append(f"max_enumerate={s.max_enumerate!r}: must be an integer >= 1")
    if s.balance_metric not in BALANCE_METRICS:
        problems.append(f"balance_metric={s.balance_metric!r}: "
                        f"allowed {', '.join(BALANCE_METRICS)}")
    elif s.balance_metric != "crtsim_l2" and not s.constrained_fraction < 1:
        problems.append(f"constrained_fraction={s.constrained_fraction!r}: cvcrand's cutoff "
                        "must be below 1")
    if not 0.5 <= s.minimisation_probability <= 1:
        problems.append(f"minimisation_probability={s.minimisation_probability!r}: "
                        "must be in [0.5, 1]")
    for name in (*s.strata, *s.balance_on):
        if not isinstance(name, str):
            problems.append(f"covariate name {name!r}: must be a string")
    return problems


@dataclass(frozen=True, eq=False)
class Allocation:
    """One realised allocation.

    arm:    (K,) int8, 1 = intervention, 0 = control (read-only)
    scheme: the scheme object that drew it: ``draw``, ``resample`` and ``enumerate`` give the
            design's randomisation distribution (used by permutation tests)
    info:   scalar diagnostics of the scheme (e.g. space size, kept-set concordance, warning)
    """

    arm: np.ndarray
    scheme: Any
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        arm = np.array(self.arm, dtype=np.int8)
        arm.flags.writeable = False
        object.__setattr__(self, "arm", arm)

    @property
    def n_teams(self) -> int:
        return int(self.arm.shape[0])

    @property
    def n_intervention(self) -> int:
        return int(self.arm.sum())


