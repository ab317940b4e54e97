"""The trial timeline: one SimPy run over the trial months for one replicate.

``run_timeline`` returns an immutable ``TimelineHistory``: the event log, each team's fidelity
and staffing path, each patient's moves and exposure E_ij (time-averaged fidelity of the
team(s) they were with, DESIGN.md "Exposure").
"""
from __future__ import annotations

import numpy as np
import simpy

from ..scenario import Scenario
from ..world import World
from .events import EVENT_KINDS, Event
from .history import TimelineHistory, build_history
from .reconfiguration import Membership, disband_plan, reconfiguration
from .staffing import Draws, TeamState, Turnover, team_plans, team_staffing

__all__ = ["Event", "EVENT_KINDS", "TimelineHistory", "run_timeline"]


def run_timeline(world: World, arm: np.ndarray, scenario: Scenario, *,
                 rng: np.random.Generator) -> TimelineHistory:
    """Simulate staff, training and reconfiguration from randomisation (month 0) to follow-up."""
    months = scenario.trial.months
    env = simpy.Environment()
    log: list[Event] = []
    plans = team_plans(world, arm, scenario)
    states = [TeamState(p) for p in plans]
    draws = Draws(rng)
    clocks = [Turnover(p, s, draws, log) for p, s in zip(plans, states)]
    processes = [env.process(team_staffing(env, p, s, c, draws=draws, log=log))
                 for p, s, c in zip(plans, states, clocks)]
    membership = Membership(world.patient_team, world.n_teams)
    plan = disband_plan(scenario.reconfiguration, world.n_teams, months, rng)
    if plan:
        env.process(reconfiguration(
            env, plan, world.site, arm, processes, membership,
            scenario.reconfiguration.patient_transfer_probability, rng=rng, log=log))
    env.run(until=months)
    for clock, state in zip(clocks, states):
        if state.disbanded_at != state.disbanded_at:   # nan: still running at follow-up
            clock.advance(months)
    log.sort(key=lambda e: e.month)   # teams log their turnover lazily; order by time
    return build_history(months, log, states, membership, world, arm)
