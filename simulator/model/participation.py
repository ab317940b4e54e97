"""Participation measured as REFOCUS measured it (issue 13; Slade et al. 2015, Lancet
Psychiatry 2:503): a rating per member of staff, pooled over the team's stayers.

Each spell in an intervention team gets a rating: the share of each of its components'
required sessions the member attended, combined with ``intervention.participation_weights``
(``components.participation_ratings``), plus N(0, measurement_noise_sd²) from its own stream.
The team's recorded score is the mean rating of its stayers — in post at baseline and at
follow-up, never moved team ("we pooled the participation scale ratings for staff who did not
move team and had baseline and follow-up data"). An intervention team without stayers has no
score (nan): score-based analyses leave it out, and ``teams_without_score`` counts it. Control
teams are not rated (nan) and score 0: they receive no intervention (one-sided noncompliance).
The true dose keeps the components' true weights; the rating's weights are the analyst's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.components import participation_ratings, pooled_score
from simulator.model.timeline.staff_records import StaffSpells


@dataclass(frozen=True)
class Participation:
    rating: np.ndarray   # (spells,) the member's rating; nan in control teams
    counts: np.ndarray   # (spells,) bool: a stayer of an intervention team (pooled)
    score: np.ndarray    # (K,) recorded team score; nan: no stayers; 0 in control teams
    pooled: np.ndarray   # (K,) staff the score pools

    def without_score(self, arm: np.ndarray) -> int:
        """Intervention teams with no score."""
        return int(np.count_nonzero((np.asarray(arm) == 1) & np.isnan(self.score)))


def measure_participation(staff: StaffSpells, arm: np.ndarray, weights, noise_sd: float, *,
                          rng: np.random.Generator) -> Participation:
    arm = np.asarray(arm).astype(int)
    rated = arm[staff.team] == 1
    noise = rng.normal(0.0, noise_sd, size=staff.team.shape[0]) if noise_sd > 0 else 0.0
    clean = participation_ratings(staff.attended, staff.to_complete, staff.in_audience,
                                  np.asarray(weights, float))
    rating = np.where(rated, clean + noise, np.nan)
    counts = rated & staff.stayer
    score, pooled = pooled_score(rating, staff.team, counts, arm.shape[0])
    return Participation(rating, counts, np.where(arm == 1, score, 0.0), pooled)
