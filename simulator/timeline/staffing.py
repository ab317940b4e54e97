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

from ..scenario import Scenario
from ..world import World
from .events import Event

BASELINE, NEWCOMER = 0, 1


@dataclass(frozen=True)
class TeamPlan:
    """What drives one team's staffing process (rates per month)."""

    team: int
    posts: int
    leave_rate_per_month: float   # h·exp(β L_j) / 12 per staff member
    vacancy_months: float
    attendance: float             # p_j
    sessions_to_train: int
    session_months: tuple[float, ...]   # core + refresher sessions; empty in control teams


class TeamState:
    """Mutable roster of one team during a run: staff counts by origin × sessions attended."""

    def __init__(self, plan: TeamPlan):
        self.cells = np.zeros((2, plan.sessions_to_train + 1), dtype=np.int64)
        self.cells[BASELINE, 0] = plan.posts
        self.trained_col = plan.sessions_to_train
        self.times: list[float] = [0.0]
        self.fidelity: list[float] = [0.0]
        self.in_post: list[int] = [plan.posts]
        self.departures = 0
        self.disbanded_at = math.nan

    def n_in_post(self) -> int:
        return int(self.cells.sum())

    def record(self, now: float) -> None:
        n = self.n_in_post()
        f = float(self.cells[:, self.trained_col].sum()) / n if n else 0.0
        if self.times[-1] == now:
            self.fidelity[-1], self.in_post[-1] = f, n
        else:
            self.times.append(now)
            self.fidelity.append(f)
            self.in_post.append(n)


def _leave(state: TeamState, rng: np.random.Generator) -> None:
    flat = state.cells.ravel()
    pick = int(np.searchsorted(np.cumsum(flat), rng.integers(flat.sum()), side="right"))
    flat[pick] -= 1
    state.departures += 1


def _session(state: TeamState, p: float, rng: np.random.Generator) -> int:
    k = state.trained_col
    moved = rng.binomial(state.cells[:, :k], p)
    state.cells[:, :k] -= moved
    state.cells[:, 1:] += moved
    return int(moved.sum())


def team_staffing(env, plan: TeamPlan, state: TeamState, *, rng, log):
    """Turnover with vacancies and untrained newcomers; training sessions (intervention teams)."""
    refills: list[float] = []
    sessions = list(plan.session_months)
    try:
        while True:
            next_fixed = min(refills[0] if refills else math.inf, sessions[0] if sessions else math.inf)
            hazard = state.n_in_post() * plan.leave_rate_per_month
            wait = rng.exponential(1.0 / hazard) if hazard > 0 else math.inf
            if env.now + wait < next_fixed:
                yield env.timeout(wait)
                _leave(state, rng)
                heapq.heappush(refills, env.now + (rng.exponential(plan.vacancy_months)
                                                   if plan.vacancy_months > 0 else 0.0))
                log.append(Event(env.now, "staff_leave", plan.team, -1, state.n_in_post()))
            elif next_fixed == math.inf:
                return
            else:
                is_refill = bool(refills) and refills[0] == next_fixed
                yield env.timeout(next_fixed - env.now)
                if is_refill:
                    heapq.heappop(refills)
                    state.cells[NEWCOMER, 0] += 1
                    log.append(Event(env.now, "staff_join", plan.team, -1, state.n_in_post()))
                else:
                    sessions.pop(0)
                    attended = _session(state, plan.attendance, rng)
                    log.append(Event(env.now, "session", plan.team, -1, attended))
            state.record(env.now)
    except simpy.Interrupt:
        state.cells[:] = 0
        state.disbanded_at = env.now
        state.record(env.now)


def session_schedule(scenario: Scenario) -> tuple[float, ...]:
    """Core sessions plus refreshers every R months after the last core session, before follow-up."""
    core = sorted(scenario.intervention.session_months)
    every = scenario.intervention.refresher_every_months
    if every is None or not core:
        return tuple(core)
    extra = np.arange(core[-1] + every, scenario.trial.months, every)
    return tuple(core) + tuple(float(m) for m in extra)


def team_plans(world: World, arm: np.ndarray, scenario: Scenario) -> list[TeamPlan]:
    iv, st = scenario.intervention, scenario.staff_turnover
    logit = math.log(iv.attendance / (1 - iv.attendance)) if 0 < iv.attendance < 1 else None
    sessions = session_schedule(scenario)
    plans = []
    for j in range(world.n_teams):
        if logit is None:
            p = iv.attendance
        else:
            p = 1.0 / (1.0 + math.exp(-(logit + iv.leadership_on_attendance * world.leadership[j])))
        rate = st.annual_rate * math.exp(st.leadership_on_turnover * world.leadership[j]) / 12.0
        plans.append(TeamPlan(j, int(world.staff[j]), rate, st.vacancy_months, p,
                              iv.sessions_to_train, sessions if arm[j] == 1 else ()))
    return plans
