"""Team staffing as SimPy processes: turnover, vacancies, untrained newcomers, training sessions.

One process per team (competing risks: the next departure among n staff in post is Exp(n·h);
because the exponential is memoryless the draw is renewed whenever a scheduled event — a
refill or a session — comes first). A disbanding interrupts the process (SimPy's machine-shop
breakdown pattern). Processes append immutable ``Event`` records to a log.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import simpy
from scipy.special import expit, logit

from simulator.scenario.schema import Scenario
from simulator.model.world import World
from simulator.model.timeline.events import Event
from simulator.model.timeline.picks import Picks
from simulator.model.timeline.roster import (BASELINE, MANAGER, MOVER, NEWCOMER, STAFF, Member,
                                             TeamState, hire, leave, session)

__all__ = ["BASELINE", "NEWCOMER", "MOVER", "MANAGER", "STAFF", "Member", "TeamState", "leave",
           "session", "Draws", "TeamPlan", "ComponentPlan", "Turnover", "join", "team_staffing"]

@dataclass(frozen=True)
class ComponentPlan:
    """One intervention component as one team meets it."""

    name: str
    attendance: float        # p_jc = logistic(logit(attendance_c) + λ L_j)
    to_complete: int         # sessions_to_complete
    audience: str            # "team" | "manager"
    weight: float            # share of the true dose
    first_month: float       # its first core session (refreshers for newcomers: who joined after)


@dataclass(frozen=True)
class TeamPlan:
    """What drives one team's staffing process (rates per month). ``attendance``,
    ``sessions_to_train`` and ``session_months`` describe the first component (the only one
    without ``intervention.components``); ``schedule`` holds every session."""

    team: int
    posts: int
    leave_rate_per_month: float   # h·exp(β L_j) / 12 per staff member
    vacancy_months: float
    attendance: float             # p_j
    sessions_to_train: int
    session_months: tuple[float, ...]   # core + refresher sessions; empty in control teams
    components: tuple[ComponentPlan, ...] = ()
    schedule: tuple[tuple[float, int, bool], ...] = ()   # (month, component, newcomers only)


class Draws:
    """Standard exponentials and uniforms drawn from the timeline's Generator in blocks.

    One numpy call per block instead of per event; the order of use is fixed by SimPy's
    deterministic event order, so the run stays a function of the Generator's state. ``who``
    (its own stream, serving nothing else: the picks module reads its raw words) chooses which
    members of a roster cell attend a session.
    """

    def __init__(self, rng: np.random.Generator, block: int = 512,
                 who: np.random.Generator | None = None):
        self.rng, self.block = rng, block
        self.who = who if who is not None else rng.spawn(1)[0]   # spawning draws nothing
        if isinstance(self.who.bit_generator, np.random.PCG64):
            self._choice = Picks(self.who).choice   # numpy's choice, exactly (picks module)
        else:
            self._choice = lambda n, k: self.who.choice(n, k, replace=False).tolist()
        self._exp: list[float] = []
        self._unif: list[float] = []

    def exponential(self) -> float:
        if not self._exp:
            self._exp = self.rng.standard_exponential(self.block).tolist()
        return self._exp.pop()

    def uniform(self) -> float:
        if not self._unif:
            self._unif = self.rng.random(self.block).tolist()
        return self._unif.pop()

    def pick(self, cell: list, count: int) -> list:
        """``count`` members of ``cell`` chosen uniformly without replacement."""
        if count == 0 or count == len(cell):
            return cell if count else []
        return [cell[i] for i in self._choice(len(cell), count)]


class Turnover:
    """The competing-risks clock of one team's roster, advanced between SimPy synchronisation
    points (sessions, disbanding, follow-up). Nothing outside the team observes its roster in
    between, so departures and refills need no SimPy events of their own; because the
    exponential is memoryless, the pending departure draw is discarded at each stop.
    ``refills`` is a heap of (month, role) of the vacant posts' refills."""

    def __init__(self, plan: TeamPlan, state: TeamState, draws: Draws, log: list):
        self.plan, self.state, self.draws, self.log = plan, state, draws, log
        self.now = 0.0
        self.refills: list[tuple[float, str]] = []

    def advance(self, until: float) -> None:
        plan, state, draws = self.plan, self.state, self.draws
        while True:
            hazard = state.n * plan.leave_rate_per_month
            leave_at = self.now + draws.exponential() / hazard if hazard > 0 else math.inf
            refill_at = self.refills[0][0] if self.refills else math.inf
            if min(leave_at, refill_at) >= until:
                self.now = until
                return
            if leave_at < refill_at:
                self.now = leave_at
                leaver = leave(state, draws)
                state.close(leaver, leave_at, "left")
                heapq.heappush(self.refills, (leave_at + draws.exponential() * plan.vacancy_months,
                                              leaver.role))
                self.log.append(Event(leave_at, "staff_leave", plan.team, -1, state.n))
            else:
                self.now, role = heapq.heappop(self.refills)
                join(state, self.now, self.log, role)
            state.record(self.now)

    def end(self, team: int) -> None:
        """The team has disbanded or merged: nothing of its own is pending elsewhere."""


def join(state: TeamState, now: float, log: list, role: str = STAFF) -> None:
    """An untrained newcomer fills a vacant post (the manager's, if that was the one vacant)."""
    state.add(hire(state, role, now))
    state.flow["joined"] += 1
    log.append(Event(now, "staff_join", state.team, -1, state.n))


def run_session(state: TeamState, plan: TeamPlan, item, draws) -> int:
    """One session of the schedule: ``item`` = (month, component, for newcomers only)."""
    _month, c, newcomers_only = item
    component = plan.components[c]
    return session(state, component.attendance, draws, c,
                   component.first_month if newcomers_only else None)


def team_staffing(env, plan: TeamPlan, state: TeamState, turnover: Turnover, *, draws, log):
    """Training sessions (intervention teams) with turnover in between; waits to be disbanded.
    A session's event has the component's index as its ``subject``."""
    try:
        for item in plan.schedule:
            yield env.timeout(item[0] - env.now)
            turnover.advance(env.now)
            attended = run_session(state, plan, item, draws)
            log.append(Event(env.now, "session", plan.team, item[1], attended))
            state.record(env.now)
        yield env.event()   # never triggered: only a disbanding interrupts the wait
    except simpy.Interrupt as stop:
        if stop.cause == "disband":
            turnover.advance(env.now)
            state.flow["removed"] += state.n   # its staff leave the service with the team
            state.empty(env.now, "disbanded")
            state.disbanded_at = env.now
            state.record(env.now)
        turnover.end(plan.team)   # a merge has pooled the roster already (merges module)


def _with_refreshers(core, every, months) -> tuple[tuple[float, ...], tuple[float, ...]]:
    core = tuple(sorted(core))
    if every is None or not core:
        return core, ()
    return core, tuple(float(m) for m in np.arange(core[-1] + every, months, every))


def session_schedule(scenario: Scenario) -> tuple[float, ...]:
    """Core sessions plus refreshers every R months after the last core session, before
    follow-up (the first component's, the only one without ``intervention.components``)."""
    core, extra = _with_refreshers(scenario.intervention.strategies[0].session_months,
                                   scenario.intervention.refresher_every_months, scenario.trial.months)
    return core + extra


def component_schedule(scenario: Scenario) -> tuple[tuple[float, int, bool], ...]:
    """Every session: (month, component, for newcomers only), by month then component order.
    Each component has refreshers every R months after its own last core session;
    ``refresher_for: newcomers`` opens them only to staff who joined after its first session."""
    iv = scenario.intervention
    newcomers = iv.refresher_for == "newcomers"
    items = []
    for c, comp in enumerate(iv.strategies):
        core, extra = _with_refreshers(comp.session_months, iv.refresher_every_months,
                                       scenario.trial.months)
        items += [(m, c, False) for m in core] + [(m, c, newcomers) for m in extra]
    return tuple(sorted(items, key=lambda item: (item[0], item[1])))


def component_plans(scenario: Scenario, leadership: np.ndarray) -> list[tuple[ComponentPlan, ...]]:
    """The components as each team meets them (``leadership``: (K,) L_j). Each team's
    attendance is element j of one array evaluation (elementwise, so the same as team j's alone)."""
    iv = scenario.intervention
    strategies = iv.strategies
    p = [attendance_probability(c.attendance, iv.leadership_on_attendance, leadership).tolist()
         for c in strategies]   # (components, K)
    first = [min(c.session_months, default=0.0) for c in strategies]
    return [tuple(ComponentPlan(c.name, p[i][j], c.sessions_to_complete, c.audience, c.weight,
                                first[i]) for i, c in enumerate(strategies))
            for j in range(len(leadership))]


def team_plans(world: World, arm: np.ndarray, scenario: Scenario) -> list[TeamPlan]:
    """Each team's plan; the first component's attendance is exactly ``TeamPlan.attendance``."""
    st = scenario.staff_turnover
    sessions, schedule = session_schedule(scenario), component_schedule(scenario)
    components = component_plans(scenario, np.asarray(world.leadership))
    p = [c[0].attendance for c in components]
    rate = st.annual_rate * np.exp(np.clip(st.leadership_on_turnover * world.leadership, -700, 700)) / 12
    return [TeamPlan(j, int(world.staff[j]), float(rate[j]), st.vacancy_months, p[j],
                     components[j][0].to_complete,
                     sessions if arm[j] == 1 else (), components[j],
                     schedule if arm[j] == 1 else ())
            for j in range(world.n_teams)]


def attendance_probability(level: float, log_odds_per_sd: float, leadership: np.ndarray) -> np.ndarray:
    """p_j = logistic(logit(level) + λ L_j); levels 0 and 1 stay 0 and 1."""
    if level in (0.0, 1.0):
        return np.full(np.shape(leadership), level)
    return expit(logit(level) + log_odds_per_sd * np.asarray(leadership))
