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

BASELINE, NEWCOMER, MOVER = 0, 1, 2   # origin rows of a roster: MOVER = arrived from another team


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

    ``counts[origin][c]`` is the number in post of that origin (baseline, newcomer, or mover
    from another team) who have attended c sessions; c = sessions_to_train means trained.
    ``flow`` counts staff through the team: newcomers who ``joined``, staff who ``moved_out``
    to or ``moved_in`` from another team, staff pooled into another team by a merge
    (``merged_out``) or from one (``merged_in``), and staff ``removed`` from the service with the
    team (in post at a disbanding, or waiting to move into it); ``waiting`` holds the movers
    waiting for a post here (moves module).
    """

    def __init__(self, plan: TeamPlan):
        k = plan.sessions_to_train
        self.team = plan.team
        self.counts = [[plan.posts] + [0] * k, [0] * (k + 1), [0] * (k + 1)]
        self.k = k
        self.n = plan.posts
        self.posts = plan.posts
        self.times: list[float] = [0.0]
        self.fidelity: list[float] = [0.0]
        self.in_post: list[int] = [plan.posts]
        self.departures = 0
        self.flow = {"joined": 0, "moved_out": 0, "moved_in": 0, "merged_out": 0, "merged_in": 0,
                     "removed": 0}
        self.waiting: list[int] = []   # movers waiting for a post here: sessions each attended
        self.disbanded_at = math.nan
        self.merged_at, self.merged_into = math.nan, -1
        self.ended = False

    def trained(self) -> int:
        return sum(row[self.k] for row in self.counts)

    def baseline_in_post(self) -> int:
        return sum(self.counts[BASELINE])

    def empty(self) -> None:
        self.counts = [[0] * (self.k + 1) for _ in self.counts]
        self.n = 0
        self.ended = True

    def record(self, now: float) -> None:
        f = self.trained() / self.n if self.n else 0.0
        if self.times[-1] == now:
            self.fidelity[-1], self.in_post[-1] = f, self.n
        else:
            self.times.append(now)
            self.fidelity.append(f)
            self.in_post.append(self.n)


def _leave(state: TeamState, draws: Draws) -> int:
    """One staff member, chosen uniformly from those in post, leaves; returns the sessions
    they had attended."""
    target = int(draws.uniform() * state.n)
    for row in state.counts:
        for c, count in enumerate(row):
            if target < count:
                row[c] -= 1
                state.n -= 1
                state.departures += 1
                return c
            target -= count
    raise ValueError("nobody in post to leave")


def session(state: TeamState, p: float, draws: Draws) -> int:
    """Each untrained staff member in post attends with probability p."""
    attended = 0
    binomial = draws.rng.binomial
    for row in state.counts:
        moved = [binomial(row[c], p) if row[c] else 0 for c in range(state.k)]
        for c in range(state.k - 1, -1, -1):
            row[c] -= moved[c]
            row[c + 1] += moved[c]
        attended += sum(moved)
    return attended


class Turnover:
    """The competing-risks clock of one team's roster, advanced between SimPy synchronisation
    points (sessions, disbanding, follow-up). Nothing outside the team observes its roster in
    between, so departures and refills need no SimPy events of their own; because the
    exponential is memoryless, the pending departure draw is discarded at each stop."""

    def __init__(self, plan: TeamPlan, state: TeamState, draws: Draws, log: list):
        self.plan, self.state, self.draws, self.log = plan, state, draws, log
        self.now = 0.0
        self.refills: list[float] = []

    def advance(self, until: float) -> None:
        plan, state, draws = self.plan, self.state, self.draws
        while True:
            hazard = state.n * plan.leave_rate_per_month
            leave_at = self.now + draws.exponential() / hazard if hazard > 0 else math.inf
            refill_at = self.refills[0] if self.refills else math.inf
            if min(leave_at, refill_at) >= until:
                self.now = until
                return
            if leave_at < refill_at:
                self.now = leave_at
                _leave(state, draws)
                heapq.heappush(self.refills, leave_at + draws.exponential() * plan.vacancy_months)
                self.log.append(Event(leave_at, "staff_leave", plan.team, -1, state.n))
            else:
                self.now = heapq.heappop(self.refills)
                join(state, self.now, self.log)
            state.record(self.now)

    def end(self, team: int) -> None:
        """The team has disbanded or merged: nothing of its own is pending elsewhere."""


def join(state: TeamState, now: float, log: list) -> None:
    """An untrained newcomer fills a vacant post."""
    state.counts[NEWCOMER][0] += 1
    state.n += 1
    state.flow["joined"] += 1
    log.append(Event(now, "staff_join", state.team, -1, state.n))


def team_staffing(env, plan: TeamPlan, state: TeamState, turnover: Turnover, *, draws, log):
    """Training sessions (intervention teams) with turnover in between; waits to be disbanded."""
    try:
        for month in plan.session_months:
            yield env.timeout(month - env.now)
            turnover.advance(env.now)
            attended = session(state, plan.attendance, draws)
            log.append(Event(env.now, "session", plan.team, -1, attended))
            state.record(env.now)
        yield env.event()   # never triggered: only a disbanding interrupts the wait
    except simpy.Interrupt as stop:
        if stop.cause == "disband":
            turnover.advance(env.now)
            state.flow["removed"] += state.n   # its staff leave the service with the team
            state.empty()
            state.disbanded_at = env.now
            state.record(env.now)
        turnover.end(plan.team)   # a merge has pooled the roster already (merges module)


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
    sessions = session_schedule(scenario)
    p = attendance_probability(iv.attendance, iv.leadership_on_attendance, world.leadership)
    rate = st.annual_rate * np.exp(np.clip(st.leadership_on_turnover * world.leadership, -700, 700)) / 12
    return [TeamPlan(j, int(world.staff[j]), float(rate[j]), st.vacancy_months, float(p[j]),
                     iv.sessions_to_train, sessions if arm[j] == 1 else ())
            for j in range(world.n_teams)]


def attendance_probability(level: float, log_odds_per_sd: float, leadership: np.ndarray) -> np.ndarray:
    """p_j = logistic(logit(level) + λ L_j); levels 0 and 1 stay 0 and 1."""
    if level in (0.0, 1.0):
        return np.full(np.shape(leadership), level)
    return expit(logit(level) + log_odds_per_sd * np.asarray(leadership))
