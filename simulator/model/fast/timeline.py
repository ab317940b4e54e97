"""The fast engine's timeline: one replicate's draws, then the chunk's arrays.

``draw_timeline`` makes one replicate's first random choices from its own stream (disbanding
and transfers, then the first block of every post's tenures and vacancies); ``chunk_timeline``
lays the chunk's teams side by side, turns the blocks into spells (further cycles and then the
attendance uniforms are drawn from each replicate's stream, in that order), trains, and
computes fidelity paths, exposures and staff counts for all teams at once (``paths`` module).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.fast.merges import Chains, chains, cut, final_end, rate_changes
from simulator.model.fast.paths import Paths, build_paths, team_events
from simulator.model.fast.moves import moving_spells
from simulator.model.fast.posts import Posts, Spells, chunk_spells, first_block
from simulator.model.fast.reconfiguration import Reconfigured, reconfigure, sessions_at_end
from simulator.model.fast.staff import ChunkStaff, chunk_staff, manager_spells
from simulator.model.fast.training import (Schedule, Training, attendance_draws, schedule_of,
                                           taught_spells, team_attendance, train)
from simulator.model.world import World
from simulator.scenario.schema import Scenario


@dataclass(frozen=True)
class Draws:
    """One replicate's first timeline draws (team indices within the replicate)."""

    reconfigured: Reconfigured
    posts: Posts
    schedule: Schedule       # every component's sessions, (M,)
    team_end: np.ndarray     # (K,) disbanding or merge month, else follow-up
    taught: np.ndarray       # (K,) bool: an intervention team (holds the sessions)
    moved: tuple | None = None   # staff moves: (Spells, MoveFlow) of ``moves.moving_spells``


def draw_timeline(world: World, arm: np.ndarray, scenario: Scenario,
                  rng: np.random.Generator, schedule: Schedule | None = None) -> Draws:
    """``schedule``: the scenario's ``schedule_of`` (the same for every replicate: a chunk
    passes it once)."""
    st, months = scenario.staff_turnover, scenario.trial.months
    reconfigured = reconfigure(world.site, arm, world.patient_team, scenario, rng)
    gone, merged = reconfigured.disband_month, reconfigured.merge_month
    team_end = np.where(np.isnan(gone), np.where(np.isnan(merged), months, merged), gone)
    rate = st.annual_rate * np.exp(np.clip(st.leadership_on_turnover * world.leadership,
                                           -700, 700)) / 12
    posts = first_block(world.staff, rate, st.vacancy_months,
                        final_end(reconfigured.merged_into, team_end), rng,
                        rate_changes(reconfigured.merged_into, reconfigured.merge_month, rate))
    schedule = schedule or schedule_of(scenario)
    moved = None
    if st.move_share > 0 and posts.tenure.shape[1] > 0:
        moved = moving_spells(posts, world.site, reconfigured.order, rate, ~np.isnan(gone),
                              st.move_share, st.vacancy_months, rng)
    return Draws(reconfigured, posts, schedule, team_end, arm == 1, moved)


def _chains(draws: list[Draws], teams: np.ndarray) -> Chains:
    """The chunk's chains of owners (``merges``), in chunk team indices."""
    into = np.concatenate([np.where(d.reconfigured.merged_into >= 0,
                                    d.reconfigured.merged_into + teams[i], -1)
                           for i, d in enumerate(draws)])
    return chains(into, np.concatenate([d.reconfigured.merge_month for d in draws]))


def _held(draws: list[Draws]) -> np.ndarray:
    """(G, M) bool: the chunk's teams hold session s (``reconfiguration.sessions_at_end``)."""
    field = lambda name: np.concatenate([getattr(d.reconfigured, name) for d in draws])  # noqa: E731
    return sessions_at_end(field("disband_month"), field("merge_month"), field("disband_rank"),
                           field("disband_asked"), draws[0].schedule.month)


def _spells_and_training(draws: list[Draws], teams: np.ndarray, posts: np.ndarray,
                         chain: Chains, scenario: Scenario, rngs: list[np.random.Generator],
                         leadership: np.ndarray, held: np.ndarray
                         ) -> tuple[Spells, np.ndarray, Training]:
    """The chunk's spells, which hold a manager post, then each replicate's attendance
    uniforms, then training (``leadership``, ``held``: the chunk's teams')."""
    spells = chunk_spells([d.posts for d in draws], teams, scenario.staff_turnover.vacancy_months,
                          rngs, [d.moved[0] if d.moved else None for d in draws])
    taught = np.concatenate([d.taught for d in draws])
    schedule = draws[0].schedule
    replicate = np.searchsorted(teams, spells.team, side="right") - 1
    counts = np.bincount(replicate[taught_spells(spells, taught, chain)], minlength=len(draws))
    uniforms = np.concatenate([attendance_draws(int(counts[i]), schedule.month.size, rngs[i])
                               for i in range(len(draws))])
    manager = manager_spells(spells, posts)
    training = train(spells, manager, schedule, taught, team_attendance(scenario, leadership),
                     held, uniforms, chain)
    return spells, manager, training


@dataclass(frozen=True)
class ChunkTimeline:
    """Every team g and patient i of the chunk, replicates side by side."""

    paths: Paths
    posts: np.ndarray             # (G,) establishment
    exposure: np.ndarray          # (n,) E_ij
    team_dose: np.ndarray         # (G,) (1/T) ∫0^T F
    fidelity_at_followup: np.ndarray  # (G,)
    departures: np.ndarray        # (G,) staff who left before the team's end
    joined: np.ndarray            # (G,) newcomers
    baseline_in_post: np.ndarray  # (G,) baseline holders still in post at follow-up
    remaining: np.ndarray         # (G,) holders in post at the team's end
    attended: np.ndarray          # (G, M) staff attending each session
    held: np.ndarray              # (G, M) bool: the session comes before the team's end
    staff: ChunkStaff             # every spell, for each replicate's staff records
    merged_out: np.ndarray        # (G,) holders pooled into another team by a merge
    merged_in: np.ndarray         # (G,) holders pooled in from another team
    moved_out: np.ndarray         # (G,) staff who moved to another team of the site
    moved_in: np.ndarray          # (G,) staff who moved in from another team
    establishment: np.ndarray     # (G,) posts at the end (a merge pools the posts)


def _exposure(paths: Paths, own: np.ndarray, moves: np.ndarray, months: float,
              lag: float) -> np.ndarray:
    """E_i = (1/T) Σ over the patient's team spells of ∫ F up to T − L (``history.
    patient_exposure``): the own team to T − L, then each move (month, patient, from, to or
    −1; global indices) cuts the spell in ``from`` and opens one in ``to``."""
    horizon = months - lag
    teams = paths.n_teams
    total = paths.integral(np.arange(teams), np.full(teams, horizon))[own]
    if moves.size:
        when = np.minimum(moves[:, 0], horizon)
        patient, origin, to = (moves[:, c].astype(np.int64) for c in (1, 2, 3))
        h = np.full(when.size, horizon)
        change = paths.integral(origin, when) - paths.integral(origin, h)
        into = to >= 0
        change[into] += paths.integral(to[into], h[into]) - paths.integral(to[into], when[into])
        np.add.at(total, patient, change)
    return np.clip(total / months, 0.0, 1.0)


def _global_moves(draws: list[Draws], teams: np.ndarray, patients: np.ndarray) -> np.ndarray:
    """(moves, 4): month, patient, from team, to team (−1: lost), in chunk indices."""
    out = []
    for i, d in enumerate(draws):
        m = np.array(d.reconfigured.membership.moves, dtype=float).reshape(-1, 4)
        m[:, 1] += patients[i]
        m[:, 2] += teams[i]
        m[:, 3] = np.where(m[:, 3] >= 0, m[:, 3] + teams[i], -1)
        out.append(m)
    return np.concatenate(out)


def _sessions_held(draws: list[Draws], held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(team, month) of every session an intervention team of the chunk holds (before its end)."""
    taught = np.concatenate([d.taught for d in draws])
    team, s = np.nonzero(taught[:, None] & held)
    return team, draws[0].schedule.month[s]


def _team_doses(paths: Paths, chain: Chains, months: float) -> np.ndarray:
    """(G,) (1/T) ∫0^T F, following a merged team into the team it joined, summed as the
    SimPy engine's ``history.team_doses`` sums it."""
    g = paths.n_teams
    dose = paths.integral(np.arange(g), np.full(g, months)) / months
    for team in np.flatnonzero(np.isfinite(chain.month).any(axis=1)).tolist():
        ends = chain.month[team][np.isfinite(chain.month[team])].tolist()
        owners = chain.owner[team, :len(ends) + 1].tolist()
        total, start = 0.0, 0.0
        for owner, end in zip(owners, ends):
            total += float(paths.integral(np.array([owner]), np.array([end]))[0]
                           - paths.integral(np.array([owner]), np.array([start]))[0])
            start = end
        last = np.array([owners[-1]])
        dose[team] = (total + paths.integral(last, np.array([months]))[0]
                      - paths.integral(last, np.array([start]))[0]) / months
    return dose


def _establishment(posts: np.ndarray, chain: Chains) -> np.ndarray:
    """(G,) posts of each team at its end: its own and those of every team merged into it
    before (``timeline.merges.pool_staff``)."""
    owners = chain.owner
    counted = np.concatenate([np.ones((owners.shape[0], 1), bool),
                              owners[:, 1:] != owners[:, :-1]], axis=1)
    return np.bincount(owners[counted], weights=np.repeat(posts, counted.sum(axis=1)),
                       minlength=posts.size).astype(np.int64)


def chunk_timeline(draws: list[Draws], worlds: list[World], scenario: Scenario,
                   rngs: list[np.random.Generator]) -> ChunkTimeline:
    """``rngs``: each replicate's timeline stream, as ``draw_timeline`` left it."""
    months = scenario.trial.months
    teams = np.cumsum([0] + [w.n_teams for w in worlds])
    patients = np.cumsum([0] + [w.patient_team.size for w in worlds])
    posts = np.concatenate([w.staff for w in worlds]).astype(np.int64)
    chain = _chains(draws, teams)
    held = _held(draws)
    spells, manager, training = _spells_and_training(
        draws, teams, posts, chain, scenario, rngs,
        np.concatenate([w.leadership for w in worlds]), held)
    pieces = cut(spells, chain)
    gone = np.concatenate([d.reconfigured.disband_month for d in draws])
    manages = manager[pieces.holder] & pieces.owned
    # a component counts a piece only if its role is in the audience (a merged manager is staff)
    counts = ~draws[0].schedule.manager_only[None, :] | manages[:, None]
    completed = np.where(counts, training.completed_at[pieces.holder], np.inf)
    events, delta = team_events(pieces.team, pieces.start, pieces.end, pieces.left | pieces.merged,
                                manages, completed, gone, _sessions_held(draws, held),
                                (pieces.moved, pieces.merged), (pieces.arrived, pieces.moved_on))
    paths = build_paths(events, delta, posts, draws[0].schedule)
    own = np.concatenate([w.patient_team + teams[i] for i, w in enumerate(worlds)])
    moves = _global_moves(draws, teams, patients)
    return _chunk_counts(paths, posts, chain, spells, pieces, training, draws, gone, teams,
                         _exposure(paths, own, moves, months,
                                   scenario.intervention.effect_lag_months), months, held)


def _chunk_counts(paths, posts, chain, spells, pieces, training, draws, gone, teams, exposure,
                  months, held) -> ChunkTimeline:
    """The chunk's per-team counts, staff records and doses."""
    g = posts.size
    count = lambda mask: np.bincount(pieces.team[mask], minlength=g)  # noqa: E731
    in_post = ~pieces.left & ~pieces.merged                # in post at the team's end
    attended = training.attended_by(pieces.holder, pieces.end, in_post, draws[0].schedule)
    return ChunkTimeline(
        paths=paths, posts=posts, exposure=exposure,
        team_dose=_team_doses(paths, chain, months),
        fidelity_at_followup=paths.fidelity_at_end(),
        departures=count(pieces.left),
        joined=count((pieces.start > 0) & ~pieces.moved & ~pieces.arrived),
        baseline_in_post=np.where(np.isnan(gone), count(spells.baseline[pieces.holder] & in_post),
                                  0),
        remaining=count(in_post), attended=training.attended, held=held,
        staff=chunk_staff(spells, pieces, attended, posts, gone,
                          np.repeat(teams[:-1], np.diff(teams))),
        merged_out=count(pieces.merged), merged_in=count(pieces.moved),
        moved_out=count(pieces.moved_on), moved_in=count(pieces.arrived),
        establishment=_establishment(posts, chain))
