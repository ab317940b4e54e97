"""Choosing a scheme from the settings, and drawing the trial's allocation from it.

Every scheme answers the same three questions (randomizr: "an assignment scheme knows its own
distribution"): ``draw(rng)`` one allocation, ``resample(rng, n)`` n fresh allocations from the
same scheme (for permutation tests), and ``enumerate()`` the whole distribution when small.
"""
from __future__ import annotations

from typing import Mapping, Protocol

import numpy as np

from simulator.allocation.constrained import constrained_scheme, cvcrand_scheme
from simulator.allocation.covariates import check_covariates, level_codes, strata_codes
from simulator.allocation.matched_pairs import MatchedPairsScheme, check_pairable, pairing_order
from simulator.allocation.minimisation import MinimisationScheme
from simulator.allocation.scoring import balance_matrix
from simulator.allocation.settings import Allocation, AllocationSettings
from simulator.allocation.simple import SimpleScheme
from simulator.allocation.stratified import StratifiedScheme


class AllocationScheme(Protocol):
    """What every scheme offers; arms are int8, 1 = intervention, 0 = control."""

    name: str
    n_teams: int
    n_intervention: int

    def draw(self, rng: np.random.Generator) -> np.ndarray: ...

    def resample(self, rng: np.random.Generator, n: int) -> np.ndarray: ...

    def enumerate(self) -> tuple[np.ndarray, np.ndarray] | None: ...

    def describe(self, arm: np.ndarray) -> dict: ...


def check_count(k: int, n: int) -> None:
    """Raise ValueError unless 1 <= n <= K - 1 (both arms non-empty)."""
    if isinstance(n, bool) or int(n) != n or not 1 <= n <= k - 1:
        raise ValueError(f"n_intervention={n!r}: need an integer in [1, {k - 1}] for K = {k} teams")


def build_scheme(settings: AllocationSettings, covariates: Mapping[str, np.ndarray],
                 n_intervention: int, *, rng: np.random.Generator) -> AllocationScheme:
    """The scheme object for ``settings.method``; constrained randomisation uses ``rng`` to
    sample candidates when the space is too large to list."""
    s, n = settings, int(n_intervention)
    k = check_covariates(covariates, (*s.strata, *s.balance_on))
    check_count(k, n)
    if s.method == "simple":
        return SimpleScheme(k, n, s.max_enumerate)
    if s.method == "stratified":
        return StratifiedScheme(strata_codes(covariates, s.strata), n, s.max_enumerate)
    if s.method == "matched_pairs":
        check_pairable(k, n)
        return MatchedPairsScheme(pairing_order(covariates, s.strata, k), n, s.max_enumerate)
    if s.method == "minimisation":
        return MinimisationScheme(level_codes(covariates, s.strata), n,
                                  s.minimisation_probability, s.max_enumerate)
    if s.balance_metric != "crtsim_l2":
        return cvcrand_scheme(covariates, s.balance_on, n, s.constrained_fraction,
                              s.max_enumerate, s.balance_metric, rng=rng)
    z, columns = balance_matrix(covariates, s.balance_on)
    return constrained_scheme(z, columns, n, s.constrained_fraction, s.max_enumerate, rng=rng)


def allocate(settings: AllocationSettings, covariates: Mapping[str, np.ndarray],
             n_intervention: int, *, rng: np.random.Generator) -> Allocation:
    """Randomise K teams: n_intervention to arm 1, the rest to arm 0, by ``settings.method``.

    ``covariates`` maps names to (K,) team-level columns; every name in ``settings.strata`` and
    ``settings.balance_on`` must be present (ValueError naming the missing ones), whichever the
    method. All randomness comes from ``rng``.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator")
    scheme = build_scheme(settings, covariates, n_intervention, rng=rng)
    arm = scheme.draw(rng)
    return Allocation(arm=arm, scheme=scheme, info=scheme.describe(arm))
