"""Training sessions of every component, in arrays: who attends, and when each completes.

The intervention is a list of components (``intervention.strategies``; without
``intervention.components`` the one component ``training``). Their sessions are the SimPy
engine's ``staffing.component_schedule``: core sessions and refreshers, by month then
component. At a session of component c at month m of an intervention team, every holder in
post at m who belongs to its audience (every member of staff, or the holder of the team's
manager post) and has not completed c attends with probability p_jc
(``staffing.attendance_probability``); a refresher for newcomers is open only to holders whose
spell began after c's first session (``intervention.refresher_for``, DESIGN.md
"Implementation"). A holder completes c at the session of their ``sessions_to_complete``-th
attendance and stops attending it (``components.completion``). A team's sessions stop when it
disbands.

Each replicate draws one uniform per spell of its intervention teams and session, in spell
order, from its own stream (``attendance_draws``); the chunk is then trained at once
(``train``). With one component this is the earlier single ``training`` draw for draw.

Shapes: (S,) spells, (M,) sessions, (C,) components, (S, M) spell × session, (G,) teams.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.fast.posts import Spells
from simulator.model.timeline.roster import MANAGER
from simulator.model.timeline.staffing import attendance_probability, component_schedule
from simulator.scenario.schema import Scenario


@dataclass(frozen=True)
class Schedule:
    """Every session of the intervention and what each component asks of its audience."""

    month: np.ndarray           # (M,) session months, by month then component
    component: np.ndarray       # (M,) int, the session's component
    newcomers_only: np.ndarray  # (M,) bool: a refresher open only to newcomers
    names: tuple[str, ...]      # (C,) component names
    to_complete: np.ndarray     # (C,) sessions_to_complete
    manager_only: np.ndarray    # (C,) bool: the audience is the manager post
    first_month: np.ndarray     # (C,) the component's first core session
    weights: np.ndarray         # (C,) true weights w_c of the dose

    @property
    def one_team_component(self) -> bool:
        """Today's single training for the whole team: fidelity is its share alone."""
        return len(self.names) == 1 and not self.manager_only[0]


def schedule_of(scenario: Scenario) -> Schedule:
    items = component_schedule(scenario)
    parts = scenario.intervention.strategies
    return Schedule(
        month=np.array([m for m, _, _ in items], dtype=float),
        component=np.array([c for _, c, _ in items], dtype=np.int64),
        newcomers_only=np.array([n for _, _, n in items], dtype=bool),
        names=tuple(c.name for c in parts),
        to_complete=np.array([c.sessions_to_complete for c in parts], dtype=np.int64),
        manager_only=np.array([c.audience == MANAGER for c in parts], dtype=bool),
        first_month=np.array([min(c.session_months, default=0.0) for c in parts], dtype=float),
        weights=np.array([c.weight for c in parts], dtype=float))


def team_attendance(scenario: Scenario, leadership: np.ndarray) -> np.ndarray:
    """(K, C) p_jc = logistic(logit(attendance_c) + λ L_j) (``staffing.component_plans``)."""
    iv = scenario.intervention
    return np.stack([np.asarray(attendance_probability(c.attendance, iv.leadership_on_attendance,
                                                       leadership), dtype=float)
                     for c in iv.strategies], axis=1)


@dataclass(frozen=True)
class Training:
    completed_at: np.ndarray   # (S, C) month the spell's holder completes c, inf if never
    attended_by: np.ndarray    # (S, C) int: sessions of c the holder attended (≤ c_k)
    attended: np.ndarray       # (G, M) int: staff attending each session (0 where none was held)


def attendance_draws(spells_taught: int, sessions: int, rng: np.random.Generator) -> np.ndarray:
    """(spells of intervention teams, sessions) uniforms; none without either."""
    if sessions == 0 or spells_taught == 0:
        return np.empty((0, sessions))
    return rng.random((spells_taught, sessions))


def _eligible(spells: Spells, taught: np.ndarray, manager: np.ndarray, schedule: Schedule,
              team_end: np.ndarray) -> np.ndarray:
    """(St, M) bool: in post at the session, in its audience, allowed to this refresher."""
    c, m = schedule.component, schedule.month[None, :]
    start, end = spells.start[taught, None], spells.end[taught, None]
    present = (start <= m) & (m < end) & (m < team_end[spells.team[taught], None])
    audience = ~schedule.manager_only[c][None, :] | manager[taught, None]
    allowed = ~schedule.newcomers_only[None, :] | (start > schedule.first_month[c][None, :])
    return present & audience & allowed


def train(spells: Spells, manager: np.ndarray, schedule: Schedule, in_intervention: np.ndarray,
          attendance: np.ndarray, team_end: np.ndarray, uniforms: np.ndarray) -> Training:
    """``manager`` (S,) bool: the spell holds its team's manager post; ``in_intervention`` (G,)
    bool; ``attendance`` (G, C) p_jc; ``team_end`` (G,) disbanding month (sessions at or after
    it are not held) or follow-up; ``uniforms`` (spells of intervention teams, M) in spell
    order."""
    n_c = schedule.to_complete.size
    completed_at = np.full((spells.team.size, n_c), np.inf)
    attended_by = np.zeros((spells.team.size, n_c), dtype=np.int64)
    attended = np.zeros((team_end.size, schedule.month.size), dtype=np.int64)
    taught = np.flatnonzero(in_intervention[spells.team])
    if schedule.month.size == 0 or taught.size == 0:
        return Training(completed_at, attended_by, attended)
    team = spells.team[taught]
    goes = _eligible(spells, taught, manager, schedule, team_end) \
        & (uniforms < attendance[team][:, schedule.component])
    counted = np.zeros(goes.shape, dtype=bool)
    for c in range(n_c):
        cols = np.flatnonzero(schedule.component == c)
        if cols.size == 0:
            continue
        k = schedule.to_complete[c]
        count = np.cumsum(goes[:, cols], axis=1)          # sessions of c attended so far
        counted[:, cols] = goes[:, cols] & (count <= k)   # completed staff no longer attend
        attended_by[taught, c] = np.minimum(count[:, -1], k)
        done = count[:, -1] >= k
        first = np.argmax(count >= k, axis=1)
        completed_at[taught[done], c] = schedule.month[cols][first[done]]
    np.add.at(attended, team, counted.astype(np.int64))
    return Training(completed_at, attended_by, attended)
