"""Service reconfiguration: teams disband (at random or on schedule) and their patients move.

A disbanded team's current patients transfer, each with probability p_transfer, to a surviving
team of the same site chosen uniformly (possibly in the other arm: contamination); the others
are lost to follow-up (DESIGN.md "Reconfiguration").
"""
from __future__ import annotations

import math

import numpy as np

from simulator.scenario.schema import Reconfiguration
from simulator.model.timeline.events import Event


class Membership:
    """Mutable during a run: which team each patient is in now, and every move."""

    def __init__(self, patient_team: np.ndarray, n_teams: int):
        self.current = patient_team.copy()
        self.lost_month = np.full(patient_team.shape[0], math.nan)
        self.moves: list[tuple[float, int, int, int]] = []   # (month, patient, from, to; -1 lost)
        self.active = np.ones(n_teams, dtype=bool)

    def merge(self, team: int, into: int, month: float) -> None:
        """Team ``team`` merges into ``into``: it stops, and its patients move there."""
        self.active[team] = False
        for i in np.flatnonzero(self.current == team).tolist():
            self.current[i] = into
            self.moves.append((month, i, team, into))


def disband_plan(spec: Reconfiguration, n_teams: int, months: float,
                 rng: np.random.Generator) -> list[tuple[float, int, str | None]]:
    """(month, team, site) in time order; team -1 means 'choose a team when the month comes'
    (of ``site`` if given)."""
    plan: list[tuple[float, int, str | None]] = []
    if spec.disband_rate_per_team_year > 0:
        when = rng.exponential(12.0 / spec.disband_rate_per_team_year, size=n_teams)
        plan += [(float(t), j, None) for j, t in enumerate(when) if t < months]
    for ev in spec.scheduled:
        plan += [(float(ev.month), -1, ev.site)] * ev.teams
    return sorted(plan, key=lambda item: item[0])


def choose_scheduled(site: np.ndarray, arm: np.ndarray, active: np.ndarray,
                     rng: np.random.Generator, where: str | None = None) -> int:
    """A surviving team (of site ``where`` if given) whose loss still leaves its site a team in
    its arm (any such survivor if none)."""
    if where is not None:
        active = active & (site == where)
    alive = np.flatnonzero(active)
    if alive.size == 0:
        return -1
    same = (site[alive, None] == site[None, alive]) & (arm[alive, None] == arm[None, alive])
    safe = alive[same.sum(axis=1) >= 2]
    pool = safe if safe.size else alive
    return int(rng.choice(pool))


def move_patients(team: int, now: float, site: np.ndarray, membership: Membership,
                  p_transfer: float, *, rng: np.random.Generator, log: list) -> None:
    """Transfer or lose the current patients of a team that has just disbanded."""
    patients = np.flatnonzero(membership.current == team)
    receivers = np.flatnonzero(membership.active & (site == site[team]))
    transfer = rng.random(patients.size) < p_transfer
    picks = rng.integers(receivers.size, size=patients.size) if receivers.size else None
    for k, i in enumerate(patients.tolist()):
        if transfer[k] and picks is not None:
            to = int(receivers[picks[k]])
            membership.current[i] = to
            log.append(Event(now, "transfer", team, i, to))
        else:
            to = -1
            membership.current[i] = -1
            membership.lost_month[i] = now
            log.append(Event(now, "lost", team, i, -1))
        membership.moves.append((now, i, team, to))


def reconfiguration(env, plan, site, arm, processes, membership, p_transfer, *, rng, log):
    """Disband teams as planned: interrupt their staffing process and move their patients."""
    for month, team, where in plan:
        yield env.timeout(month - env.now)
        j = team if team >= 0 else choose_scheduled(site, arm, membership.active, rng, where)
        if j < 0 or not membership.active[j]:
            continue
        membership.active[j] = False
        log.append(Event(env.now, "disband", j, -1, -1))
        processes[j].interrupt("disband")
        move_patients(j, env.now, site, membership, p_transfer, rng=rng, log=log)
