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


class Draws:
    """Standard exponentials and uniforms drawn from the timeline's Generator in blocks.

    One numpy call per block instead of per event; the order of use is fixed by SimPy's
    deterministic event order, so the run stays a function of the Generator's state.
    """

    def __init__(self, rng: np.random.Generator, block: int = 512):
        self.rng, self.block = rng, block
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


class TeamState:
    """Mutable roster of one team during a run: staff counts by origin × sessions attended.

    ``counts[origin][c]`` is the number in post of that origin (baseline or newcomer) who have
    attended c sessions; c = sessions_to_train means trained.
    """

    def __init__(self, plan: TeamPlan):
        k = plan.sessions_to_train
        self.counts = [[plan.posts] + [0] * k, [0] * (k + 1)]
        self.k = k
        self.n = plan.posts
        self.times: list[float] = [0.0]
        self.fidelity: list[float] = [0.0]
        self.in_post: list[int] = [plan.posts]
        self.departures = 0
        self.disbanded_at = math.nan

    def n_in_post(self) -> int:
        return self.n

    def trained(self) -> int:
        return self.counts[BASELINE][self.k] + self.counts[NEWCOMER][self.k]

    def baseline_in_post(self) -> int:
        return sum(self.counts[BASELINE])

    def empty(self) -> None:
        self.counts = [[0] * (self.k + 1), [0] * (self.k + 1)]
        self.n = 0

    def record(self, now: float) -> None:
        f = self.trained() / self.n if self.n else 0.0
        if self.times[-1] == now:
            self.fidelity[-1], self.in_post[-1] = f, self.n
        else:
            self.times.append(now)
            self.fidelity.append(f)
            self.in_post.append(self.n)


def _leave(state: TeamState, draws: Draws) -> None:
    """One staff member, chosen uniformly from those in post, leaves."""
    target = int(draws.uniform() * state.n)
    for row in state.counts:
        for c, count in enumerate(row):
            if target < count:
                row[c] -= 1
                state.n -= 1
                state.departures += 1
                return
            target -= count


def _session(state: TeamState, p: float, draws: Draws) -> int:
    """Each untrained staff member in post attends with probability p (one uniform each)."""
    attended = 0
    for row in state.counts:
        moved = [sum(draws.uniform() < p for _ in range(row[c])) for c in range(state.k)]
        for c in range(state.k - 1, -1, -1):
            row[c] -= moved[c]
            row[c + 1] += moved[c]
        attended += sum(moved)
    return attended


def team_staffing(env, plan: TeamPlan, state: TeamState, *, draws, log):
    """Turnover with vacancies and untrained newcomers; training sessions (intervention teams)."""
    refills: list[float] = []
    sessions = list(plan.session_months)
    try:
        while True:
            next_fixed = min(refills[0] if refills else math.inf, sessions[0] if sessions else math.inf)
            hazard = state.n * plan.leave_rate_per_month
            wait = draws.exponential() / hazard if hazard > 0 else math.inf
            if env.now + wait < next_fixed:
                yield env.timeout(wait)
                _leave(state, draws)
                vacancy = draws.exponential() * plan.vacancy_months
                heapq.heappush(refills, env.now + vacancy)
                log.append(Event(env.now, "staff_leave", plan.team, -1, state.n))
            elif next_fixed == math.inf:
                return
            else:
                is_refill = bool(refills) and refills[0] == next_fixed
                yield env.timeout(next_fixed - env.now)
                if is_refill:
                    heapq.heappop(refills)
                    state.counts[NEWCOMER][0] += 1
                    state.n += 1
                    log.append(Event(env.now, "staff_join", plan.team, -1, state.n))
                else:
                    sessions.pop(0)
                    attended = _session(state, plan.attendance, draws)
                    log.append(Event(env.now, "session", plan.team, -1, attended))
            state.record(env.now)
    except simpy.Interrupt:
        state.empty()
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
