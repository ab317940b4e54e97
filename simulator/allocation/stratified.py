"""Stratified randomisation: permuted blocks within strata, with an exact overall arm size.

Each stratum s of m_s teams gets a base number b_s of intervention teams; the r teams still
needed to reach n go one each to r strata drawn uniformly from the eligible ones; then the teams
within each stratum are completely randomised (Kernan et al. 1999, J Clin Epidemiol 52:19;
Hayes & Moulton 2017; randomizr ``block_and_cluster_ra``).

* Equal arms, n = floor(K/2) or ceil(K/2): b_s = floor(m_s / 2) and the eligible strata are the
  odd-sized ones, so the arms differ by at most one in every stratum and the leftover odd teams
  are shared out at random to make the total exact.
* Any other n: b_s = floor(m_s n / K) and the eligible strata are those whose share m_s n / K is
  not whole, so every stratum gets floor or ceil of its share (|c_s - m_s n / K| < 1).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from simulator.allocation.space import block_product, placed_subsets, ranks


def stratum_targets(sizes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Base intervention count per stratum, the strata eligible for one more, and how many of
    them get one (integer arithmetic, so exact; see the module docstring)."""
    k = int(sizes.sum())
    if n in (k // 2, (k + 1) // 2):
        base, eligible = sizes // 2, np.flatnonzero(sizes % 2)
    else:
        base, eligible = sizes * n // k, np.flatnonzero(sizes * n % k)
    return base, eligible, int(n - base.sum())


def space_size(sizes: np.ndarray, base: np.ndarray, eligible: np.ndarray, extra: int) -> int:
    """Number of allocations the scheme can produce: the coefficient of x^r in
    prod_{s eligible} (C(m_s, b_s) + C(m_s, b_s + 1) x), times C(m_s, b_s) of the other strata."""
    others = np.setdiff1d(np.arange(sizes.size), eligible)
    fixed = math.prod(math.comb(int(sizes[s]), int(base[s])) for s in others)
    ways = [1] + [0] * extra          # ways[j]: count with j of the extras placed so far
    for s in eligible:
        m, b = int(sizes[s]), int(base[s])
        stay, up = math.comb(m, b), math.comb(m, b + 1)
        ways = [ways[j] * stay + (ways[j - 1] * up if j else 0) for j in range(extra + 1)]
    return fixed * ways[extra]


@dataclass(frozen=True, eq=False)
class StratifiedScheme:
    """Permuted-block randomisation within strata; ``stratum`` is (K,) int codes 0..S-1."""

    stratum: np.ndarray
    n_intervention: int
    max_enumerate: int = 100_000
    name: str = "stratified"

    @property
    def n_teams(self) -> int:
        return int(self.stratum.shape[0])

    @property
    def sizes(self) -> np.ndarray:
        return np.bincount(self.stratum)

    def _targets(self) -> tuple[np.ndarray, np.ndarray, int]:
        return stratum_targets(self.sizes, self.n_intervention)

    @property
    def space_size(self) -> int:
        return space_size(self.sizes, *self._targets())

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One allocation, (K,) int8."""
        return self.resample(rng, 1)[0]

    def resample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, K) int8 independent allocations from this scheme."""
        base, eligible, extra = self._targets()
        counts = np.tile(base, (n, 1))
        counts[:, eligible] += ranks(rng.random((n, eligible.size))) < extra
        keys = rng.random((n, self.n_teams))
        arms = np.zeros((n, self.n_teams), dtype=np.int8)
        for s in range(base.size):
            teams = np.flatnonzero(self.stratum == s)
            arms[:, teams] = ranks(keys[:, teams]) < counts[:, s, None]
        return arms

    def enumerate(self) -> tuple[np.ndarray, np.ndarray] | None:
        """All allocations and their probabilities, or None if more than max_enumerate.

        P(allocation) = 1 / C(E, r) x prod_s 1 / C(m_s, c_s): the chance of its set of strata
        with an extra team times the complete-randomisation chance within each stratum.
        """
        if self.space_size > self.max_enumerate:
            return None
        base, eligible, extra = self._targets()
        k, sizes = self.n_teams, self.sizes
        arms, probs = [], []
        for chosen in itertools.combinations(eligible.tolist(), extra):
            counts = base.copy()
            counts[list(chosen)] += 1
            blocks = [placed_subsets(np.flatnonzero(self.stratum == s), k, int(c))
                      for s, c in enumerate(counts)]
            arms.append(block_product(blocks))
            p = 1 / math.comb(eligible.size, extra) / math.prod(
                math.comb(int(m), int(c)) for m, c in zip(sizes, counts))
            probs.append(np.full(arms[-1].shape[0], p))
        return np.vstack(arms), np.concatenate(probs)

    def describe(self, arm: np.ndarray) -> dict:
        """Scalar diagnostics of the scheme."""
        return {"method": self.name, "n_strata": int(self.sizes.size),
                "space_size": self.space_size}
