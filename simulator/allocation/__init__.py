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
from simulator.allocation.balance import balance_diagnostics
from simulator.allocation.constrained import ConstrainedScheme
from simulator.allocation.covariates import strata_codes
from simulator.allocation.matched_pairs import MatchedPairsScheme
from simulator.allocation.minimisation import MinimisationScheme
from simulator.allocation.schemes import AllocationScheme, allocate, build_scheme
from simulator.allocation.settings import METHODS, Allocation, AllocationSettings
from simulator.scenario.counts import intervention_count
from simulator.allocation.simple import SimpleScheme
from simulator.allocation.stratified import StratifiedScheme

__all__ = [
    "METHODS", "Allocation", "AllocationScheme", "AllocationSettings", "ConstrainedScheme",
    "MatchedPairsScheme", "MinimisationScheme", "SimpleScheme", "StratifiedScheme", "allocate",
    "balance_diagnostics", "build_scheme", "intervention_count", "strata_codes",
]
