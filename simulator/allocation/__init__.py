"""Allocation stage: randomise teams to arms, keeping the scheme for re-randomisation.

Public API::

    AllocationSettings            the scenario's ``allocation:`` block
    intervention_count(K, share)  teams in the intervention arm
    allocate(settings, covariates, n_intervention, rng=...) -> Allocation(arm, scheme, info)
    balance_diagnostics(covariates, arm)                    -> dict of balance measures
    strata_codes(covariates, names)                         -> (K,) stratum codes for analysis

Schemes (simple, stratified, matched_pairs, minimisation, constrained) each offer
``draw(rng)``, ``resample(rng, n)`` and ``enumerate()`` (STYLE.md principle 6).
"""
from .balance import balance_diagnostics
from .constrained import ConstrainedScheme
from .covariates import strata_codes
from .matched_pairs import MatchedPairsScheme
from .minimisation import MinimisationScheme
from .schemes import AllocationScheme, allocate, build_scheme
from .settings import METHODS, Allocation, AllocationSettings, intervention_count
from .simple import SimpleScheme
from .stratified import StratifiedScheme

__all__ = [
    "METHODS", "Allocation", "AllocationScheme", "AllocationSettings", "ConstrainedScheme",
    "MatchedPairsScheme", "MinimisationScheme", "SimpleScheme", "StratifiedScheme", "allocate",
    "balance_diagnostics", "build_scheme", "intervention_count", "strata_codes",
]
