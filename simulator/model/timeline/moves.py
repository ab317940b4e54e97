"""Staff who move to another team of the same site instead of leaving the service.

``staff_turnover.move_share`` of leavers move (DESIGN.md "Contract additions"; issue 14). A mover
goes to another team of their site still running, one with a vacant post if any has one (chosen
uniformly among those), else any (chosen uniformly), where they wait, out of post, for the next
post to fall vacant, which they take at once in place of a newcomer. They keep the sessions
they attended (so trained staff stay trained, and trained movers into control teams give control
patients exposure) and join the roster's MOVER row: they are not baseline stayers. The post they
left is refilled as any vacancy (by a newcomer, or by a mover waiting for it). A team that
disbands takes its waiting movers out of the service with it.

Moves couple the teams' rosters at random times, so the per-team lazy clocks of ``staffing``
(each advanced alone between synchronisation points) cannot be used: ``SharedTurnover`` runs every
team's competing risks on one clock in time order. It is used only when ``move_share`` > 0, so a
scenario without moves draws exactly the numbers it drew before.
"""
from __future__ import annotations

import heapq
import math

import numpy as np

from simulator.model.timeline.events import Event
from simulator.model.timeline.staffing import MOVER, STAFF, Turnover, join, leave


class SharedTurnover:
    """Every team's turnover on one clock. Each team's pending departure is drawn afresh at every
    stop and after each change of its roster (the exponential is memoryless)."""

    def __init__(self, clocks: list[Turnover], site: np.ndarray, move_share: float, draws, log):
        self.clocks, self.site, self.share = clocks, np.asarray(site).tolist(), move_share
        self.draws, self.log = draws, log
        self.now = 0.0

    def _leave_time(self, j: int) -> float:
        clock = self.clocks[j]
        hazard = 0.0 if clock.state.ended else clock.state.n * clock.plan.leave_rate_per_month
        return self.now + self.draws.exponential() / hazard if hazard > 0 else math.inf

    def _next(self, due: list[float]) -> tuple[int, float, bool]:
        """(team, month, is a departure) of the earliest pending event of any running team."""
        best, month, leaving = -1, math.inf, False
        for j, clock in enumerate(self.clocks):
            if clock.state.ended:
                continue
            if due[j] < month:
                best, month, leaving = j, due[j], True
            refills = clock.refills
            if refills and refills[0][0] < month:
                best, month, leaving = j, refills[0][0], False
        return best, month, leaving

    def advance(self, until: float) -> None:
        if until <= self.now:
            return
        due = [self._leave_time(j) for j in range(len(self.clocks))]
        while True:
            j, month, leaving = self._next(due)
            if month >= until:
                break
            self.now = month
            if leaving:
                touched = self._depart(j)
            else:
                _, role = heapq.heappop(self.clocks[j].refills)
                join(self.clocks[j].state, month, self.log, role)
                touched = (j,)
            for m in touched:
                self.clocks[m].state.record(month)
                due[m] = self._leave_time(m)
        self.now = until

    def _depart(self, j: int) -> tuple[int, ...]:
        """Team j loses a member, who leaves the service or moves; the post falls vacant."""
        state = self.clocks[j].state
        member = leave(state, self.draws)
        moving = self.share > 0 and self.draws.uniform() < self.share
        to = self._destination(j) if moving else -1
        kind = "staff_move_out" if to >= 0 else "staff_leave"
        state.flow["moved_out"] += to >= 0
        state.close(member, self.now, "moved" if to >= 0 else "left")
        self.log.append(Event(self.now, kind, j, -1, state.n))
        self.vacancy(j, member.role)
        if to < 0:
            return (j,)
        self.clocks[to].state.waiting.append(member)
        self._fill_from_waiting(to)
        return (j, to)

    def vacancy(self, j: int, role: str = STAFF) -> None:
        """A post of team j falls vacant: a mover waiting for it takes it, else it is refilled."""
        clock = self.clocks[j]
        heapq.heappush(clock.refills, (self.now + self.draws.exponential()
                                       * clock.plan.vacancy_months, role))
        self._fill_from_waiting(j)

    def _fill_from_waiting(self, j: int) -> None:
        """Waiting movers take team j's vacant posts (the soonest-refilled first), at once."""
        clock = self.clocks[j]
        while clock.state.waiting and clock.refills:
            _, role = heapq.heappop(clock.refills)
            arrive(clock.state, clock.state.waiting.pop(0), self.now, self.log, role)

    def _destination(self, j: int) -> int:
        """Another running team of j's site, one with a vacant post if any; -1 if none."""
        site = self.site[j]
        others = [m for m, c in enumerate(self.clocks)
                  if m != j and not c.state.ended and self.site[m] == site]
        vacant = [m for m in others if self.clocks[m].refills]
        pool = vacant or others
        return pool[int(self.draws.uniform() * len(pool))] if pool else -1

    def end(self, team: int) -> None:
        """Team ``team`` has ended: movers still waiting to join it leave the service (a merge
        has handed them to the merged team already)."""
        state = self.clocks[team].state
        state.flow["removed"] += len(state.waiting)
        state.waiting = []


def arrive(state, member, now: float, log: list, role: str = STAFF) -> None:
    """A mover takes a post (``role``: the manager's post or a staff post), keeping the
    sessions they attended; a new spell begins."""
    member.origin, member.role, member.start, member.moved = MOVER, role, now, True
    state.add(member)
    state.flow["moved_in"] += 1
    log.append(Event(now, "staff_move_in", state.team, -1, state.n))
