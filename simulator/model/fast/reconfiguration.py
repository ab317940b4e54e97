"""Disbanding, merges and patient transfers for one replicate, before the staffing is simulated.

Which teams disband or merge, when, and where their patients go depends only on the plans, the
sites and arms, never on the rosters, so the fast engine settles it first and then simulates
each team's staff up to its disbanding (a merged team's posts carry on in the team it merged
into: ``merges`` module). Merges are the SimPy engine's (``timeline.merges``: ``merge_plan``,
``choose_pair``; both plans in the SimPy event queue's order). The rules and the draws are the SimPy engine's
(``timeline.reconfiguration``: ``disband_plan``; ``choose_scheduled`` and ``move_patients``,
here on integer site codes and without a loop over patients; tests/test_fast_engine.py checks
that both give the same teams and moves from the same generator).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from simulator.model.timeline.events import Event
from simulator.model.timeline.merges import Services, choose_pair, merge_plan
from simulator.model.timeline.reconfiguration import Membership, disband_plan
from simulator.scenario.schema import Scenario


@dataclass(frozen=True)
class Reconfigured:
    disband_month: np.ndarray   # (K,) nan if the team ran to follow-up
    membership: Membership      # final team, lost month and every move of each patient
    order: tuple = ()           # (month, team, into or -1) of each disbanding or merge
    merge_month: np.ndarray | None = None   # (K,) nan if the team did not merge into another
    merged_into: np.ndarray | None = None   # (K,) the team it merged into, -1 if none
    # the SimPy event queue at a disbanding (``sessions_at_end``): how many earlier items of
    # the plan share its month, and the month the plan asked for that month's first (-1: at
    # the start)
    disband_rank: np.ndarray | None = None  # (K,)
    disband_asked: np.ndarray | None = None  # (K,)

    @property
    def events(self) -> list[Event]:
        """Disband, merge, transfer and lost events in time order (built only when asked for)."""
        log, moves = [], self.membership.moves
        for month, team, into in self.order:
            if into >= 0:
                log.append(Event(month, "merge", team, -1, into))
                continue
            log.append(Event(month, "disband", team, -1, -1))
            log += [Event(m, "transfer", t, i, j) if j >= 0 else Event(m, "lost", t, i, -1)
                    for m, i, t, j in moves if t == team and m == month]
        return log


def choose_team(site: np.ndarray, arm: np.ndarray, active: np.ndarray,
                rng: np.random.Generator, where: int = -1) -> int:
    """``choose_scheduled`` on site codes (K,) int: a running team (of site ``where`` if ≥ 0)
    whose loss still leaves its site a team in its arm, uniformly (any running team if none)."""
    alive = np.flatnonzero(active & (site == where)) if where >= 0 else np.flatnonzero(active)
    if alive.size == 0:
        return -1
    cell = site[alive] * 2 + arm[alive]
    safe = alive[np.bincount(cell)[cell] >= 2]
    pool = safe if safe.size else alive
    return int(pool[rng.integers(0, pool.size)])   # = rng.choice(pool): the same draw, faster


def transfer_patients(team: int, now: float, site: np.ndarray, membership: Membership,
                      p_transfer: float, *, rng: np.random.Generator) -> None:
    """``move_patients``: each current patient of a team that has just disbanded transfers with
    probability p_transfer to a running team of its site chosen uniformly, else is lost."""
    patients = np.flatnonzero(membership.current == team)
    receivers = np.flatnonzero(membership.active & (site == site[team]))
    transfer = rng.random(patients.size) < p_transfer
    if receivers.size:
        to = np.where(transfer, receivers[rng.integers(receivers.size, size=patients.size)], -1)
    else:
        to = np.full(patients.size, -1)
    membership.current[patients] = to
    membership.lost_month[patients[to < 0]] = now
    membership.moves += [(now, i, team, j) for i, j in zip(patients.tolist(), to.tolist())]


def _merge(item, svc: Services, busy: dict, rng: np.random.Generator) -> tuple[int, int] | None:
    """``timeline.merges.merging`` for one planned merge: (absorbed, receiving) or None; the
    absorbed team's current patients continue in the receiving team."""
    month, team, where, arm_pick, event = item
    taken = busy.setdefault(event, set()) if event >= 0 else set()
    pair = choose_pair(team, where, arm_pick, svc, rng, taken)
    if pair is None:
        return None
    b, a = pair
    taken.update(pair)
    svc.membership.merge(b, a, month)
    return pair


def _plans(spec, k: int, months: float, rng: np.random.Generator) -> list[tuple]:
    """(month, is a merge, item) of the disbanding and merge plans, drawn as the SimPy engine
    draws them (disbanding, then merges), in the order its event queue runs them: by month,
    then by when each process asked for its next item (the disbanding process first at month
    0), so at equal months the two processes take turns."""
    plans = (disband_plan(spec, k, months, rng), merge_plan(spec.merges, k, months, rng))
    queue, order, asked = [], [], 0
    for kind, plan in enumerate(plans):
        if plan:
            heapq.heappush(queue, (plan[0][0], asked, kind, 0))
            asked += 1
    while queue:
        month, _, kind, n = heapq.heappop(queue)
        plan = plans[kind]
        rank = sum(1 for item in plan[:n] if item[0] == month)
        before = plan[n - rank - 1][0] if n - rank else -1.0   # asked for the month's first
        order.append((month, kind, (*plan[n], rank, before) if kind == 0 else plan[n]))
        if n + 1 < len(plans[kind]):
            heapq.heappush(queue, (plans[kind][n + 1][0], asked, kind, n + 1))
            asked += 1
    return order


def sessions_at_end(gone: np.ndarray, merged: np.ndarray, disband_rank: np.ndarray,
                    disband_asked: np.ndarray, session_month: np.ndarray) -> np.ndarray:
    """(K, M) bool: the team holds session s (the schedule's months, (M,)). A team holds its
    sessions before its end; at its disbanding month, as many of that month's sessions as come
    before the disbanding in the SimPy engine's event queue (events at one month run in the
    order they were asked for, each process asking for its next when one runs): the r-th
    disbanding of a month (r earlier items of the plan at that month) follows the team's first
    r sessions of the month, or r + 1 when the team asked for its first one (at its previous
    session; team processes start first) before the plan asked for this disbanding's first
    item. At a merge month, none (a merged team's holders attend the receiving team's).
    Team by team (``Reconfigured``'s (K,) fields; a chunk's teams end to end give each team's
    own rows)."""
    end = np.where(np.isnan(gone), np.where(np.isnan(merged), np.inf, merged), gone)
    m = session_month[None, :]
    # the schedule is in month order (``staffing.component_schedule``): rank = earlier sessions
    # at the same month; previous = the last session month before the end (-1.5: none)
    rank = (np.arange(session_month.size)
            - np.searchsorted(session_month, session_month, side="left"))[None, :]
    previous = np.concatenate(([-1.5], session_month))[
        np.searchsorted(session_month, end, side="left")]
    held = disband_rank + (previous < disband_asked)
    return (m < end[:, None]) | ((m == end[:, None]) & ~np.isnan(gone)[:, None]
                                 & (rank < held[:, None]))


def reconfigure(site: np.ndarray, arm: np.ndarray, patient_team: np.ndarray,
                scenario: Scenario, rng: np.random.Generator) -> Reconfigured:
    """Disband and merge teams as planned (at random, or on schedule), moving their patients."""
    spec, months, k = scenario.reconfiguration, scenario.trial.months, site.size
    membership = Membership(patient_team, k)
    disbanded, merged_at, into = np.full(k, np.nan), np.full(k, np.nan), np.full(k, -1)
    rank, asked = np.zeros(k, dtype=np.int64), np.full(k, -1.0)
    order, busy = [], {}
    plans = _plans(spec, k, months, rng)
    if not plans:   # services that never change (nothing else to draw)
        return Reconfigured(disbanded, membership, (), merged_at, into, rank, asked)
    svc = Services(None, None, None, None, membership, site, np.asarray(arm), spec.merges.within)
    codes = {name: c for c, name in enumerate(dict.fromkeys(site.tolist()))}
    code = np.array([codes[name] for name in site.tolist()])
    for month, is_merge, item in plans:
        if month >= months:   # not before follow-up: the SimPy run stops at follow-up
            continue
        if is_merge:
            pair = _merge(item, svc, busy, rng)
            if pair is not None:
                merged_at[pair[0]], into[pair[0]] = month, pair[1]
                order.append((month, pair[0], pair[1]))
            continue
        team = item[1]
        if team < 0:
            wanted = -1 if item[2] is None else codes.get(item[2], k + 1)
            team = choose_team(code, arm, membership.active, rng, wanted)
        if team < 0 or not membership.active[team]:
            continue
        membership.active[team] = False
        disbanded[team], rank[team], asked[team] = month, item[3], item[4]
        order.append((month, team, -1))
        transfer_patients(team, month, code, membership, spec.patient_transfer_probability,
                          rng=rng)
    return Reconfigured(disbanded, membership, tuple(order), merged_at, into, rank, asked)
