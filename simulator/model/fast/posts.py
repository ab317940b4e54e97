"""Staff posts as alternating renewal processes, for a chunk of replicates, in arrays.

Each post of team j is filled at month 0; its holder stays ~ Exp(h_j) months (h_j the leave
rate per month, h·exp(κ L_j)/12), the post is then vacant ~ Exp with mean V months, refilled by
an untrained newcomer who stays ~ Exp(h_j), and so on (DESIGN.md "Staff turnover"). This is
the SimPy engine's competing-risks roster (n staff each leaving at rate h_j, one chosen
uniformly) seen post by post: the exponential is memoryless, so the two are the same process.

Each replicate draws a first block of cycles from its own stream (``first_block``: tenures,
then vacancies, standard exponentials); the chunk's blocks are then turned into spells at
once (``chunk_spells``). A replicate with a post that needs more cycles than its block held
draws further blocks from its stream, in the same order (``more_cycles``), so its numbers are
the same whichever chunk it is in.

Shapes: (P,) posts, (P, C) cycles per post, (S,) spells (one holder's time in one post).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Spells:
    """Each holder's time in post, ordered by post then time: team, months [start, end), and
    whether the spell ended by leaving (else it lasts to the team's end: disbanding or
    follow-up). ``start`` is 0 for the holders at baseline."""

    team: np.ndarray      # (S,) int, team (within the replicate, or the chunk's index)
    start: np.ndarray     # (S,) float months
    end: np.ndarray       # (S,) float months
    left: np.ndarray      # (S,) bool
    baseline: np.ndarray  # (S,) bool: the post's holder at month 0


@dataclass(frozen=True)
class Posts:
    """One replicate's posts and the first block of its draws."""

    team: np.ndarray      # (P,) team of each post (within the replicate)
    rate: np.ndarray      # (P,) leave rate per month
    until: np.ndarray     # (P,) the team's end, months
    tenure: np.ndarray    # (P, C) standard exponentials (C = 0 without turnover)
    vacancy: np.ndarray   # (P, C)


def _cycles(months: float, rate: np.ndarray, vacancy_months: float) -> int:
    """Leave–refill cycles drawn per post at once: the expected count plus 6 Poisson SDs and 4,
    so that a post rarely needs more (more are then drawn)."""
    expected = months / (1.0 / max(float(rate.max()), 1e-300) + vacancy_months)
    return int(np.ceil(expected + 6.0 * np.sqrt(expected))) + 4


def first_block(posts: np.ndarray, rate_per_month: np.ndarray, vacancy_months: float,
                team_end: np.ndarray, rng: np.random.Generator) -> Posts:
    """K teams' posts (``posts`` (K,) establishment, ``rate_per_month`` (K,), ``team_end`` (K,)
    months: disbanding, else follow-up) and their first block of tenures and vacancies."""
    team = np.repeat(np.arange(posts.size), posts)
    rate, until = rate_per_month[team], team_end[team]
    if not np.any(rate > 0):
        return Posts(team, rate, until, np.empty((team.size, 0)), np.empty((team.size, 0)))
    block = _cycles(float(until.max()), rate, vacancy_months)
    tenure = rng.standard_exponential((team.size, block))
    return Posts(team, rate, until, tenure, rng.standard_exponential((team.size, block)))


def _times(tenure, vacancy, rate, vacancy_months, last) -> tuple[np.ndarray, np.ndarray]:
    """(leave, join) months (P, C) of blocks of standard exponentials, after ``last`` (P,)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        steps = np.stack([tenure / rate[:, None], vacancy * vacancy_months], axis=2)
    times = last[:, None] + np.cumsum(steps.reshape(rate.size, -1), axis=1)
    return times[:, 0::2], times[:, 1::2]


def more_cycles(p: Posts, vacancy_months: float, leave: np.ndarray, join: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Further blocks from the replicate's stream until every post's last join is at or after
    its end (rarely needed)."""
    block = p.tenure.shape[1]
    while not np.all(join[:, -1] >= p.until):
        tenure = rng.standard_exponential((p.rate.size, block))
        vacancy = rng.standard_exponential((p.rate.size, block))
        more = _times(tenure, vacancy, p.rate, vacancy_months, join[:, -1])
        leave, join = np.hstack([leave, more[0]]), np.hstack([join, more[1]])
    return leave, join


def spells_of(leave: np.ndarray, join: np.ndarray, until: np.ndarray, team: np.ndarray) -> Spells:
    """The spells held before each post's end, from (P, C) leave and join months."""
    start = np.concatenate([np.zeros((until.size, 1)), join[:, :-1]], axis=1)
    held = start < until[:, None]
    first = np.zeros(start.shape, dtype=bool)
    first[:, 0] = True
    return Spells(np.broadcast_to(team[:, None], start.shape)[held], start[held],
                  np.minimum(leave, until[:, None])[held], (leave < until[:, None])[held],
                  first[held])


def chunk_spells(posts: list[Posts], offsets: np.ndarray, vacancy_months: float,
                 rngs: list[np.random.Generator]) -> Spells:
    """Every replicate's spells, teams numbered across the chunk (replicate i's from
    ``offsets[i]``): the first blocks side by side (padded with posts that never change),
    further cycles replicate by replicate where a post needs them."""
    width = max(p.tenure.shape[1] for p in posts)
    team = np.concatenate([p.team + offsets[i] for i, p in enumerate(posts)])
    until = np.concatenate([p.until for p in posts])
    if width == 0:
        return Spells(team, np.zeros(team.size), until, np.zeros(team.size, bool),
                      np.ones(team.size, bool))
    pad = lambda a, fill: np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)  # noqa: E731
    tenure = np.concatenate([pad(p.tenure, np.inf) for p in posts])
    vacancy = np.concatenate([pad(p.vacancy, 0.0) for p in posts])
    rate = np.concatenate([p.rate for p in posts])
    leave, join = _times(tenure, vacancy, rate, vacancy_months, np.zeros(rate.size))
    rows = np.cumsum([0] + [p.team.size for p in posts])
    cols = np.array([p.tenure.shape[1] for p in posts])
    post_cols = np.repeat(cols, np.diff(rows))
    covered = join[np.arange(join.shape[0]), np.maximum(post_cols - 1, 0)] >= until
    short = np.flatnonzero(np.bincount(np.repeat(np.arange(len(posts)), np.diff(rows)),
                                       weights=~covered & (post_cols > 0),
                                       minlength=len(posts)) > 0)
    spells = spells_of(leave, join, until, team)
    if short.size == 0:
        return spells
    return _redraw(spells, posts, short, offsets, rows, (leave, join), vacancy_months, rngs)


def _redraw(spells: Spells, posts: list[Posts], short: np.ndarray, offsets, rows, times,
            vacancy_months: float, rngs) -> Spells:
    """Replace the spells of the ``short`` replicates (a post needing more cycles than its
    first block) by spells from further blocks of their streams, keeping replicate order."""
    replicate = np.searchsorted(offsets, spells.team, side="right") - 1
    keep = ~np.isin(replicate, short)
    parts = [Spells(*(getattr(spells, f)[keep] for f in FIELDS))]
    order = [replicate[keep]]
    for i in short.tolist():
        p, block = posts[i], slice(rows[i], rows[i + 1])
        width = p.tenure.shape[1]
        leave, join = more_cycles(p, vacancy_months, times[0][block, :width],
                                  times[1][block, :width], rngs[i])
        parts.append(spells_of(leave, join, p.until, p.team + offsets[i]))
        order.append(np.full(parts[-1].team.size, i))
    by_replicate = np.argsort(np.concatenate(order), kind="stable")
    return Spells(*(np.concatenate([getattr(s, f) for s in parts])[by_replicate] for f in FIELDS))


FIELDS = ("team", "start", "end", "left", "baseline")
