"""Fidelity paths of every team of a chunk at once, and their exact integrals.

A team's fidelity F_j(t) = trained / in post (0 with nobody in post) is piecewise constant: it
changes when a holder joins (in post + 1), is trained (trained + 1), leaves (in post − 1, and
trained − 1 if they were), and drops to 0 when the team disbands. The chunk's events are
sorted by (team, month), laid out as one row per team, (G, W) with G the chunk's teams and W
the most events of any team, and counted up along each row. ∫0^a F_j(t) dt is then the sum of
whole segments before a plus the part of the segment holding a, exactly (no time grid).

Each row is computed from its own team's events only (a cumulative sum along the row), so a
team's numbers do not depend on which other teams share the chunk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

START, LEAVE, JOIN, TRAIN, DISBAND = 0, 1, 2, 3, 4   # order of events at equal months


@dataclass(frozen=True)
class TeamEvents:
    """The chunk's staff events: team (global index in the chunk), month, kind."""

    team: np.ndarray    # (E,) int
    month: np.ndarray   # (E,) float
    kind: np.ndarray    # (E,) int, START..DISBAND


@dataclass(frozen=True)
class Paths:
    """Rows of (G, W): event months (inf past a team's last event), kind, staff in post and
    fidelity after each event, and ∫0^month F at each event."""

    month: np.ndarray
    kind: np.ndarray
    in_post: np.ndarray
    fidelity: np.ndarray
    cumulative: np.ndarray
    last: np.ndarray    # (G,) column of each team's last event

    def integral(self, team: np.ndarray, month: np.ndarray) -> np.ndarray:
        """∫0^month F_team(t) dt for each (team, month) pair, fidelity-months."""
        rows = self.month[team]
        k = np.count_nonzero(rows <= np.asarray(month, dtype=float)[:, None], axis=1) - 1
        k = np.maximum(k, 0)
        return self.cumulative[team, k] + self.fidelity[team, k] * (month - rows[np.arange(k.size), k])

    def at_end(self, values: np.ndarray) -> np.ndarray:
        """(G,) the value after each team's last event (``fidelity`` or ``in_post``)."""
        return values[np.arange(self.last.size), self.last]


def team_events(team: np.ndarray, start: np.ndarray, end: np.ndarray, left: np.ndarray,
                trained_at: np.ndarray, disband_month: np.ndarray) -> tuple[TeamEvents, np.ndarray, np.ndarray]:
    """The events of spells (S,) and of the chunk's G teams, with (E,) changes of staff in
    post and of trained staff."""
    g = disband_month.size
    joins, trains = start > 0, trained_at < end
    gone = ~np.isnan(disband_month)
    teams = np.concatenate([np.arange(g), team[joins], team[trains], team[left],
                            np.flatnonzero(gone)])
    month = np.concatenate([np.zeros(g), start[joins], trained_at[trains], end[left],
                            disband_month[gone]])
    kind = np.concatenate([np.full(g, START), np.full(joins.sum(), JOIN),
                           np.full(trains.sum(), TRAIN), np.full(left.sum(), LEAVE),
                           np.full(gone.sum(), DISBAND)])
    d_post = np.concatenate([np.zeros(g), np.ones(joins.sum()), np.zeros(trains.sum()),
                             -np.ones(left.sum()), np.zeros(gone.sum())])
    d_trained = np.concatenate([np.zeros(g), np.zeros(joins.sum()), np.ones(trains.sum()),
                                -(trained_at[left] < end[left]).astype(float), np.zeros(gone.sum())])
    return TeamEvents(teams, month, kind), d_post, d_trained


def _rows(events: TeamEvents, columns: list[np.ndarray], n_teams: int):
    """Sort by (team, month, kind) and lay each team's events out as one row of (G, W)."""
    order = np.lexsort((events.kind, events.month, events.team))
    team = events.team[order]
    counts = np.bincount(team, minlength=n_teams)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    col = np.arange(team.size) - first[team]
    width = int(counts.max())
    out = []
    for values, fill in zip([events.month, events.kind, *columns], [np.inf, -1] + [0] * len(columns)):
        grid = np.full((n_teams, width), fill, dtype=np.asarray(values).dtype)
        grid[team, col] = np.asarray(values)[order]
        out.append(grid)
    return out, counts - 1


def build_paths(events: TeamEvents, d_post: np.ndarray, d_trained: np.ndarray,
                posts: np.ndarray) -> Paths:
    """Staff in post, trained and fidelity after each event; cumulative integrals."""
    (month, kind, dp, dt), last = _rows(events, [d_post, d_trained], posts.size)
    ended = np.maximum.accumulate(kind == DISBAND, axis=1)
    in_post = np.where(ended, 0, posts[:, None] + np.cumsum(dp, axis=1))
    trained = np.where(ended, 0, np.cumsum(dt, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        fidelity = np.where(in_post > 0, trained / in_post, 0.0)
    valid_next = np.isfinite(month[:, 1:])
    length = np.where(valid_next, month[:, 1:] - np.where(valid_next, month[:, :-1], 0.0), 0.0)
    cumulative = np.concatenate([np.zeros((posts.size, 1)),
                                 np.cumsum(fidelity[:, :-1] * length, axis=1)], axis=1)
    return Paths(month, kind, in_post.astype(np.int64), fidelity, cumulative, last)
