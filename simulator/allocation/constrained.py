"""Covariate-constrained randomisation (Moulton 2004, Clin Trials 1:297; Ivers et al. 2012,
Trials 13:120; Li et al. 2016/2017 and the cvcrand package).

1. Candidates: every one of the C(K, n) allocations when there are at most max_enumerate,
   otherwise a uniform random set of max_enumerate DISTINCT allocations.
2. Score each candidate with the l2 balance metric (:mod:`.scoring`), all as one matrix product.
3. Keep the best fraction q (at least one; ties at the cutoff kept): the constrained space.
4. Draw one kept allocation uniformly. ``resample`` and ``enumerate`` use the kept set, so a
   permutation test re-randomises within the constrained space actually used.

The kept set is checked for near-determinism (Moulton 2004): for every pair of teams, the share
of kept allocations in which they share an arm; a pair always together or always apart means
the design no longer randomises them independently, and is reported as a warning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulator.allocation.scoring import keep_best, l2_scores, pair_concordance
from simulator.allocation.space import all_subsets, distinct_subsets


def candidate_allocations(rng: np.random.Generator, k: int, n: int,
                          max_enumerate: int) -> tuple[np.ndarray, bool]:
    """Candidate allocations and whether they are the whole space."""
    if math.comb(k, n) <= max_enumerate:
        return all_subsets(k, n), True
    return distinct_subsets(rng, max_enumerate, k, n), False


def concordance_summary(kept: np.ndarray) -> dict:
    """Min and max over team pairs of the share of kept allocations with the pair in one arm,
    with a warning when some pair is always together or always apart."""
    together = pair_concordance(kept)
    upper = together[np.triu_indices(kept.shape[1], k=1)]
    n_always_together = int(np.sum(upper >= 1 - 1e-12))
    n_always_apart = int(np.sum(upper <= 1e-12))
    summary = {"pair_together_min": float(upper.min()), "pair_together_max": float(upper.max()),
               "pairs_always_together": n_always_together, "pairs_always_apart": n_always_apart}
    if n_always_together or n_always_apart:
        summary["warning"] = (f"constrained space is near-deterministic: {n_always_together} "
                              f"team pair(s) always in the same arm and {n_always_apart} always "
                              f"apart across the {kept.shape[0]} kept allocation(s)")
    return summary


@dataclass(frozen=True, eq=False)
class ConstrainedScheme:
    """Uniform choice from ``kept`` (n_kept, K), the best-balanced candidates.

    z: (K, p) standardised balance columns (labels in ``columns``) used for ``score``;
    cutoff: largest score admitted; n_candidates / enumerated: the candidate set scored.
    """

    kept: np.ndarray
    z: np.ndarray
    columns: tuple[str, ...]
    cutoff: float
    n_candidates: int
    enumerated: bool
    max_enumerate: int = 100_000
    name: str = "constrained"
    diagnostics: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kept.flags.writeable = False

    @property
    def n_teams(self) -> int:
        return int(self.kept.shape[1])

    @property
    def n_intervention(self) -> int:
        return int(self.kept[0].sum())

    def score(self, arms: np.ndarray) -> np.ndarray:
        """l2 balance score of each allocation (row) of ``arms``."""
        return l2_scores(np.atleast_2d(arms), self.z)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One allocation, (K,) int8, uniform over the kept set."""
        return self.resample(rng, 1)[0]

    def resample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, K) int8 allocations drawn uniformly, with replacement, from the kept set."""
        return self.kept[rng.integers(self.kept.shape[0], size=n)]

    def enumerate(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The kept set with equal probabilities (it never exceeds max_enumerate rows).

        When the candidates were a sample, this is the design's distribution given that sample,
        which is what the trial actually randomised over.
        """
        m = self.kept.shape[0]
        return self.kept.copy(), np.full(m, 1.0 / m)

    def describe(self, arm: np.ndarray) -> dict:
        """Scalar diagnostics: candidate and kept counts, cutoff, this draw's score, concordance."""
        return {"method": self.name, "n_candidates": self.n_candidates,
                "enumerated": int(self.enumerated), "n_kept": int(self.kept.shape[0]),
                "n_balance_columns": int(self.z.shape[1]), "cutoff_score": self.cutoff,
                "score": float(self.score(arm)[0]), **self.diagnostics}


def constrained_scheme(z: np.ndarray, columns: list[str], n: int, fraction: float,
                       max_enumerate: int, *, rng: np.random.Generator) -> ConstrainedScheme:
    """Build the constrained space for balance columns ``z`` (K, p): candidates, scores, kept."""
    candidates, enumerated = candidate_allocations(rng, z.shape[0], n, max_enumerate)
    kept_rows, cutoff = keep_best(l2_scores(candidates, z), fraction)
    kept = candidates[kept_rows]
    return ConstrainedScheme(kept=kept, z=z, columns=tuple(columns), cutoff=cutoff,
                             n_candidates=int(candidates.shape[0]), enumerated=enumerated,
                             max_enumerate=max_enumerate, diagnostics=concordance_summary(kept))
