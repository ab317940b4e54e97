"""``participation.measure_participation`` for every replicate of a chunk at once.

The staff records of the chunk's replicates are laid end to end and their teams numbered
across the chunk; the ratings (``components.participation_ratings``, spell by spell) and the
team scores (``components.pooled_score``, a sum over each team's stayers in spell order) are
then the same numbers, bit for bit, as replicate by replicate. Each replicate's noise still
comes from its own stream "outcomes/participation", drawn in its own order.
"""
from __future__ import annotations

import numpy as np

from simulator.model.components import participation_ratings, pooled_score
from simulator.model.participation import Participation


def chunk_participation(scenario, histories, arms, noise) -> list[Participation | None]:
    """Each replicate's Participation (None without staff records). ``arms``: (K_r,) per
    replicate; ``noise``: its stream where the ratings draw noise, else None."""
    rated = [i for i, h in enumerate(histories) if h.staff is not None]
    if not rated:
        return [None] * len(histories)
    iv = scenario.intervention
    staff = [histories[i].staff for i in rated]
    spells = np.array([s.team.shape[0] for s in staff])
    teams = np.array([arms[i].shape[0] for i in rated])
    team_start = np.concatenate([[0], np.cumsum(teams)[:-1]])
    arm = np.concatenate([np.asarray(arms[i]).astype(int) for i in rated])
    team = np.concatenate([s.team + t for s, t in zip(staff, team_start)])
    clean = participation_ratings(np.concatenate([s.attended for s in staff]),
                                  staff[0].to_complete,
                                  np.concatenate([s.in_audience for s in staff]),
                                  np.asarray(iv.rating_weights(), float))
    sd = iv.measurement_noise_sd
    drawn = np.concatenate([noise[i].normal(0.0, sd, size=n) for i, n in zip(rated, spells)]
                           ) if sd > 0 else 0.0
    is_rated = arm[team] == 1
    rating = np.where(is_rated, clean + drawn, np.nan)
    counts = is_rated & np.concatenate([s.stayer for s in staff])
    score, pooled = pooled_score(rating, team, counts, arm.shape[0])
    score = np.where(arm == 1, score, 0.0)
    out: list[Participation | None] = [None] * len(histories)
    s_cut, t_cut = np.cumsum(spells)[:-1], np.cumsum(teams)[:-1]
    for i, r, c, sc, po in zip(rated, np.split(rating, s_cut), np.split(counts, s_cut),
                               np.split(score, t_cut), np.split(pooled, t_cut)):
        out[i] = Participation(r, c, sc, po)
    return out
