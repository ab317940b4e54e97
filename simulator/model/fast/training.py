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
disbands or merges into another; its holders then attend the sessions of the team they joined
(``merges``: a holder's sessions carry over, and a merged manager is staff there).

Each replicate draws one uniform per session and spell whose post is ever an intervention
team's, in spell order, from its own stream (``attendance_draws``); the chunk is then trained
at once (``train``). With one component and no merges these are the earlier draws, draw for
draw.

Shapes: (S,) spells, (M,) sessions, (C,) components, (S, M) spell × session, (G,) teams.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.fast.merges import Chains
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
    counted: np.ndarray        # (S, M) bool: the holder attended the session (before completing)
    attended: np.ndarray       # (G, M) int: staff attending each session (0 where none was held)
    prior: np.ndarray | None = None   # (S, C) sessions a mover brought from earlier spells

    def attended_by(self, holder: np.ndarray, end: np.ndarray, stays: np.ndarray,
                    schedule: Schedule) -> np.ndarray:
        """(P, C) sessions of each component attended by the end of each piece (``merges``;
        ``stays`` (P,): in post at its team's end, so at a session held that month)."""
        month, end = schedule.month[None, :], end[:, None]
        before = self.counted[holder] & ((month < end) | ((month == end) & stays[:, None]))
        out = before.astype(np.int64) @ _one_hot(schedule)
        return out if self.prior is None else out + self.prior[holder]


def _one_hot(schedule: Schedule) -> np.ndarray:
    """(M, C) int: session m is one of component c's."""
    return (schedule.component[:, None] == np.arange(schedule.to_complete.size)[None, :]
            ).astype(np.int64)


def attendance_draws(spells_taught: int, sessions: int, rng: np.random.Generator) -> np.ndarray:
    """(spells of intervention teams, sessions) uniforms; none without either."""
    if sessions == 0 or spells_taught == 0:
        return np.empty((0, sessions))
    return rng.random((spells_taught, sessions))


def taught_spells(spells: Spells, in_intervention: np.ndarray, chain: Chains) -> np.ndarray:
    """Indices of the spells whose post is ever an intervention team's (drawn for, in order)."""
    return np.flatnonzero(in_intervention[chain.owner[spells.team]].any(axis=1))


def _eligible(spells: Spells, taught: np.ndarray, manager: np.ndarray, schedule: Schedule,
              held: np.ndarray, in_intervention: np.ndarray, chain: Chains):
    """(St, M) bool: in post in an intervention team holding the session, in its audience,
    allowed to this refresher; and (St, M) that team."""
    c, m = schedule.component, schedule.month[None, :]
    start, end = spells.start[taught, None], spells.end[taught, None]
    owner, depth = chain.at(spells.team[taught], schedule.month)
    stays = ~spells.left[taught, None]   # in post at the team's end: there at its last session
    sessions = np.broadcast_to(np.arange(m.shape[1]), owner.shape)
    present = (start <= m) & ((m < end) | ((m == end) & stays)) & held[owner, sessions] \
        & in_intervention[owner]
    audience = ~schedule.manager_only[c][None, :] | (manager[taught, None] & (depth == 0))
    merged_in = np.concatenate([np.zeros((taught.size, 1)), chain.month[spells.team[taught]]],
                               axis=1)
    began = np.maximum(start, np.take_along_axis(merged_in, depth, axis=1))   # piece start
    allowed = ~schedule.newcomers_only[None, :] | (began > schedule.first_month[c][None, :])
    return present & audience & allowed, owner


def train(spells: Spells, manager: np.ndarray, schedule: Schedule, in_intervention: np.ndarray,
          attendance: np.ndarray, held: np.ndarray, uniforms: np.ndarray,
          chain: Chains) -> Training:
    """``manager`` (S,) bool: the spell holds its team's manager post; ``in_intervention`` (G,)
    bool; ``attendance`` (G, C) p_jc; ``held`` (G, M) bool: the team holds the session (before
    its disbanding or merge: ``reconfiguration.sessions_at_end``); ``uniforms`` (``taught_spells``, M) in spell
    order; ``chain`` whose team holds each post when (``merges``). A mover's spell
    (``spells.previous``) starts from the sessions attended by the end of the one before, so
    spells are trained one generation of moves at a time."""
    n_c, n_m = schedule.to_complete.size, schedule.month.size
    completed_at = np.full((spells.team.size, n_c), np.inf)
    counted = np.zeros((spells.team.size, n_m), dtype=bool)
    attended = np.zeros((held.shape[0], n_m), dtype=np.int64)
    taught = taught_spells(spells, in_intervention, chain)
    moves = bool(np.any(spells.previous >= 0))
    if n_m == 0 or (taught.size == 0 and not moves):
        return Training(completed_at, counted, attended)
    eligible, owner = _eligible(spells, taught, manager, schedule, held, in_intervention, chain)
    goes = eligible & (uniforms < attendance[owner, schedule.component[None, :]])
    if not moves:
        _complete(goes, taught, np.zeros((taught.size, n_c), np.int64), schedule, counted,
                  completed_at)
        prior = None
    else:
        every = np.zeros((spells.team.size, n_m), dtype=bool)
        every[taught] = goes
        prior = _generations(spells.previous, every, schedule, counted, completed_at)
    cell = owner * n_m + np.arange(n_m)                    # (team, session) of each attendance
    attended = np.bincount(cell[counted[taught]], minlength=attended.size).reshape(attended.shape)
    return Training(completed_at, counted, attended, prior)


def _complete(goes: np.ndarray, rows: np.ndarray, prior: np.ndarray, schedule: Schedule,
              counted: np.ndarray, completed_at: np.ndarray) -> None:
    """Spells ``rows`` attending where ``goes`` (rows, M), having attended ``prior`` (rows, C)
    before: fills their ``counted`` sessions (those up to completing) and the month each
    completes each component (a mover who had completed it keeps that month)."""
    for c in range(schedule.to_complete.size):
        cols = np.flatnonzero(schedule.component == c)
        if cols.size == 0:
            continue
        k = schedule.to_complete[c]
        count = prior[:, c, None] + np.cumsum(goes[:, cols], axis=1)   # attended so far
        counted[rows[:, None], cols] = goes[:, cols] & (count <= k)     # completed: no more
        done = (count[:, -1] >= k) & (prior[:, c] < k)
        first = np.argmax(count >= k, axis=1)
        completed_at[rows[done], c] = schedule.month[cols][first[done]]


def _generations(previous: np.ndarray, goes: np.ndarray, schedule: Schedule,
                 counted: np.ndarray, completed_at: np.ndarray) -> np.ndarray:
    """Train spells in order of how many moves their holder has made; returns (S, C) the
    sessions each brought from the spells before."""
    prior = np.zeros(completed_at.shape, dtype=np.int64)
    one_hot = _one_hot(schedule)
    rows = np.flatnonzero(previous < 0)
    while rows.size:
        before = previous[rows]
        moved = before >= 0
        came = before[moved]
        prior[rows[moved]] = prior[came] + counted[came].astype(np.int64) @ one_hot
        completed_at[rows[moved]] = completed_at[came]   # kept where it was already complete
        _complete(goes[rows], rows, prior[rows], schedule, counted, completed_at)
        rows = np.flatnonzero(np.isin(previous, rows))
    return prior
