"""The trial timeline: one SimPy run over the trial months for one replicate.

``run_timeline`` returns an immutable ``TimelineHistory``: the event log, each team's fidelity
and staffing path, each patient's moves and exposure E_ij (time-averaged fidelity of the
team(s) they were with, DESIGN.md "Exposure").
"""
from __future__ import annotations

import numpy as np
import simpy

from simulator.scenario.schema import Scenario
from simulator.model.world import World
from simulator.model.timeline.events import EVENT_KINDS, Event
from simulator.model.timeline.history import TimelineHistory, build_history
from simulator.model.timeline.merges import Services, merge_plan, merging
from simulator.model.timeline.moves import SharedTurnover
from simulator.model.timeline.reconfiguration import Membership, disband_plan, reconfiguration
from simulator.model.timeline.staffing import (Draws, TeamState, Turnover, run_session, team_plans,
                                               team_staffing)

__all__ = ["Event", "EVENT_KINDS", "TimelineHistory", "run_timeline"]


def run_timeline(world: World, arm: np.ndarray, scenario: Scenario, *,
                 rng: np.random.Generator, engine: str = "auto",
                 who: np.random.Generator | None = None) -> TimelineHistory:
    """Simulate staff, training and reconfiguration from randomisation (month 0) to follow-up.

    With no turnover, disbanding or merges nothing happens between sessions, so ``engine="auto"``
    runs the sessions directly, in the order SimPy would and with the same draws (identical
    results; tested); ``engine="simpy"`` always runs the event simulation. ``who`` (its own
    stream) picks which members of staff attend (roster module); by default spawned from ``rng``
    without drawing from it.
    """
    months = scenario.trial.months
    log: list[Event] = []
    plans = team_plans(world, arm, scenario)
    cache: dict = {}   # the teams share their components: (completed, audience) -> shares
    states = [TeamState(p, cache) for p in plans]
    draws = Draws(rng, who=who)
    membership = Membership(world.patient_team, world.n_teams)
    plan = disband_plan(scenario.reconfiguration, world.n_teams, months, rng)
    merges = merge_plan(scenario.reconfiguration.merges, world.n_teams, months, rng)
    static = not plan and not merges and all(p.leave_rate_per_month == 0 for p in plans)
    if static and engine == "auto":
        _sessions_only(plans, states, draws, log)
    else:
        _simulate(plans, states, draws, log, (plan, merges), membership, world, arm, scenario)
    log.sort(key=lambda e: e.month)   # teams log their turnover lazily; order by time
    return build_history(months, log, states, membership, world, arm,
                         scenario.intervention.effect_lag_months)


def _sessions_only(plans, states, draws, log) -> None:
    """Training sessions in time order, teams in index order (SimPy's FIFO order at equal times)."""
    schedule = max((p.schedule for p in plans), key=len)   # shared by intervention teams
    for item in schedule:
        for plan, state in zip(plans, states):
            if plan.schedule:
                attended = run_session(state, plan, item, draws)
                log.append(Event(item[0], "session", plan.team, item[1], attended))
                state.record(item[0])


def _simulate(plans, states, draws, log, plans_of, membership, world, arm, scenario) -> None:
    """The event simulation; ``plans_of`` = (disbanding plan, merge plan)."""
    months, (plan, merges) = scenario.trial.months, plans_of
    env = simpy.Environment()
    turnovers = [Turnover(p, s, draws, log) for p, s in zip(plans, states)]
    clocks = turnovers
    share = scenario.staff_turnover.move_share
    if share > 0:   # teams exchange staff: one clock for all (moves module)
        clocks = [SharedTurnover(turnovers, world.site, share, draws, log)] * len(turnovers)
    processes = [env.process(team_staffing(env, p, s, c, draws=draws, log=log))
                 for p, s, c in zip(plans, states, clocks)]
    if plan:
        env.process(reconfiguration(
            env, plan, world.site, arm, processes, membership,
            scenario.reconfiguration.patient_transfer_probability, rng=draws.rng, log=log))
    if merges:
        services = Services(states, turnovers, clocks, processes, membership, world.site,
                            np.asarray(arm), scenario.reconfiguration.merges.within)
        env.process(merging(env, merges, services, rng=draws.rng, log=log))
    env.run(until=months)
    for clock, state in zip(clocks, states):
        if not state.ended:   # still running at follow-up
            clock.advance(months)
