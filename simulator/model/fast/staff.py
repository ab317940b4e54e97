"""Staff records from the fast engine's spells: each replicate's ``StaffSpells``, the record
the SimPy engine closes member by member (``timeline.roster``, ``timeline.staff_records``), so
the participation score (``model.participation``), the staff outcome and ``crtsim draw``'s
staff.csv work on either engine.

A piece of a spell (``merges.Pieces``: one holder's time in one post and one team) is a
member of staff's spell in their team, with the roster's meaning of every column:
- ``staff_id`` "team-k": the k-th person the team hired, the holders at baseline 0..posts−1
  in post order, newcomers numbered on from ``posts`` in the order they joined (a holder
  keeps the id through a merge; a vacancy a merge brought is filled by the receiving team);
- ``role`` "manager" for the holder of the team's first post (the roster's member 0 at
  baseline; a vacant manager post is refilled by a manager; a merged team's manager is staff
  in the team it joins), else "staff";
- ``origin`` baseline (0) or newcomer (1), kept through a merge, or mover (2) from a staff
  move on (``moves``: a mover keeps the id the team that hired them gave); ``moved`` the
  piece began with a merge or the spell with a move;
- ``why_ended`` left (the service), moved (to another team of the site), merged, disbanded
  (in post when the team disbanded) or followup; ``end`` the month (trial.months at
  follow-up);
- ``attended`` the sessions of each component attended by the piece's end
  (``training.Training.attended_by``).
Rows are in the roster's order, team by team: the pieces closed before follow-up by the month
they closed (members in the order they joined the team at equal months), then those open at
follow-up in that order, so a replicate's ratings draw their noise in the SimPy engine's order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.fast.merges import Pieces
from simulator.model.fast.posts import Spells
from simulator.model.fast.training import Schedule
from simulator.model.timeline.roster import BASELINE, MANAGER, MOVER, NEWCOMER, STAFF
from simulator.model.timeline.staff_records import StaffSpells

ENDED = np.array(["left", "merged", "disbanded", "followup", "moved"])   # why a spell ends
ROLES = np.array([STAFF, MANAGER])


@dataclass(frozen=True)
class ChunkStaff:
    """The chunk's pieces of spells in the roster's order (team by team) and their columns."""

    team: np.ndarray       # (P,) the chunk's team index
    local: np.ndarray      # (P,) the team's index within its replicate
    hired_by: np.ndarray   # (P,) index within the replicate of the team that hired the holder
    hired: np.ndarray      # (P,) k: the k-th person hired by that team
    labels: np.ndarray     # (teams, k) str "team-k", looked up rather than formatted per row
    manager: np.ndarray    # (P,) bool
    origin: np.ndarray     # (P,) BASELINE, NEWCOMER or MOVER
    moved: np.ndarray      # (P,) bool: began with a merge
    start: np.ndarray      # (P,)
    end: np.ndarray        # (P,)
    why: np.ndarray        # (P,) index into ``ENDED``
    attended: np.ndarray   # (P, C)


def hiring_order(spells: Spells, hired_by: np.ndarray, posts: np.ndarray,
                 first_post: np.ndarray) -> np.ndarray:
    """(S,) k of each spell's holder in the team that hired them (``hired_by`` (S,)): baseline
    holders by post, newcomers by joining month, numbered on from the team's own posts."""
    hired = spells.post - first_post[spells.team]
    new = np.flatnonzero(~spells.baseline & ~spells.arrived)
    order = new[np.lexsort((spells.start[new], hired_by[new]))]
    team = hired_by[order]
    rank = np.arange(order.size) - np.searchsorted(team, team, side="left")
    hired[order] = posts[team] + rank
    return hired


def _first_posts(posts: np.ndarray) -> np.ndarray:
    """(G,) the chunk's index of each team's first post (posts are laid out team by team)."""
    return np.concatenate([[0], np.cumsum(posts)[:-1]]).astype(np.int64)


def manager_spells(spells: Spells, posts: np.ndarray) -> np.ndarray:
    """(S,) bool: the spell holds its team's manager post (the team's first post)."""
    return spells.post == _first_posts(posts)[spells.team]


def _why(pieces: Pieces, disband_month: np.ndarray) -> np.ndarray:
    gone = ~np.isnan(disband_month[pieces.team])
    return np.where(pieces.moved_on, 4, np.where(pieces.left, 0, np.where(
        pieces.merged, 1, np.where(gone, 2, 3))))


def first_spells(previous: np.ndarray) -> np.ndarray:
    """(S,) each spell's holder's first spell (before any staff move)."""
    root = np.arange(previous.size)
    while np.any(previous[root] >= 0):
        root = np.where(previous[root] >= 0, previous[root], root)
    return root


def chunk_staff(spells: Spells, pieces: Pieces, attended: np.ndarray, posts: np.ndarray,
                disband_month: np.ndarray, first_team: np.ndarray) -> ChunkStaff:
    """``pieces`` of ``spells`` (``merges.cut``) with the sessions ``attended`` (P, C) by
    each piece's end; ``posts`` (G,) establishment, ``disband_month`` (G,) nan for teams that
    ran to follow-up, ``first_team`` (G,) the chunk's index of the first team of each team's
    replicate."""
    h, root = pieces.holder, first_spells(spells.previous)
    hired_by = np.empty(spells.team.size, dtype=np.int64)
    hired_by[h[~pieces.moved]] = pieces.team[~pieces.moved]    # the team of the first piece
    hired_by = hired_by[root]
    hired = hiring_order(spells, hired_by, posts, _first_posts(posts))[root][h]
    manager = manager_spells(spells, posts)[h] & pieces.owned
    origin = np.where(spells.arrived, MOVER, np.where(spells.baseline, BASELINE, NEWCOMER))[h]
    why = _why(pieces, disband_month)
    order = np.lexsort((hired, pieces.start, pieces.end, why == 3, pieces.team))
    local = (pieces.team - first_team[pieces.team])[order]
    by = (hired_by[h] - first_team[hired_by[h]])[order]
    hired = hired[order]
    labels = np.array([[f"{j}-{k}" for k in range(int(hired.max(initial=0)) + 1)]
                       for j in range(int(max(local.max(initial=0), by.max(initial=0))) + 1)])
    return ChunkStaff(pieces.team[order], local, by, hired, labels, manager[order],
                      origin[order], (pieces.moved | spells.arrived[h])[order], pieces.start[order],
                      pieces.end[order], why[order], attended[order])


def replicate_staff(staff: ChunkStaff, rows: slice, schedule: Schedule) -> StaffSpells:
    """The ``StaffSpells`` of the replicate whose teams are the chunk's ``rows``."""
    lo, hi = np.searchsorted(staff.team, [rows.start, rows.stop], side="left")
    team = staff.local[lo:hi]
    return StaffSpells(
        components=schedule.names, to_complete=schedule.to_complete,
        manager_only=schedule.manager_only,
        staff_id=staff.labels[staff.hired_by[lo:hi], staff.hired[lo:hi]],
        team=team.astype(np.int64), role=ROLES[staff.manager[lo:hi].astype(int)],
        origin=staff.origin[lo:hi].astype(np.int64),
        start=staff.start[lo:hi], end=staff.end[lo:hi], why_ended=ENDED[staff.why[lo:hi]],
        attended=staff.attended[lo:hi], moved=staff.moved[lo:hi])
