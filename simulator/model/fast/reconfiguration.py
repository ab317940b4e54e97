"""Disbanding and patient transfers for one replicate, before the staffing is simulated.

Which teams disband, when, and where their patients go depends only on the plan, the sites and
arms, never on the rosters, so the fast engine settles it first and then simulates each team's
staff up to its disbanding. The rules and the draws are the SimPy engine's
(``timeline.reconfiguration``: ``disband_plan``; ``choose_scheduled`` and ``move_patients``,
here on integer site codes and without a loop over patients; tests/test_fast_engine.py checks
that both give the same teams and moves from the same generator).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.timeline.events import Event
from simulator.model.timeline.reconfiguration import Membership, disband_plan
from simulator.scenario.schema import Scenario


@dataclass(frozen=True)
class Reconfigured:
    disband_month: np.ndarray   # (K,) nan if the team ran to follow-up
    membership: Membership      # final team, lost month and every move of each patient
    order: tuple = ()           # (month, team) of each disbanding, in time order

    @property
    def events(self) -> list[Event]:
        """Disband, transfer and lost events in time order (built only when asked for)."""
        log, moves = [], self.membership.moves
        for month, team in self.order:
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


def reconfigure(site: np.ndarray, arm: np.ndarray, patient_team: np.ndarray,
                scenario: Scenario, rng: np.random.Generator) -> Reconfigured:
    """Disband teams as planned (at random, or on schedule), moving their current patients."""
    spec, months, k = scenario.reconfiguration, scenario.trial.months, site.size
    membership = Membership(patient_team, k)
    disbanded = np.full(k, np.nan)
    order = []
    plan = disband_plan(spec, k, months, rng)
    codes = {name: c for c, name in enumerate(dict.fromkeys(site.tolist()))}
    code = np.array([codes[name] for name in site.tolist()]) if plan else None
    for month, team, where in plan:
        if month >= months:   # not before follow-up: the SimPy run stops at follow-up
            continue
        if team < 0:
            wanted = -1 if where is None else codes.get(where, k + 1)
            team = choose_team(code, arm, membership.active, rng, wanted)
        if team < 0 or not membership.active[team]:
            continue
        membership.active[team] = False
        disbanded[team] = month
        order.append((month, team))
        transfer_patients(team, month, code, membership, spec.patient_transfer_probability,
                          rng=rng)
    return Reconfigured(disbanded, membership, tuple(order))
