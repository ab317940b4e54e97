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

Members join a roster only through ``TeamState.add`` and leave it through ``leave`` or
``TeamState.take_all``, which keep the counts the fidelity path needs (completed and audience
per component, baseline staff in post) and the members grouped by (origin, attended) in roster
order, so neither a departure nor a record looks at every member.
"""
from __future__ import annotations

import math

import numpy as np

from simulator.model.components import weighted_fidelity

BASELINE, NEWCOMER, MOVER = 0, 1, 2   # origin of a member: MOVER = arrived from another team
STAFF, MANAGER = "staff", "manager"
ENDS = ("left", "moved", "disbanded", "merged", "followup")   # why a spell ended


class Member:
    """One member of staff (mutable during a run; ``attended`` changes only in ``session``,
    origin and role only while out of post)."""

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
    waiting for a post here (moves module). ``completed[c]``: members of component c's audience
    in post who have completed it; ``shares_cache`` (shared by a run's teams, whose components
    are the same) maps (completed, audience) to (shares, fidelity).
    """

    def __init__(self, plan, shares_cache: dict | None = None):
        self.team = plan.team
        self.components = plan.components
        self.k = tuple(c.to_complete for c in plan.components)
        self.weights = np.array([c.weight for c in plan.components])
        self.manager_only = tuple(c.audience == MANAGER for c in plan.components)
        self.single = len(self.k) == 1 and not self.manager_only[0]   # today's arithmetic
        c, prefix = len(self.k), f"{plan.team}-"
        self.members = [Member(prefix + str(i), BASELINE, STAFF, 0.0, c) for i in range(plan.posts)]
        if self.members:
            self.members[0].role = MANAGER
        self.completed, self.managers, self.baseline = [0] * c, min(plan.posts, 1), plan.posts
        self._groups: dict[tuple, list[Member]] | None = None   # built at the first leaver
        self._cache = {} if shares_cache is None else shares_cache
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
        """Members in post who have completed the first component (of its audience)."""
        return self.completed[0]

    def baseline_in_post(self) -> int:
        return self.baseline

    def add(self, member: Member) -> None:
        """``member`` takes a post here (last in roster order)."""
        self.members.append(member)
        if self._groups is not None:
            self._groups.setdefault(member.key(), []).append(member)
        self._count(member, 1)

    def _count(self, member: Member, sign: int) -> None:
        manager = member.role == MANAGER
        if manager:
            self.managers += sign
        if member.origin == BASELINE:
            self.baseline += sign
        if any(member.attended):   # sessions_to_complete ≥ 1: no sessions, nothing completed
            for c, (k, only) in enumerate(zip(self.k, self.manager_only)):
                if member.attended[c] >= k and (manager or not only):
                    self.completed[c] += sign

    def groups(self) -> dict[tuple, list[Member]]:
        """Members by (origin, *attended), each group in roster order."""
        if self._groups is None:
            self._groups = {}
            for m in self.members:
                self._groups.setdefault(m.key(), []).append(m)
        return self._groups

    def take_all(self) -> list[Member]:
        """Every member out of post at once (roster order); the counts go to zero."""
        members, self.members, self._groups = self.members, [], {}
        self.completed, self.managers, self.baseline = [0] * len(self.k), 0, 0
        return members

    def close(self, member: Member, now: float, why: str) -> None:
        self.spells.append((member.staff_id, self.team, member.role, member.origin, member.start,
                            now, why, tuple(member.attended), member.moved))

    def empty(self, now: float, why: str) -> None:
        for m in self.take_all():
            self.close(m, now, why)
        self.ended = True

    def current_shares(self) -> tuple[tuple[float, ...], float]:
        """(completion share of each component, fidelity) of the roster now."""
        n = len(self.members)
        audience = tuple(self.managers if only else n for only in self.manager_only)
        key = (*self.completed, *audience)
        hit = self._cache.get(key)
        if hit is None:   # component_shares' quotients: Python's float division is the same
            shares = tuple(c / a if a else 0.0 for c, a in zip(self.completed, audience))
            hit = self._cache[key] = (shares, float(weighted_fidelity(np.array(shares),
                                                                      self.weights)))
        return hit

    def record(self, now: float) -> None:
        n = len(self.members)
        if self.single:   # today's arithmetic, bit for bit
            f = self.completed[0] / n if n else 0.0
            shares = (f,)
        else:
            shares, f = self.current_shares()
        if self.times[-1] == now:
            self.fidelity[-1], self.in_post[-1], self.shares[-1] = f, n, shares
        else:
            self.times.append(now)
            self.fidelity.append(f)
            self.shares.append(shares)
            self.in_post.append(n)


def leave(state: TeamState, draws) -> Member:
    """One member of staff, chosen uniformly from those in post, leaves (out of the roster;
    the caller closes the spell): the ``int(u·n)``-th in (origin, attended) order, members of
    the same (origin, attended) in roster order (a stable sort of the roster)."""
    target = int(draws.uniform() * state.n)
    if not 0 <= target < state.n:
        raise ValueError("nobody in post to leave")
    groups = state.groups()
    for key in sorted(groups):
        cell = groups[key]
        if target < len(cell):
            member = cell.pop(target)
            if not cell:
                del groups[key]
            break
        target -= len(cell)
    state.members.remove(member)
    state._count(member, -1)
    state.departures += 1
    return member


def _cells(state: TeamState, component: int, newcomers_after: float | None) -> dict:
    """(origin, sessions attended) -> the members in roster order who may attend a session."""
    k, only = state.k[component], state.manager_only[component]
    cells: dict[tuple[int, int], list[Member]] = {}
    for m in state.members:
        a = m.attended[component]
        if a < k and (not only or m.role == MANAGER) and \
                (newcomers_after is None or m.start > newcomers_after):
            cells.setdefault((m.origin, a), []).append(m)
    return cells


def session(state: TeamState, p: float, draws, component: int = 0,
            newcomers_after: float | None = None) -> int:
    """Each member of the component's audience in post who has not completed it attends with
    probability p; with ``newcomers_after`` (a refresher for newcomers) only those whose spell
    began after that month. Returns how many attended."""
    cells = _cells(state, component, newcomers_after)
    if not cells:
        return 0
    k, attended = state.k[component], 0
    binomial = draws.rng.binomial
    origins = {origin for origin, _ in cells}
    for origin in (BASELINE, NEWCOMER, MOVER):
        if origin not in origins:   # its cells are empty: nothing drawn
            continue
        row = [cells.get((origin, c)) for c in range(k)]
        moved = [binomial(len(cell), p) if cell else 0 for cell in row]
        for cell, count in zip(row, moved):
            if count:
                for m in draws.pick(cell, count):
                    m.attended[component] += 1
                    state.completed[component] += m.attended[component] == k
        attended += sum(moved)
    if attended:
        state._groups = None   # keys changed: regrouped when next needed
    return attended


def hire(state: TeamState, role: str, now: float) -> Member:
    """A new member of staff (a newcomer), not yet in post."""
    member = Member(f"{state.team}-{state.hired}", NEWCOMER, role, now, len(state.k))
    state.hired += 1
    return member
