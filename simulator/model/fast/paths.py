"""Fidelity paths of every team of a chunk at once, and their exact integrals.

A team's fidelity is F_j(t) = Σ_c w_c share_c(t) / Σ_c w_c, share_c the share of component
c's audience in post who have completed it (0 with none of the audience in post;
``components.component_shares`` and ``weighted_fidelity``; with one component for the whole
team, F_j = completed / in post, the SimPy roster's own arithmetic). It is piecewise
constant: it changes when a holder joins (in post + 1, and the manager audience + 1 for the
manager post), completes a component (completed_c + 1), leaves (in post − 1, and completed_c
− 1 for each c they had completed), and drops to 0 when the team disbands. The chunk's events
are sorted by (team, month), laid out as one row per team, (G, W) with G the chunk's teams and
W the most events of any team, and counted up along each row. ∫0^a F_j(t) dt is then the sum
of whole segments before a plus the part of the segment holding a, exactly (no time grid).

Each row is computed from its own team's events only (a cumulative sum along the row), so a
team's numbers do not depend on which other teams share the chunk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.components import component_shares, weighted_fidelity

START, LEAVE, JOIN, TRAIN, DISBAND, SESSION = 0, 1, 2, 3, 4, 5   # order at equal months
POOLED_OUT, POOLED_IN = 6, 7   # a holder leaves with a merge, arrives with one (not logged)
MOVE_OUT, MOVE_IN = 8, 9       # a member of staff moves to another team of the site
POST, MANAGER_POST = 0, 1   # columns of the event deltas before the components' (2 + c)


@dataclass(frozen=True)
class TeamEvents:
    """The chunk's staff events: team (global index in the chunk), month, kind."""

    team: np.ndarray    # (E,) int
    month: np.ndarray   # (E,) float
    kind: np.ndarray    # (E,) int, START..DISBAND


@dataclass(frozen=True)
class Rows:
    """Teams of similar event counts, one row each, (G_b, W_b): event months (inf past a
    team's last event), kind, staff in post and fidelity after each event, and ∫0^month F at
    each event; (G_b, W_b, C) each component's completion share after each event."""

    month: np.ndarray
    kind: np.ndarray
    in_post: np.ndarray
    fidelity: np.ndarray
    cumulative: np.ndarray
    shares: np.ndarray

    def integral(self, row: np.ndarray, month: np.ndarray) -> np.ndarray:
        """∫0^month F(t) dt of each (row, month) pair, fidelity-months."""
        rows = self.month[row]
        k = np.maximum(np.count_nonzero(rows <= month[:, None], axis=1) - 1, 0)
        return self.cumulative[row, k] + self.fidelity[row, k] * (month - rows[np.arange(k.size), k])


@dataclass(frozen=True)
class Paths:
    """Every team's path. Teams are laid out in a few blocks of similar event counts
    (``Rows``), so little of the arrays is padding; each row is computed from its own team's
    events alone, so a team's numbers do not depend on its block."""

    blocks: tuple[Rows, ...]
    block: np.ndarray   # (G,) the block holding team g
    row: np.ndarray     # (G,) its row there
    last: np.ndarray    # (G,) column of each team's last event

    @property
    def n_teams(self) -> int:
        return self.last.size

    def integral(self, team: np.ndarray, month: np.ndarray) -> np.ndarray:
        """∫0^month F_team(t) dt for each (team, month) pair, fidelity-months."""
        team = np.asarray(team)
        month = np.broadcast_to(np.asarray(month, dtype=float), team.shape)
        out, block = np.empty(team.size), self.block[team]
        for b, rows in enumerate(self.blocks):
            at = np.flatnonzero(block == b)
            if at.size:
                out[at] = rows.integral(self.row[team[at]], month[at])
        return out

    def fidelity_at_end(self) -> np.ndarray:
        """(G,) fidelity after each team's last event."""
        out = np.empty(self.n_teams)
        for b, rows in enumerate(self.blocks):
            teams = np.flatnonzero(self.block == b)
            out[teams] = rows.fidelity[self.row[teams], self.last[teams]]
        return out

    def of_team(self, g: int) -> tuple[np.ndarray, ...]:
        """Team g's (month, kind, in_post, fidelity, shares) after each of its events."""
        rows, r, n = self.blocks[self.block[g]], self.row[g], self.last[g] + 1
        return (rows.month[r, :n], rows.kind[r, :n], rows.in_post[r, :n], rows.fidelity[r, :n],
                rows.shares[r, :n])


def team_events(team: np.ndarray, start: np.ndarray, end: np.ndarray, ends: np.ndarray,
                manager: np.ndarray, completed_at: np.ndarray, disband_month: np.ndarray,
                sessions: tuple[np.ndarray, np.ndarray],
                merges: tuple[np.ndarray, np.ndarray] | None = None,
                moves: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[TeamEvents, np.ndarray]:
    """The events of pieces (P,) of spells (``merges.Pieces``: ``ends`` before their team
    does, by leaving or a merge; ``manager``: hold the manager post; ``completed_at`` (P, C) of
    their holder) and of the chunk's G teams, with (E, 2 + C) changes of staff in post, of the
    manager post's holders and of each component's completed staff in post (a piece that
    begins with a merge brings its holder's completions). ``sessions`` (team, month) of every
    session held change nothing, but cut the path where the SimPy engine records it, so the
    integrals add the same segments in the same order (exact agreement). ``merges`` (P,) bool
    (began with a merge, ended with one) mark those starts and ends ``POOLED_IN`` / ``OUT``,
    and ``moves`` (P,) bool (began with a staff move in, ended with one out) ``MOVE_IN`` /
    ``OUT``: each counts as a join or a departure."""
    g, n_c = disband_month.size, completed_at.shape[1]
    joins, gone = start > 0, ~np.isnan(disband_month)
    done = completed_at < end[:, None]                    # (P, C) completed while in post
    during = done & (completed_at >= start[:, None])
    spell, comp = np.nonzero(during)
    teams = np.concatenate([np.arange(g), team[joins], team[spell], team[ends],
                            np.flatnonzero(gone), sessions[0]])
    month = np.concatenate([np.zeros(g), start[joins], completed_at[spell, comp], end[ends],
                            disband_month[gone], sessions[1]])
    moved, merged = merges if merges is not None else (np.zeros(team.size, bool),) * 2
    arrived, moved_on = moves if moves is not None else (np.zeros(team.size, bool),) * 2
    kind = np.concatenate([np.full(g, START),
                           np.where(moved[joins], POOLED_IN, np.where(arrived[joins], MOVE_IN, JOIN)),
                           np.full(spell.size, TRAIN),
                           np.where(merged[ends], POOLED_OUT, np.where(moved_on[ends], MOVE_OUT, LEAVE)),
                           np.full(gone.sum(), DISBAND), np.full(sessions[0].size, SESSION)])
    delta = np.zeros((teams.size, 2 + n_c))
    at = np.cumsum([0, g, joins.sum(), spell.size, ends.sum()])
    delta[at[1]:at[2], POST], delta[at[1]:at[2], MANAGER_POST] = 1.0, manager[joins]
    delta[at[1]:at[2], 2:] = done[joins] & ~during[joins]   # brought by a merge
    delta[at[2] + np.arange(spell.size), 2 + comp] = 1.0
    delta[at[3]:at[4], POST], delta[at[3]:at[4], MANAGER_POST] = -1.0, -1.0 * manager[ends]
    delta[at[3]:at[4], 2:] = -1.0 * done[ends]
    return TeamEvents(teams, month, kind), delta


BLOCKS = 6   # blocks of teams by event count (fewer for small chunks)


def _blocks(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(block, row) of each team and the teams of each block: teams sorted by their count of
    events, cut into up to ``BLOCKS`` blocks of equal size."""
    by_count = np.argsort(counts, kind="stable")
    parts = [p for p in np.array_split(by_count, min(BLOCKS, counts.size)) if p.size]
    block, row = np.empty(counts.size, np.int64), np.empty(counts.size, np.int64)
    for b, teams in enumerate(parts):
        block[teams], row[teams] = b, np.arange(teams.size)
    return block, row, parts


def _rows(events: TeamEvents, delta: np.ndarray, n_teams: int):
    """Sort by (team, month, kind) and lay each block's teams' events out as rows of
    (G_b, W_b[, D]); returns each block's (month, kind, delta) grids and teams, the (block,
    row) of each team, and each team's last column."""
    order = np.lexsort((events.kind, events.month, events.team))
    team = events.team[order]
    counts = np.bincount(team, minlength=n_teams)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    col = np.arange(team.size) - first[team]
    block, row, parts = _blocks(counts)
    values = [np.asarray(v)[order] for v in (events.month, events.kind, delta)]
    at = block[team]
    grids = []
    for b, teams in enumerate(parts):
        mine = np.flatnonzero(at == b)
        width = max(int(counts[teams].max()), 1)
        out = []
        for v, fill in zip(values, [np.inf, -1, 0]):
            grid = np.full((teams.size, width, *v.shape[1:]), fill, dtype=v.dtype)
            grid[row[team[mine]], col[mine]] = v[mine]
            out.append(grid)
        grids.append((out, teams))
    return grids, block, row, counts - 1


def _fidelity(in_post, managers, completed, one_team_component, manager_only, weights):
    """(G, W) F and (G, W, C) shares from the counts after each event."""
    audience = np.where(manager_only, managers[..., None], in_post[..., None])
    shares = component_shares(completed, audience)
    if one_team_component:   # today's arithmetic, bit for bit (``roster.TeamState.record``)
        return shares[..., 0], shares
    return weighted_fidelity(shares, weights), shares


def _block_paths(month, kind, d, posts: np.ndarray, schedule) -> Rows:
    """One block's staff in post, completion shares, fidelity and cumulative integrals."""
    ended = np.maximum.accumulate(kind == DISBAND, axis=1)
    counts = np.where(ended[..., None], 0.0, np.cumsum(d, axis=1))
    in_post = np.where(ended, 0, posts[:, None] + counts[..., POST])
    managers = np.where(ended, 0, (posts[:, None] > 0) + counts[..., MANAGER_POST])
    fidelity, shares = _fidelity(in_post, managers, counts[..., 2:],
                                 schedule.one_team_component, schedule.manager_only,
                                 schedule.weights)
    valid_next = np.isfinite(month[:, 1:])
    length = np.where(valid_next, month[:, 1:] - np.where(valid_next, month[:, :-1], 0.0), 0.0)
    cumulative = np.concatenate([np.zeros((posts.size, 1)),
                                 np.cumsum(fidelity[:, :-1] * length, axis=1)], axis=1)
    return Rows(month, kind, in_post.astype(np.int64), fidelity, cumulative, shares)


def build_paths(events: TeamEvents, delta: np.ndarray, posts: np.ndarray, schedule) -> Paths:
    """Staff in post, completion shares and fidelity after each event (``schedule``: the
    components' ``training.Schedule``); cumulative integrals."""
    grids, block, row, last = _rows(events, delta, posts.size)
    return Paths(tuple(_block_paths(*grid, posts[teams], schedule) for grid, teams in grids),
                 block, row, last)
