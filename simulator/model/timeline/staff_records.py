"""The staff of a run, one row per member of staff per team spell (``crtsim draw``'s staff.csv).

A spell begins when a member takes a post in a team (at baseline, as a newcomer, as a mover,
or when their team merges into another) and ends when they leave the service, move, the team
disbands or merges, or at follow-up. ``attended`` is the member's sessions of each component
by the spell's end (sessions move with a mover). A *stayer* was in post at baseline and at
follow-up in the same team and never moved team: REFOCUS pooled the participation ratings of
exactly these staff into the team's score (Slade et al. 2015).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

from simulator.model.components import completion
from simulator.model.timeline.roster import MANAGER


@dataclass(frozen=True)
class StaffSpells:
    components: tuple[str, ...]   # component names, the columns of ``attended``
    to_complete: np.ndarray       # (components,) sessions_to_complete
    manager_only: np.ndarray      # (components,) bool: audience is the manager post
    staff_id: np.ndarray          # (spells,) str "team-k": the k-th person hired by that team
    team: np.ndarray              # (spells,) int
    role: np.ndarray              # (spells,) "manager" | "staff"
    origin: np.ndarray            # (spells,) 0 baseline, 1 newcomer, 2 mover (roster module)
    start: np.ndarray             # (spells,) month the spell began
    end: np.ndarray               # (spells,) month it ended (trial.months at follow-up)
    why_ended: np.ndarray         # (spells,) left | moved | disbanded | merged | followup
    attended: np.ndarray          # (spells, components) sessions attended by the spell's end
    moved: np.ndarray             # (spells,) bool: the spell began with a move or a merge

    @property
    def completed(self) -> np.ndarray:
        """(spells, components) bool."""
        return completion(self.attended, self.to_complete)

    @property
    def in_audience(self) -> np.ndarray:
        """(spells, components) bool: the spell's role is in the component's audience."""
        return ~self.manager_only[None, :] | (self.role == MANAGER)[:, None]

    @property
    def stayer(self) -> np.ndarray:
        """(spells,) bool: in post at baseline and follow-up in this team, never moved."""
        return (self.start == 0) & (self.why_ended == "followup") & ~self.moved


def staff_spells(states, months: float) -> StaffSpells:
    """Close every spell still open at follow-up and stack them all, team by team."""
    rows = []
    for state in states:
        rows += state.spells
        rows += [(m.staff_id, state.team, m.role, m.origin, m.start, months, "followup",
                  tuple(m.attended), m.moved) for m in state.members]
    first = states[0]
    c = len(first.k)
    cols = list(zip(*rows)) if rows else [()] * 9
    return StaffSpells(
        components=tuple(p.name for p in first.components),
        to_complete=np.array(first.k, dtype=np.int64),
        manager_only=np.array(first.manager_only, dtype=bool),
        staff_id=np.array(cols[0], dtype=str), team=np.array(cols[1], dtype=np.int64),
        role=np.array(cols[2], dtype=str), origin=np.array(cols[3], dtype=np.int64),
        start=np.array(cols[4], dtype=float), end=np.array(cols[5], dtype=float),
        why_ended=np.array(cols[6], dtype=str),
        attended=np.fromiter(chain.from_iterable(cols[7]), np.int64, len(rows) * c
                             ).reshape(len(rows), c),
        moved=np.array(cols[8], dtype=bool))
