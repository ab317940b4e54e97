"""Minimisation (Pocock & Simon 1975, Biometrics 31:103) over the strata factors.

Teams arrive in a random order. For the next team, each arm's imbalance is the sum over factors
of |c1 / w1 - c0 / w0|, where c_a counts the teams already in arm a sharing this team's level of
the factor (the marginal counts, not the cross-classified strata) with the new team added to
that arm, and w_a is arm a's target share (n / K and 1 - n / K; equal weights give Pocock and
Simon's range). The arm with the smaller imbalance is taken with probability p
(``minimisation_probability``), ties are broken at random, and once an arm holds its quota every
remaining team goes to the other, so the arm sizes are exactly n and K - n.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNASSIGNED = -1


def same_level(levels: np.ndarray) -> np.ndarray:
    """(F, K, K) float: 1 where two teams share a level of factor f."""
    return (levels[:, :, None] == levels[:, None, :]).astype(float)


def prob_intervention(partial: np.ndarray, team: np.ndarray, same: np.ndarray, n: int,
                      p: float) -> np.ndarray:
    """(R,) chance that ``team`` (R,) joins the intervention arm given partial allocations
    (R, K) with values 1, 0 or UNASSIGNED. Imbalance is scaled by n (K - n) to stay integral."""
    k = partial.shape[1]
    shared = same[:, :, team]                                    # (F, K, R)
    c1 = np.einsum("rk,fkr->rf", (partial == 1).astype(float), shared)
    c0 = np.einsum("rk,fkr->rf", (partial == 0).astype(float), shared)
    imb1 = np.abs((c1 + 1) * (k - n) - c0 * n).sum(axis=1)
    imb0 = np.abs(c1 * (k - n) - (c0 + 1) * n).sum(axis=1)
    prob = np.where(imb1 < imb0, p, np.where(imb1 > imb0, 1 - p, 0.5))
    prob = np.where((partial == 1).sum(axis=1) >= n, 0.0, prob)
    return np.where((partial == 0).sum(axis=1) >= k - n, 1.0, prob)


def assign(states: np.ndarray, rows: np.ndarray, team: np.ndarray, arm) -> np.ndarray:
    """Copies of ``states[rows]`` with ``team`` set to ``arm``."""
    out = states[rows].copy()
    out[np.arange(rows.size), team] = arm
    return out


@dataclass(frozen=True, eq=False)
class MinimisationScheme:
    """Pocock-Simon minimisation; ``levels`` is (F, K) level codes, one row per factor."""

    levels: np.ndarray
    n_intervention: int
    probability: float = 0.8
    max_enumerate: int = 100_000
    name: str = "minimisation"

    @property
    def n_teams(self) -> int:
        return int(self.levels.shape[1])

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One allocation, (K,) int8."""
        return self.resample(rng, 1)[0]

    def resample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, K) int8 independent allocations: n sequential runs, vectorised across runs."""
        k, same = self.n_teams, same_level(self.levels)
        order = np.argsort(rng.random((n, k)), axis=1)
        coins = rng.random((n, k))
        arms = np.full((n, k), UNASSIGNED, dtype=np.int8)
        for step in range(k):
            team = order[:, step]
            prob = prob_intervention(arms, team, same, self.n_intervention, self.probability)
            arms[np.arange(n), team] = coins[:, step] < prob
        return arms

    def enumerate(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact distribution of the final allocation, or None if 3^K > max_enumerate.

        Dynamic programming over partial allocations (each team unassigned, 0 or 1, hence 3^K
        states at most): the next team is uniform over the unassigned ones, and its arm follows
        :func:`prob_intervention`; equal states are merged and their chances summed.
        """
        k = self.n_teams
        if 3 ** k > self.max_enumerate:
            return None
        same = same_level(self.levels)
        states, probs = np.full((1, k), UNASSIGNED, np.int8), np.ones(1)
        for step in range(k):
            rows, team = np.nonzero(states == UNASSIGNED)
            share = probs[rows] / (k - step)
            p1 = prob_intervention(states[rows], team, same, self.n_intervention, self.probability)
            children = np.vstack([assign(states, rows, team, 1), assign(states, rows, team, 0)])
            chance = np.concatenate([share * p1, share * (1 - p1)])
            keep = chance > 0
            states, inverse = np.unique(children[keep], axis=0, return_inverse=True)
            probs = np.bincount(inverse.ravel(), weights=chance[keep])
        return states, probs

    def describe(self, arm: np.ndarray) -> dict:
        """Scalar diagnostics of the scheme."""
        return {"method": self.name, "n_factors": int(self.levels.shape[0]),
                "minimisation_probability": float(self.probability)}
