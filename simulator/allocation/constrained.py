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

``allocation.balance_metric`` picks the score: ``crtsim_l2`` (the default above: every category
its own indicator, floor(q M) kept with ties at the cutoff) or cvcrand's ``cvcrand_l2`` /
``cvcrand_l1`` (:func:`cvcrand_scheme`: cvrall's dummies, candidates, scores and kept space,
exactly; ``scoring`` and ``space_summary`` modules). Either way the scheme keeps every
candidate's score, so ``space_record`` gives the space.json summary of the draw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulator.allocation.scoring import (KeptSpace, balance_design_matrix, cvcrand_l1_scores,
                                          cvcrand_l2_scores, keep_best, kept_space, l2_scores,
                                          pair_concordance)
from simulator.allocation.space import all_subsets, distinct_subsets
from simulator.allocation.space_summary import candidates as cvcrand_candidates, space_summary

SCORERS = {"crtsim_l2": lambda z, arms: l2_scores(arms, z), "cvcrand_l2": cvcrand_l2_scores,
           "cvcrand_l1": cvcrand_l1_scores}
CRTSIM_TIE_RULE = ("floor(q * M) allocations (at least one) plus every allocation whose score "
                   "is within 1e-9 x the largest score of the last of them (ties kept together)")


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
    metric: str = "crtsim_l2"                 # crtsim_l2 | cvcrand_l2 | cvcrand_l1
    scores: np.ndarray | None = None          # (M,) score of every candidate, in order
    kept_index: np.ndarray | None = None      # (n_kept,) candidate index of each kept row
    n_drawn: int = 0                          # candidates drawn before repeats were removed

    def __post_init__(self) -> None:
        self.kept.flags.writeable = False

    @property
    def n_teams(self) -> int:
        return int(self.kept.shape[1])

    @property
    def n_intervention(self) -> int:
        return int(self.kept[0].sum())

    def score(self, arms: np.ndarray) -> np.ndarray:
        """Balance score (``metric``) of each allocation (row) of ``arms``."""
        return SCORERS[self.metric](self.z, np.atleast_2d(arms))

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


    def space_record(self, arm: np.ndarray) -> dict:
        """The space.json summary (``space_summary.space_summary``) with ``arm`` as chosen:
        sizes, cutoff and chosen scores, the score distribution over all candidates, rules."""
        chosen = int(self.kept_index[np.flatnonzero((self.kept == arm).all(axis=1))[0]])
        cvcrand = self.metric != "crtsim_l2"
        cutoff = self.cutoff if cvcrand else float(self.scores[self.kept_index].max())
        out = space_summary(self.scores, KeptSpace(self.kept_index, cutoff), chosen,
                            metric=self.metric, enumerated=self.enumerated, n_drawn=self.n_drawn)
        return out if cvcrand else {**out, "tie_rule": CRTSIM_TIE_RULE}


def constrained_scheme(z: np.ndarray, columns: list[str], n: int, fraction: float,
                       max_enumerate: int, *, rng: np.random.Generator) -> ConstrainedScheme:
    """Build the constrained space for balance columns ``z`` (K, p): candidates, scores, kept."""
    candidates, enumerated = candidate_allocations(rng, z.shape[0], n, max_enumerate)
    scores = l2_scores(candidates, z)
    kept_rows, cutoff = keep_best(scores, fraction)
    kept = candidates[kept_rows]
    return ConstrainedScheme(kept=kept, z=z, columns=tuple(columns), cutoff=cutoff,
                             n_candidates=int(candidates.shape[0]), enumerated=enumerated,
                             max_enumerate=max_enumerate, diagnostics=concordance_summary(kept),
                             scores=scores, kept_index=kept_rows, n_drawn=int(candidates.shape[0]))


def cvcrand_scheme(covariates, names: tuple[str, ...], n: int, fraction: float,
                   max_enumerate: int, metric: str, *,
                   rng: np.random.Generator) -> ConstrainedScheme:
    """cvcrand's constrained space (cvrall, cvcrand 0.1.1): dummies dropping the first level,
    columns standardised by their SD over all teams (constant ones dropped), all C(K, n)
    candidates when at most ``max_enumerate`` (cvrall's ``size``) else the distinct ones of that
    many draws, l2 or l1 scores, and the round(q M) best in stable order."""
    design = balance_design_matrix(covariates, names, drop_constant=True)
    allocations, enumerated, drawn = cvcrand_candidates(design.z.shape[0], n, max_enumerate,
                                                        rng=rng)
    scores = SCORERS[metric](design.z, allocations)
    kept = kept_space(scores, fraction)
    rows = allocations[kept.indices]
    return ConstrainedScheme(kept=rows, z=design.z, columns=design.columns,
                             cutoff=kept.cutoff_score, n_candidates=int(allocations.shape[0]),
                             enumerated=enumerated, max_enumerate=max_enumerate,
                             diagnostics=concordance_summary(rows), metric=metric,
                             scores=scores, kept_index=kept.indices, n_drawn=drawn)
