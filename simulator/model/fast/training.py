"""Training sessions, in arrays: who attends, and when each is trained.

At each session month m of an intervention team (core sessions, then refreshers: the SimPy
engine's ``staffing.session_schedule``), every holder in post at m who is not yet trained
attends with probability p_j (``staffing.attendance_probability``); a holder is trained at the
session of their ``sessions_to_train``-th attendance and stays trained while in post
(DESIGN.md "Implementation"). A team's sessions stop when it disbands.

Each replicate draws one uniform per spell of its intervention teams and session, in spell
order, from its own stream (``attendance_draws``); the chunk is then trained at once
(``train``).

Shapes: (S,) spells, (M,) session months, (S, M) spell × session, (G,) teams.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.fast.posts import Spells


@dataclass(frozen=True)
class Training:
    trained_at: np.ndarray   # (S,) month the spell's holder is trained, inf if never
    attended: np.ndarray     # (G, M) int: staff attending each session (0 where none was held)


def attendance_draws(spells_taught: int, sessions: int, rng: np.random.Generator) -> np.ndarray:
    """(spells of intervention teams, sessions) uniforms; none without either."""
    if sessions == 0 or spells_taught == 0:
        return np.empty((0, sessions))
    return rng.random((spells_taught, sessions))


def train(spells: Spells, session_months: np.ndarray, in_intervention: np.ndarray,
          attendance: np.ndarray, sessions_to_train: int, team_end: np.ndarray,
          uniforms: np.ndarray) -> Training:
    """``in_intervention`` (G,) bool, ``attendance`` (G,) p_j, ``team_end`` (G,) disbanding
    month (sessions at or after it are not held) or follow-up; ``uniforms`` (spells of
    intervention teams, M) in spell order."""
    trained_at = np.full(spells.team.size, np.inf)
    attended = np.zeros((team_end.size, session_months.size), dtype=np.int64)
    taught = np.flatnonzero(in_intervention[spells.team])
    if session_months.size == 0 or taught.size == 0:
        return Training(trained_at, attended)
    team = spells.team[taught]
    m = session_months[None, :]
    present = (spells.start[taught, None] <= m) & (m < spells.end[taught, None]) \
        & (m < team_end[team, None])
    goes = present & (uniforms < attendance[team, None])
    count = np.cumsum(goes, axis=1)                       # sessions attended so far
    untrained_goes = goes & (count <= sessions_to_train)  # trained staff no longer attend
    done = count[:, -1] >= sessions_to_train
    first = np.argmax(count >= sessions_to_train, axis=1)
    trained_at[taught[done]] = session_months[first[done]]
    np.add.at(attended, team, untrained_goes.astype(np.int64))
    return Training(trained_at, attended)
