"""Disbanding and patient transfers for one replicate, before the staffing is simulated.

Which teams disband, when, and where their patients go depends only on the plan, the sites and
arms, never on the rosters, so the fast engine settles it first, with the SimPy engine's own
rules (``timeline.reconfiguration``: the plan, the choice of a scheduled team, the transfers),
and then simulates each team's staff up to its disbanding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.timeline.events import Event
from simulator.model.timeline.reconfiguration import (Membership, choose_scheduled,
                                                      disband_plan, move_patients)
from simulator.scenario.schema import Scenario


@dataclass(frozen=True)
class Reconfigured:
    disband_month: np.ndarray   # (K,) nan if the team ran to follow-up
    membership: Membership      # final team, lost month and every move of each patient
    events: list                # disband, transfer and lost events, in time order


def reconfigure(site: np.ndarray, arm: np.ndarray, patient_team: np.ndarray,
                scenario: Scenario, rng: np.random.Generator) -> Reconfigured:
    """Disband teams as planned (at random, or on schedule), moving their current patients."""
    spec, months, k = scenario.reconfiguration, scenario.trial.months, site.size
    membership = Membership(patient_team, k)
    disbanded = np.full(k, np.nan)
    log: list[Event] = []
    for month, team, where in disband_plan(spec, k, months, rng):
        if month >= months:   # not before follow-up: the SimPy run stops at follow-up
            continue
        j = team if team >= 0 else choose_scheduled(site, arm, membership.active, rng, where)
        if j < 0 or not membership.active[j]:
            continue
        membership.active[j] = False
        disbanded[j] = month
        log.append(Event(month, "disband", j, -1, -1))
        move_patients(j, month, site, membership, spec.patient_transfer_probability,
                      rng=rng, log=log)
    return Reconfigured(disbanded, membership, log)
