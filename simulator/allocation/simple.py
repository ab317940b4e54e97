"""Complete randomisation of clusters: exactly n of K teams to the intervention arm.

Every one of the C(K, n) allocations has probability 1 / C(K, n) (randomizr ``complete_ra`` /
``cluster_ra``; Hayes & Moulton 2017, Cluster Randomised Trials, 2nd ed.).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.allocation.space import all_subsets, random_subsets


@dataclass(frozen=True, eq=False)
class SimpleScheme:
    """Complete randomisation of K teams, n to intervention."""

    n_teams: int
    n_intervention: int
    max_enumerate: int = 100_000
    name: str = "simple"

    @property
    def space_size(self) -> int:
        return math.comb(self.n_teams, self.n_intervention)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One allocation, (K,) int8."""
        return self.resample(rng, 1)[0]

    def resample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, K) int8 independent allocations from this scheme."""
        return random_subsets(rng, n, self.n_teams, self.n_intervention)

    def enumerate(self) -> tuple[np.ndarray, np.ndarray] | None:
        """All allocations with their (equal) probabilities, or None if more than max_enumerate."""
        if self.space_size > self.max_enumerate:
            return None
        arms = all_subsets(self.n_teams, self.n_intervention)
        return arms, np.full(arms.shape[0], 1.0 / arms.shape[0])

    def describe(self, arm: np.ndarray) -> dict:
        """Scalar diagnostics of the scheme."""
        return {"method": self.name, "space_size": self.space_size}
