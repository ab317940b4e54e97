"""The roster of one team during a run: its members of staff, one by one (issue 13).

Each member has an origin (baseline, newcomer, or mover from another team), a role (the
team's one manager post, or staff), the month their spell in this team began, and the sessions
of each component they have attended. Every spell that ends (the member leaves, moves, the team
disbands or merges, or follow-up comes) is closed into ``spells`` for ``staff.csv``.

The draws keep the order of the earlier count-based roster, so the one-component case gives
the same numbers bit for bit: a session draws Binomial(cell size, p) for each (origin, sessions
attended) cell in that order, and a leaver is the ``int(u·n)``-th member in (origin, sessions
attended) order. Which members of a cell attend comes from a separate stream (``Draws.who``):
cells are exchangeable for everything the counts decided, so no earlier draw changes.
"""
from __future__ import annotations

import math

import numpy as np

from simulator.model.components import component_shares, weighted_fidelity

BASELINE, NEWCOMER, MOVER = 0, 1, 2   # origin of a member: MOVER = arrived from another team
STAFF, MANAGER = "staff", "manager"
ENDS = ("left", "moved", "disbanded", "merged", "followup")   # why a spell ended


class Member:
    """One member of staff (mutable during a run)."""

    __slots__ = ("staff_id", "origin", "role", "start", "attended", "moved")

    def __init__(self, staff_id: str, origin: int, role: str, start: float, n_components: int):
        self.staff_id, self.origin, self.role, self.start = staff_id, origin, role, start
        self.attended = [0] * n_components
        self.moved = False   # arrived by a move or a merge: not a stayer of this team

    def key(self) -> tuple:
        return (self.origin, *self.attended)


class TeamState:
    """Mutable roster of one team: members in post, closed spells, counts of flow and fidelity.

    ``flow`` counts staff through the team: newcomers who ``joined``, staff who ``moved_out``
    to or ``moved_in`` from another team, staff pooled into another team by a merge
    (``merged_out``) or from one (``merged_in``), and staff ``removed`` from the service with the
    team (in post at a disbanding, or waiting to move into it); ``waiting`` holds the movers
    waiting for a post here (moves module).
    """

    def __init__(self, plan):
        self.team = plan.team
        self.components = plan.components
        self.k = tuple(c.to_complete for c in plan.components)
        self.weights = np.array([c.weight for c in plan.components])
        self.manager_only = tuple(c.audience == MANAGER for c in plan.components)
        self.members = [Member(f"{plan.team}-{i}", BASELINE, MANAGER if i == 0 else STAFF, 0.0,
                               len(self.k)) for i in range(plan.posts)]
        self.hired = plan.posts
        self.spells: list[tuple] = []
        self.posts = plan.posts
        self.times: list[float] = [0.0]
        self.fidelity: list[float] = [0.0]
        self.shares: list[tuple[float, ...]] = [(0.0,) * len(self.k)]
        self.in_post: list[int] = [plan.posts]
        self.departures = 0
        self.flow = {"joined": 0, "moved_out": 0, "moved_in": 0, "merged_out": 0, "merged_in": 0,
                     "removed": 0}
        self.waiting: list[Member] = []   # movers waiting for a post here
        self.disbanded_at = math.nan
        self.merged_at, self.merged_into = math.nan, -1
        self.ended = False

    @property
    def n(self) -> int:
        return len(self.members)

    def trained(self) -> int:
        """Members in post who have completed the first component."""
        k = self.k[0]
        return sum(m.attended[0] >= k for m in self.members)

    def baseline_in_post(self) -> int:
        return sum(m.origin == BASELINE for m in self.members)

    def close(self, member: Member, now: float, why: str) -> None:
        self.spells.append((member.staff_id, self.team, member.role, member.origin, member.start,
                            now, why, tuple(member.attended), member.moved))

    def empty(self, now: float, why: str) -> None:
        for m in self.members:
            self.close(m, now, why)
        self.members = []
        self.ended = True

    def current_shares(self) -> tuple[float, ...]:
        completed, audience = [], []
        for c, (k, manager) in enumerate(zip(self.k, self.manager_only)):
            held = [m for m in self.members if m.role == MANAGER] if manager else self.members
            completed.append(sum(m.attended[c] >= k for m in held))
            audience.append(len(held))
        return tuple(component_shares(completed, audience).tolist())

    def record(self, now: float) -> None:
        if len(self.k) == 1 and not self.manager_only[0]:   # today's arithmetic, bit for bit
            shares = (self.trained() / self.n if self.n else 0.0,)
            f = shares[0]
        else:
            shares = self.current_shares()
            f = float(weighted_fidelity(np.array(shares), self.weights))
        if self.times[-1] == now:
            self.fidelity[-1], self.in_post[-1], self.shares[-1] = f, self.n, shares
        else:
            self.times.append(now)
            self.fidelity.append(f)
            self.shares.append(shares)
            self.in_post.append(self.n)


def leave(state: TeamState, draws) -> Member:
    """One member of staff, chosen uniformly from those in post, leaves (out of the roster;
    the caller closes the spell): the ``int(u·n)``-th in (origin, attended) order."""
    target = int(draws.uniform() * state.n)
    if not 0 <= target < state.n:
        raise ValueError("nobody in post to leave")
    order = sorted(range(state.n), key=lambda i: state.members[i].key())
    member = state.members.pop(order[target])
    state.departures += 1
    return member


def session(state: TeamState, p: float, draws, component: int = 0,
            newcomers_after: float | None = None) -> int:
    """Each member of the component's audience in post who has not completed it attends with
    probability p; with ``newcomers_after`` (a refresher for newcomers) only those whose spell
    began after that month. Returns how many attended."""
    k = state.k[component]
    eligible = [m for m in state.members if m.attended[component] < k
                and (not state.manager_only[component] or m.role == MANAGER)
                and (newcomers_after is None or m.start > newcomers_after)]
    attended = 0
    binomial = draws.rng.binomial
    for origin in (BASELINE, NEWCOMER, MOVER):
        cells = [[m for m in eligible if m.origin == origin and m.attended[component] == c]
                 for c in range(k)]
        moved = [binomial(len(cell), p) if cell else 0 for cell in cells]
        for cell, count in zip(cells, moved):
            for m in draws.pick(cell, count):
                m.attended[component] += 1
        attended += sum(moved)
    return attended


def hire(state: TeamState, role: str, now: float) -> Member:
    """A new member of staff (a newcomer), not yet in post."""
    member = Member(f"{state.team}-{state.hired}", NEWCOMER, role, now, len(state.k))
    state.hired += 1
    return member
