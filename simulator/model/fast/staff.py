"""Staff records from the fast engine's spells: each replicate's ``StaffSpells``, the record
the SimPy engine closes member by member (``timeline.roster``, ``timeline.staff_records``), so
the participation score (``model.participation``), the staff outcome and ``crtsim draw``'s
staff.csv work on either engine.

A spell of the fast engine is one holder's time in one post (``posts.Spells``); it is a
member of staff's spell in their team, with the roster's meaning of every column:
- ``staff_id`` "team-k": the k-th person the team hired, the holders at baseline 0..posts−1
  in post order, newcomers numbered on from ``posts`` in the order they joined;
- ``role`` "manager" for the holders of the team's first post (the roster's member 0 at
  baseline; a vacant manager post is refilled by a manager), else "staff";
- ``origin`` baseline (0) or newcomer (1); no member moves team in a covered scenario;
- ``why_ended`` left (the holder left the service), disbanded (in post when the team
  disbanded) or followup; ``end`` the month (trial.months at follow-up);
- ``attended`` the sessions of each component attended by the spell's end
  (``training.Training.attended_by``).
Rows are in the roster's order, team by team: the spells closed before follow-up by the month
they closed (members in hiring order at equal months), then those open at follow-up in hiring
order, so a replicate's ratings draw their noise in the SimPy engine's order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.fast.posts import Spells
from simulator.model.fast.training import Schedule, Training
from simulator.model.timeline.roster import BASELINE, MANAGER, NEWCOMER, STAFF
from simulator.model.timeline.staff_records import StaffSpells

ENDED = np.array(["left", "disbanded", "followup"])   # why a covered scenario's spell ends
ROLES = np.array([STAFF, MANAGER])


@dataclass(frozen=True)
class ChunkStaff:
    """The chunk's spells in the roster's order (team by team) and their columns."""

    team: np.ndarray       # (S,) the chunk's team index
    local: np.ndarray      # (S,) the team's index within its replicate
    hired: np.ndarray      # (S,) k: the k-th person hired by the team
    labels: np.ndarray     # (teams, k) str "team-k", looked up rather than formatted per row
    manager: np.ndarray    # (S,) bool
    baseline: np.ndarray   # (S,) bool
    start: np.ndarray      # (S,)
    end: np.ndarray        # (S,)
    why: np.ndarray        # (S,) index into ``ENDED``
    attended: np.ndarray   # (S, C)


def hiring_order(spells: Spells, posts: np.ndarray, first_post: np.ndarray) -> np.ndarray:
    """(S,) k of each spell's holder: baseline holders by post, newcomers by joining month."""
    hired = spells.post - first_post[spells.team]
    new = np.flatnonzero(~spells.baseline)
    order = new[np.lexsort((spells.start[new], spells.team[new]))]
    team = spells.team[order]
    rank = np.arange(order.size) - np.searchsorted(team, team, side="left")
    hired[order] = posts[team] + rank
    return hired


def chunk_staff(spells: Spells, training: Training, posts: np.ndarray,
                disband_month: np.ndarray, first_team: np.ndarray) -> ChunkStaff:
    """``posts`` (G,) establishment, ``disband_month`` (G,) nan for teams that ran to
    follow-up, ``first_team`` (G,) the chunk's index of the first team of each team's
    replicate."""
    manager = manager_spells(spells, posts)
    hired = hiring_order(spells, posts, _first_posts(posts))
    why = np.where(spells.left, 0, np.where(np.isnan(disband_month[spells.team]), 2, 1))
    order = np.lexsort((hired, spells.end, why == 2, spells.team))
    local = (spells.team - first_team[spells.team])[order]
    hired = hired[order]
    labels = np.array([[f"{j}-{k}" for k in range(int(hired.max(initial=0)) + 1)]
                       for j in range(int(local.max(initial=0)) + 1)])
    return ChunkStaff(spells.team[order], local, hired, labels, manager[order],
                      spells.baseline[order], spells.start[order], spells.end[order],
                      why[order], training.attended_by[order])


def _first_posts(posts: np.ndarray) -> np.ndarray:
    """(G,) the chunk's index of each team's first post (posts are laid out team by team)."""
    return np.concatenate([[0], np.cumsum(posts)[:-1]]).astype(np.int64)


def manager_spells(spells: Spells, posts: np.ndarray) -> np.ndarray:
    """(S,) bool: the spell holds its team's manager post (the team's first post)."""
    return spells.post == _first_posts(posts)[spells.team]


def replicate_staff(staff: ChunkStaff, rows: slice, schedule: Schedule) -> StaffSpells:
    """The ``StaffSpells`` of the replicate whose teams are the chunk's ``rows``."""
    lo, hi = np.searchsorted(staff.team, [rows.start, rows.stop], side="left")
    team = staff.local[lo:hi]
    return StaffSpells(
        components=schedule.names, to_complete=schedule.to_complete,
        manager_only=schedule.manager_only, staff_id=staff.labels[team, staff.hired[lo:hi]],
        team=team.astype(np.int64),
        role=ROLES[staff.manager[lo:hi].astype(int)],
        origin=np.where(staff.baseline[lo:hi], BASELINE, NEWCOMER).astype(np.int64),
        start=staff.start[lo:hi], end=staff.end[lo:hi], why_ended=ENDED[staff.why[lo:hi]],
        attended=staff.attended[lo:hi], moved=np.zeros(hi - lo, dtype=bool))
