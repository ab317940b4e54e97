"""Matched-pair randomisation: teams sorted on the strata columns then size, neighbours paired,
one of each pair to each arm (Hayes & Moulton 2017; Imai, King & Nall 2009, Stat Sci 24:29).

With K even the pairs are fixed and all 2^(K/2) allocations are equally likely. With K odd one
team is left out of the pairing, chosen uniformly at random for every draw; the others, in sorted
order, are paired with their neighbours, and the odd team out takes the arm that makes the total
exactly n. Choosing it at random (rather than always the last in sort order) gives every team the
same chance n / K of intervention, so the scheme cannot tie arm to size.

Only n = floor(K/2) or ceil(K/2) is possible; other n raise a ValueError (use ``stratified``,
whose blocks take any allocation ratio).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

SIZE_COLUMN = "patients"


def pairing_order(covariates: Mapping[str, np.ndarray], strata: tuple[str, ...],
                  k: int) -> np.ndarray:
    """(K,) team indices sorted by the strata columns (in order), then by size if known.

    Ties keep the original team order (stable sort).
    """
    keys = [np.asarray(covariates[n]) for n in strata]
    if SIZE_COLUMN in covariates:
        keys.append(np.asarray(covariates[SIZE_COLUMN]))
    if not keys:
        return np.arange(k)
    return np.lexsort(keys[::-1])


def check_pairable(k: int, n: int) -> None:
    """Raise ValueError unless n is floor(K/2) or ceil(K/2)."""
    if n not in (k // 2, (k + 1) // 2):
        raise ValueError(f"matched_pairs needs n_intervention = floor(K/2) or ceil(K/2) = "
                         f"{k // 2} or {(k + 1) // 2} for K = {k} teams, got {n}; "
                         "use method 'stratified' for other shares")


def pair_arms(order: np.ndarray, flips: np.ndarray, left_out: np.ndarray | None,
              odd_arm: int) -> np.ndarray:
    """(R, K) int8 allocations from pair coin flips (R, K//2) and, for odd K, the sorted position
    of the team left out of each draw (R,), which gets ``odd_arm``.

    The j-th pair (in sorted order, skipping the left-out team) gives its first team flip j
    and its second 1 - flip j.
    """
    r, k = flips.shape[0], order.size
    pos = np.broadcast_to(np.arange(k), (r, k))
    rank = pos if left_out is None else np.where(pos < left_out[:, None], pos, pos - 1)
    pair = np.clip(rank // 2, 0, flips.shape[1] - 1)
    flip = np.take_along_axis(flips, pair, axis=1)
    sorted_arm = np.where(rank % 2 == 0, flip, 1 - flip)
    if left_out is not None:
        sorted_arm = np.where(pos == left_out[:, None], odd_arm, sorted_arm)
    arms = np.empty((r, k), dtype=np.int8)
    arms[:, order] = sorted_arm
    return arms


@dataclass(frozen=True, eq=False)
class MatchedPairsScheme:
    """Matched pairs over teams in ``order`` (sorted team indices), n to intervention."""

    order: np.ndarray
    n_intervention: int
    max_enumerate: int = 100_000
    name: str = "matched_pairs"

    def __post_init__(self) -> None:
        check_pairable(self.n_teams, self.n_intervention)

    @property
    def n_teams(self) -> int:
        return int(self.order.size)

    @property
    def n_pairs(self) -> int:
        return self.n_teams // 2

    @property
    def odd(self) -> bool:
        return self.n_teams % 2 == 1

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One allocation, (K,) int8."""
        return self.resample(rng, 1)[0]

    def resample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, K) int8 independent allocations from this scheme."""
        left_out = rng.integers(self.n_teams, size=n) if self.odd else None
        flips = rng.integers(2, size=(n, self.n_pairs))
        return pair_arms(self.order, flips, left_out, self.n_intervention - self.n_pairs)

    def enumerate(self) -> tuple[np.ndarray, np.ndarray] | None:
        """All allocations and their probabilities, or None if the K 2^(K//2) (odd K) or
        2^(K/2) (even K) equally likely paths exceed max_enumerate. With odd K different left-out
        teams can give the same allocation; such paths are merged and their chances summed."""
        paths = 2 ** self.n_pairs * (self.n_teams if self.odd else 1)
        if paths > self.max_enumerate:
            return None
        flips = (np.arange(2 ** self.n_pairs)[:, None] >> np.arange(self.n_pairs)) & 1
        if not self.odd:
            return pair_arms(self.order, flips, None, 0), np.full(flips.shape[0], 1 / paths)
        left_out = np.repeat(np.arange(self.n_teams), flips.shape[0])
        arms = pair_arms(self.order, np.tile(flips, (self.n_teams, 1)), left_out,
                         self.n_intervention - self.n_pairs)
        unique, inverse = np.unique(arms, axis=0, return_inverse=True)
        return unique, np.bincount(inverse.ravel(), minlength=unique.shape[0]) / paths

    def describe(self, arm: np.ndarray) -> dict:
        """Scalar diagnostics of the scheme."""
        return {"method": self.name, "n_pairs": self.n_pairs, "odd_team_out": int(self.odd)}

    def pair_labels(self, arm: np.ndarray) -> np.ndarray:
        """(K,) pair number 0..P-1 of each team in the allocation ``arm``, -1 for the odd team
        out: neighbours in sorted order, skipping (odd K) the first sorted position whose
        removal leaves every pair split between the arms (the pairs of any draw that gave
        ``arm``; with odd K several left-out teams may give the same allocation)."""
        sorted_arm = np.asarray(arm)[self.order]
        for left_out in range(self.n_teams) if self.odd else [None]:
            keep = np.arange(self.n_teams) if left_out is None else \
                np.delete(np.arange(self.n_teams), left_out)
            pairs = sorted_arm[keep].reshape(-1, 2)
            if np.all(pairs[:, 0] != pairs[:, 1]):
                labels = np.full(self.n_teams, -1)
                labels[self.order[keep]] = np.arange(keep.size) // 2
                return labels
        raise ValueError("arm is not an allocation of this matched-pairs scheme")
