"""Staff who move to another team of their site, for one replicate of the fast engine.

``staff_turnover.move_share`` of leavers move (the SimPy engine's ``timeline.moves``, issue
14): a mover goes to another running team of their site, one with a vacant post if any has one
(uniformly among those), else any (uniformly), where they wait out of post for the next post to
fall vacant; a mover takes a vacant post at once, the soonest-refilled first, and its refill
is cancelled. Movers keep the sessions they attended (``training``: a spell's ``previous``
carries them) and are not baseline stayers; a team that disbands takes its waiting movers out
of the service. A team that merges hands its posts (their holders now leave at the receiving
team's rate, from what is left of their exponential: ``posts.after_hazard``), vacancies and
waiting movers to the team it joins (the SimPy engine's ``merges.pool_staff``), whose waiting
movers then take the vacancies it brought.

A move ties the posts of a site together in time order, so these replicates do not use the
arrays of ``posts.chunk_spells``: ``moving_spells`` runs one event loop over the replicate's
posts, on the same first block of standard exponentials (each post's k-th holder stays
tenure[k] / h, its k-th vacancy lasts vacancy[k] · V), with the move decisions and the
destinations drawn from the replicate's own stream after them (blocks of uniforms, and further
cycles, drawn as the loop needs them, in a fixed order), so its numbers do not depend on the
chunk. Disbandings and merges run in the SimPy event queue's order (``Reconfigured.order``).
A spell keeps the post's own team (``Spells.team``); ``merges.cut`` later cuts it at merges.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from simulator.model.fast.posts import Posts, Spells

SERVICE, LEAVE, REFILL = 0, 1, 2   # at equal months a disbanding or merge comes first
OPEN, LEFT, MOVED = 0, 1, 2        # how a spell ended: still in post at the team's end, ...


@dataclass(frozen=True)
class MoveFlow:
    """Per team (K,): movers who were still waiting at follow-up, and those a disbanding took."""

    waiting: np.ndarray
    removed: np.ndarray


class _Uniforms:
    """The replicate's uniforms for moves, drawn in blocks as they are used."""

    def __init__(self, rng: np.random.Generator, block: int = 64):
        self.rng, self.block, self.left = rng, block, []

    def __call__(self) -> float:
        if not self.left:
            self.left = self.rng.random(self.block).tolist()[::-1]
        return self.left.pop()


class _Loop:
    """The event loop's state: posts, their holders' spells, each team's vacancies and movers."""

    def __init__(self, p: Posts, site: list, services: tuple, team_rate: list, share: float,
                 vacancy_months: float, rng: np.random.Generator):
        self.team, self.rate, self.until = p.team.tolist(), p.rate.tolist(), p.until.tolist()
        self.owner, self.team_rate = list(self.team), team_rate
        self.budget, self.since = [0.0] * len(self.team), [0.0] * len(self.team)   # hazard left
        self.tenure, self.vacancy = p.tenure.tolist(), p.vacancy.tolist()
        self.site, self.share, self.v, self.rng = site, share, vacancy_months, rng
        self.uniform = _Uniforms(rng)
        k = len(site)
        self.ended = [False] * k
        self.vacant: list[dict[int, float]] = [{} for _ in range(k)]   # post -> refill month
        self.waiting: list[list[int]] = [[] for _ in range(k)]          # spells of movers
        self.removed = [0] * k
        self.cycle = [0] * len(self.team)
        self.version = [0] * len(self.team)
        self.holder = [-1] * len(self.team)
        self.posts_of: list[list[int]] = [[] for _ in range(k)]
        for q, j in enumerate(self.team):
            self.posts_of[j].append(q)
        self.services = services   # (month, team, into or −1) of each disbanding or merge
        self.heap: list = [(float(m), SERVICE, n, 0) for n, (m, _, _) in enumerate(services)]
        heapq.heapify(self.heap)
        # spells: post, start, end, how it ended, baseline, arrived by a move, previous spell
        self.spells: list[list] = []

    def start(self, post: int, now: float, baseline: bool, previous: int) -> None:
        self.holder[post] = len(self.spells)
        self.spells.append([post, now, self.until[post], OPEN, baseline, previous >= 0, previous])
        if self.rate[post] <= 0:
            return
        if self.cycle[post] >= len(self.tenure[post]):
            self._more_cycles()
        self.budget[post], self.since[post] = self.tenure[post][self.cycle[post]], now
        self._time_leave(post)

    def _time_leave(self, post: int) -> None:
        """The holder leaves when the hazard left runs out at the post's current rate."""
        rate = self.rate[post]
        leave = self.since[post] + self.budget[post] / rate if rate > 0 else math.inf
        if leave < self.until[post]:
            heapq.heappush(self.heap, (leave, LEAVE, post, self.version[post]))

    def _more_cycles(self) -> None:
        """A further block of tenures then vacancies for every post (rarely needed)."""
        width = max(len(self.tenure[0]), 1)
        tenure = self.rng.standard_exponential((len(self.team), width)).tolist()
        vacancy = self.rng.standard_exponential((len(self.team), width)).tolist()
        for q in range(len(self.team)):
            self.tenure[q] += tenure[q]
            self.vacancy[q] += vacancy[q]

    def leave(self, post: int, now: float) -> None:
        """The holder of ``post`` leaves the service or moves; the post falls vacant."""
        j, spell = self.owner[post], self.holder[post]
        moving = self.share > 0 and self.uniform() < self.share
        to = self._destination(j) if moving else -1
        self.spells[spell][2:4] = [now, MOVED if to >= 0 else LEFT]
        refill = now + self.vacancy[post][self.cycle[post]] * self.v
        self.cycle[post] += 1
        self.holder[post] = -1
        self.version[post] += 1
        self.vacant[j][post] = refill
        if refill < self.until[post]:
            heapq.heappush(self.heap, (refill, REFILL, post, self.version[post]))
        self._fill_from_waiting(j, now)
        if to >= 0:
            self.waiting[to].append(spell)
            self._fill_from_waiting(to, now)

    def _fill_from_waiting(self, j: int, now: float) -> None:
        vacant = self.vacant[j]
        while self.waiting[j] and vacant:
            post = min(vacant, key=vacant.get)
            del vacant[post]
            self.version[post] += 1
            self.start(post, now, False, self.waiting[j].pop(0))

    def _destination(self, j: int) -> int:
        site = self.site[j]
        others = [m for m in range(len(self.site))
                  if m != j and not self.ended[m] and self.site[m] == site]
        pool = [m for m in others if self.vacant[m]] or others
        return pool[int(self.uniform() * len(pool))] if pool else -1

    def disband(self, j: int) -> None:
        self.ended[j] = True
        self.removed[j] += len(self.waiting[j])
        self.waiting[j], self.vacant[j] = [], {}

    def merge(self, b: int, a: int, now: float) -> None:
        """Team b's posts, vacancies and waiting movers join team a's."""
        for post in self.posts_of[b]:
            self.owner[post], old, self.rate[post] = a, self.rate[post], self.team_rate[a]
            if self.holder[post] >= 0 and old > 0:   # the hazard left, now at a's rate
                self.budget[post] -= old * (now - self.since[post])
                self.since[post] = now
                self.version[post] += 1
                self._time_leave(post)
        self.posts_of[a] += self.posts_of[b]
        self.vacant[a].update(self.vacant[b])
        self.waiting[a] += self.waiting[b]
        self.posts_of[b], self.vacant[b], self.waiting[b] = [], {}, []
        self.ended[b] = True
        self._fill_from_waiting(a, now)

    def run(self) -> None:
        for post in range(len(self.team)):
            self.start(post, 0.0, True, -1)
        while self.heap:
            now, kind, what, version = heapq.heappop(self.heap)
            if kind == SERVICE:
                _, team, into = self.services[what]
                self.merge(team, into, now) if into >= 0 else self.disband(team)
            elif version == self.version[what] and not self.ended[self.owner[what]]:
                if kind == LEAVE:
                    self.leave(what, now)
                else:
                    del self.vacant[self.owner[what]][what]
                    self.version[what] += 1
                    self.start(what, now, False, -1)


def moving_spells(p: Posts, site: np.ndarray, services: tuple, team_rate: np.ndarray,
                  disbanded: np.ndarray, share: float, vacancy_months: float,
                  rng: np.random.Generator) -> tuple[Spells, MoveFlow]:
    """One replicate's spells (posts and teams within the replicate, by post then start;
    ``previous`` the same person's spell before their move, −1 for none) and its movers'
    flow. ``services``: (month, team, into or −1) of each disbanding or merge in the SimPy
    queue's order; ``team_rate`` (K,) leave rate per month; ``disbanded`` (K,) bool."""
    loop = _Loop(p, np.asarray(site).tolist(), services, team_rate.tolist(), share,
                 vacancy_months, rng)
    loop.run()
    rows = loop.spells
    post = np.array([s[0] for s in rows], dtype=np.int64)
    start = np.array([s[1] for s in rows], dtype=float)
    order = np.lexsort((start, post))
    position = np.empty(order.size, dtype=np.int64)
    position[order] = np.arange(order.size)
    ended = np.array([s[3] for s in rows], dtype=np.int64)[order]
    previous = np.array([s[6] for s in rows], dtype=np.int64)[order]
    spells = Spells(team=p.team[post[order]], start=start[order],
                    end=np.array([s[2] for s in rows], dtype=float)[order],
                    left=ended != OPEN, baseline=np.array([s[4] for s in rows], bool)[order],
                    post=post[order], arrived=np.array([s[5] for s in rows], bool)[order],
                    moved_on=ended == MOVED,
                    previous=np.where(previous >= 0, position[np.maximum(previous, 0)], -1))
    waiting = np.array([0 if disbanded[j] else len(w) for j, w in enumerate(loop.waiting)],
                       dtype=np.int64)
    return spells, MoveFlow(waiting, np.array(loop.removed, dtype=np.int64))
