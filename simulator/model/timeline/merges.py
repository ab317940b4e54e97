"""Team merges (``reconfiguration.merges``; Corrigan et al. 2014, Trials 15:184).

Two teams of the same site merge into one: the absorbed team's posts, staff (with the sessions
each attended: trained staff stay trained), vacancies and waiting movers pool into the team it
merges into, and its current patients continue there (a move in the membership, so each
patient's exposure follows their team over time). The merged team keeps the receiving team's
arm, session schedule, attendance and turnover hazard, and its fidelity is that of the pooled
roster. ``within: arm`` takes partners of the same site and arm; ``within: site`` any two teams of
a site (a merge across arms is contamination). Merges come at random (each team at
``rate_per_team_year``, with a partner drawn when the month comes) or on schedule (``pairs`` at
``month``, disjoint: a team merges at most once per scheduled event; within arm the pairs
alternate between the arms, the first arm drawn, so 2 pairs give one merge per arm). A merge
with no eligible pair when its month comes does not happen.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from simulator.scenario.schema import Merges
from simulator.model.timeline.events import Event
from simulator.model.timeline.moves import arrive
from simulator.model.timeline.roster import STAFF


@dataclass
class Services:
    """What a merge changes, shared with the run (mutable during it)."""

    states: list          # TeamState per team
    turnovers: list       # Turnover per team (its vacancies: ``refills``)
    clocks: list          # the clock each team process advances (its Turnover, or the shared one)
    processes: list       # SimPy process per team
    membership: object    # reconfiguration.Membership
    site: np.ndarray
    arm: np.ndarray
    within: str


def merge_plan(spec: Merges, n_teams: int, months: float,
               rng: np.random.Generator) -> list[tuple[float, int, str | None, int, int]]:
    """(month, team or -1, site or None, arm or -1, scheduled event or -1) in time order: a
    random merge names the team that merges into a partner; a scheduled one is chosen when its
    month comes (of ``site``, of ``arm`` when within arm). Draws nothing without merges."""
    plan: list[tuple[float, int, str | None, int, int]] = []
    if spec.rate_per_team_year > 0:
        when = rng.exponential(12.0 / spec.rate_per_team_year, size=n_teams)
        plan += [(float(t), j, None, -1, -1) for j, t in enumerate(when) if t < months]
    for e, ev in enumerate(spec.scheduled):
        first = int(rng.integers(2)) if spec.within == "arm" else -1
        arms = [(first + i) % 2 if first >= 0 else -1 for i in range(ev.pairs)]
        plan += [(float(ev.month), -1, ev.site, a, e) for a in arms]
    return sorted(plan, key=lambda item: item[0])


def partners(svc: Services, where: str | None, arm_pick: int, busy=()) -> np.ndarray:
    """(K, K) bool: teams i, j may merge (both running, same site, and same arm within arm,
    neither in ``busy``)."""
    ok = svc.membership.active.copy()
    ok[list(busy)] = False
    if where is not None:
        ok &= svc.site == where
    if arm_pick >= 0:
        ok &= svc.arm == arm_pick
    pair = (svc.site[:, None] == svc.site[None, :]) & ok[:, None] & ok[None, :]
    if svc.within == "arm":
        pair &= svc.arm[:, None] == svc.arm[None, :]
    np.fill_diagonal(pair, False)
    return pair


def choose_pair(team: int, where, arm_pick: int, svc: Services, rng: np.random.Generator,
                busy=()) -> tuple[int, int] | None:
    """(absorbed, receiving) team, or None when no pair is eligible."""
    pair = partners(svc, where, arm_pick, busy)
    if team >= 0:
        if not pair[team].any():
            return None
        first = team
    else:
        firsts = np.flatnonzero(pair.any(axis=1))
        if not firsts.size:
            return None
        first = int(rng.choice(firsts))
    return first, int(rng.choice(np.flatnonzero(pair[first])))


def pool_staff(b: int, a: int, now: float, svc: Services, log: list) -> None:
    """Team b's posts, roster, vacancies and waiting movers join team a's."""
    sa, sb = svc.states[a], svc.states[b]
    sb.flow["merged_out"] += sb.n
    sa.flow["merged_in"] += sb.n
    for m in sb.take_all():   # a new spell in team a; a's manager stays its manager
        sb.close(m, now, "merged")
        m.start, m.moved, m.role = now, True, STAFF
        sa.add(m)
    sa.posts += sb.posts
    sa.waiting += sb.waiting
    sb.waiting = []
    ta, tb = svc.turnovers[a], svc.turnovers[b]
    brought = [(month, STAFF) for month, _ in tb.refills]   # b's manager post is a staff post in a
    ta.refills = list(heapq.merge(ta.refills, brought))   # a sorted list is a heap
    tb.refills = []
    while sa.waiting and ta.refills:   # movers waiting for a post take the vacancies b brought
        _, role = heapq.heappop(ta.refills)
        arrive(sa, sa.waiting.pop(0), now, log, role)


def merge_teams(b: int, a: int, now: float, svc: Services, log: list) -> None:
    """Team b merges into team a at ``now``: staff pool, patients continue in a."""
    svc.clocks[b].advance(now)
    svc.clocks[a].advance(now)
    pool_staff(b, a, now, svc, log)
    sb = svc.states[b]
    sb.empty(now, "merged")
    sb.merged_at, sb.merged_into = now, a
    svc.states[a].record(now)
    sb.record(now)
    svc.membership.merge(b, a, now)
    log.append(Event(now, "merge", b, -1, a))
    svc.processes[b].interrupt("merge")


def merging(env, plan, svc: Services, *, rng: np.random.Generator, log: list):
    """Merge teams as planned (a SimPy process)."""
    busy: dict[int, set] = {}   # scheduled event -> teams merged in it so far
    for month, team, where, arm_pick, event in plan:
        yield env.timeout(month - env.now)
        taken = busy.setdefault(event, set()) if event >= 0 else set()
        pair = choose_pair(team, where, arm_pick, svc, rng, taken)
        if pair is not None:
            merge_teams(*pair, env.now, svc, log)
            taken.update(pair)
