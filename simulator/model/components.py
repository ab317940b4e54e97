"""The intervention's components as arithmetic on arrays of per-staff attendance counts.

Pure functions, shared by the SimPy timeline and any vectorised engine (issue 13):
- completion: a member of staff has completed component c after attending
  ``sessions_to_complete`` c_k of its sessions;
- share_c: of the component's audience in post (every member of staff, or the manager post's
  holder), the share who have completed it (0 when nobody of the audience is in post);
- fidelity F_j(t) = Σ_c w_c share_c / Σ_c w_c with the components' true ``weight`` w_c;
- participation rating of a member of staff: Σ_c v_c a_ic / Σ_c v_c over the components
  whose audience they belong to, a_ic = attended_ic / c_k (the share of the component's
  required sessions attended; attendance stops at completion, so a_ic ≤ 1), v_c the
  ``participation_weights`` (default equal, REFOCUS's own choice: Slade et al. 2015,
  Lancet Psychiatry 2:503), plus N(0, measurement_noise_sd²) — unclipped, classical error.
Array shapes are in the names: ``(staff, components)``; leading axes broadcast.
"""
from __future__ import annotations

import numpy as np


def completion(attended: np.ndarray, to_complete: np.ndarray) -> np.ndarray:
    """(…, components) bool: attended_c ≥ sessions_to_complete_c."""
    return np.asarray(attended) >= np.asarray(to_complete)


def component_shares(completed: np.ndarray, audience: np.ndarray) -> np.ndarray:
    """(…, components): completed / audience in post, 0 where the audience is empty."""
    completed, audience = np.asarray(completed, float), np.asarray(audience, float)
    return np.divide(completed, audience, out=np.zeros(np.broadcast(completed, audience).shape),
                     where=audience > 0)


def weighted_fidelity(shares: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(…): Σ_c w_c share_c / Σ_c w_c over the last axis."""
    w = np.asarray(weights, float)
    return np.asarray(shares, float) @ w / w.sum()


def participation_ratings(attended: np.ndarray, to_complete: np.ndarray, in_audience: np.ndarray,
                          weights: np.ndarray) -> np.ndarray:
    """(staff,) noiseless rating: Σ_c v_c a_ic / Σ_c v_c over the member's own components
    (``in_audience`` (staff, components) bool); 0 for a member in no component's audience."""
    share = np.asarray(attended, float) / np.asarray(to_complete, float)
    v = np.where(in_audience, np.asarray(weights, float), 0.0)
    total = v.sum(axis=-1)
    return np.divide((share * v).sum(axis=-1), total, out=np.zeros(total.shape), where=total > 0)


def pooled_score(ratings: np.ndarray, team: np.ndarray, counts: np.ndarray,
                 n_teams: int) -> tuple[np.ndarray, np.ndarray]:
    """((K,) mean rating of each team's counted staff, nan where none; (K,) how many)."""
    team, counts = np.asarray(team, np.int64), np.asarray(counts, bool)
    pooled = np.bincount(team[counts], minlength=n_teams)
    total = np.bincount(team[counts], weights=np.asarray(ratings, float)[counts],
                        minlength=n_teams)
    score = np.divide(total, pooled, out=np.full(n_teams, np.nan), where=pooled > 0)
    return score, pooled
