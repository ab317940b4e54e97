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
    post: np.ndarray      # (S,) int, the post (the chunk's index; a team's first is its manager's)
    # staff moves (``moves``): began with a move in, ended by moving on, and the same person's
    # spell before the move (−1: none; they carry its sessions)
    arrived: np.ndarray | None = None    # (S,) bool
    moved_on: np.ndarray | None = None   # (S,) bool (also ``left``: a departure)
    previous: np.ndarray | None = None   # (S,) int

    def __post_init__(self):
        n = self.team.size
        for name, fill in (("arrived", False), ("moved_on", False), ("previous", -1)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(n, fill))


@dataclass(frozen=True)
class Posts:
    """One replicate's posts and the first block of its draws."""

    team: np.ndarray      # (P,) team of each post (within the replicate)
    rate: np.ndarray      # (P,) leave rate per month
    until: np.ndarray     # (P,) the team's end, months
    tenure: np.ndarray    # (P, C) standard exponentials (C = 0 without turnover)
    vacancy: np.ndarray   # (P, C)
    changes: tuple | None = None   # (months (P, D), rates (P, D + 1)): the post's leave rate
    #                                 from each merge on (the receiving team's), else None


def _cycles(months: float, rate: np.ndarray, vacancy_months: float) -> int:
    """Leave–refill cycles drawn per post at once: the expected count plus 6 Poisson SDs and 4,
    so that a post rarely needs more (more are then drawn)."""
    expected = months / (1.0 / max(float(rate.max()), 1e-300) + vacancy_months)
    return int(np.ceil(expected + 6.0 * np.sqrt(expected))) + 4


def first_block(posts: np.ndarray, rate_per_month: np.ndarray, vacancy_months: float,
                team_end: np.ndarray, rng: np.random.Generator,
                changes: tuple | None = None) -> Posts:
    """K teams' posts (``posts`` (K,) establishment, ``rate_per_month`` (K,), ``team_end`` (K,)
    months: disbanding, else follow-up; ``changes`` (months (K, D), rates (K, D + 1)) of each
    team's posts' leave rate at merges, or None) and their first block of tenures and
    vacancies."""
    team = np.repeat(np.arange(posts.size), posts)
    rate, until = rate_per_month[team], team_end[team]
    if not np.any(rate > 0):
        return Posts(team, rate, until, np.empty((team.size, 0)), np.empty((team.size, 0)))
    fastest = rate if changes is None else changes[1]
    block = _cycles(float(until.max()), fastest, vacancy_months)
    tenure = rng.standard_exponential((team.size, block))
    return Posts(team, rate, until, tenure, rng.standard_exponential((team.size, block)),
                 None if changes is None else (changes[0][team], changes[1][team]))


def after_hazard(start: np.ndarray, hazard: np.ndarray, changes: tuple) -> np.ndarray:
    """(P,) the month x ≥ start at which ∫_start^x r(t) dt = hazard, r the post's leave rate,
    piecewise constant: rates[d] from months[d − 1] (``changes`` = (months (P, D), rates
    (P, D + 1))). A holder in post at a merge leaves at the receiving team's rate from then
    on (the exponential is memoryless; time change of a unit-rate Poisson process)."""
    months, rates = changes
    lower = np.concatenate([np.full((start.size, 1), -np.inf), months], axis=1)
    upper = np.concatenate([months, np.full((start.size, 1), np.inf)], axis=1)
    left, out = hazard.astype(float).copy(), np.full(start.size, np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for d in range(rates.shape[1]):
            lo = np.maximum(start, lower[:, d])
            width = np.where(upper[:, d] > lo, upper[:, d] - lo, 0.0)
            room = rates[:, d] * width
            ends = np.isinf(out) & (upper[:, d] > lo) & (left <= room)
            out = np.where(ends, lo + left / rates[:, d], out)
            left = np.where(ends | ~(upper[:, d] > lo), left, left - room)
    return out


def _times(tenure, vacancy, rate, vacancy_months, last,
           changes: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(leave, join) months (P, C) of blocks of standard exponentials, after ``last`` (P,);
    with ``changes``, the leave rate of each post changes at merges (``after_hazard``)."""
    if changes is not None:
        leave, join, t = np.empty(tenure.shape), np.empty(tenure.shape), last
        for c in range(tenure.shape[1]):
            leave[:, c] = after_hazard(t, tenure[:, c], changes)
            join[:, c] = t = leave[:, c] + vacancy[:, c] * vacancy_months
        return leave, join
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        steps = np.stack([tenure / rate[:, None], vacancy * vacancy_months], axis=2)
    times = last[:, None] + np.cumsum(steps.reshape(rate.size, 2 * tenure.shape[1]), axis=1)
    return times[:, 0::2], times[:, 1::2]


def more_cycles(p: Posts, vacancy_months: float, leave: np.ndarray, join: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Further blocks from the replicate's stream until every post's last join is at or after
    its end (rarely needed)."""
    block = p.tenure.shape[1]
    while not np.all(join[:, -1] >= p.until):
        tenure = rng.standard_exponential((p.rate.size, block))
        vacancy = rng.standard_exponential((p.rate.size, block))
        more = _times(tenure, vacancy, p.rate, vacancy_months, join[:, -1], p.changes)
        leave, join = np.hstack([leave, more[0]]), np.hstack([join, more[1]])
    return leave, join


def spells_of(leave: np.ndarray, join: np.ndarray, until: np.ndarray, team: np.ndarray,
              post: np.ndarray) -> tuple[Spells, np.ndarray]:
    """The spells held before each post's end, from (P, C) leave and join months, and the
    post (P,) each spell belongs to."""
    start = np.concatenate([np.zeros((until.size, 1)), join[:, :-1]], axis=1)
    held = start < until[:, None]
    first = np.zeros(start.shape, dtype=bool)
    first[:, 0] = True
    rows = np.broadcast_to(np.arange(until.size)[:, None], start.shape)[held]
    return Spells(team[rows], start[held], np.minimum(leave, until[:, None])[held],
                  (leave < until[:, None])[held], first[held], post[rows]), post[rows]


def _stayers(team: np.ndarray, until: np.ndarray, post: np.ndarray) -> Spells:
    """Posts whose baseline holder stays to the team's end: one spell each."""
    return Spells(team, np.zeros(team.size), until, np.zeros(team.size, bool),
                  np.ones(team.size, bool), post)


def chunk_spells(posts: list[Posts], offsets: np.ndarray, vacancy_months: float,
                 rngs: list[np.random.Generator], ready: list | None = None) -> Spells:
    """Every replicate's spells, teams numbered across the chunk (replicate i's from
    ``offsets[i]``), in post order: posts whose first holder stays to the end keep one spell;
    the others' cycles are laid side by side (padded with cycles that never end); a
    replicate with a post needing more cycles than its block draws them (``more_cycles``).
    ``ready[i]``, if not None, is replicate i's spells already simulated (``moves``: teams
    and posts within the replicate), taken as they are."""
    team = np.concatenate([p.team + offsets[i] for i, p in enumerate(posts)])
    until = np.concatenate([p.until for p in posts])
    width = max(p.tenure.shape[1] for p in posts)
    fixed = [i for i, s in enumerate(ready or ()) if s is not None]
    if width == 0 and not fixed:
        return _stayers(team, until, np.arange(team.size))
    tenure = _side_by_side([p.tenure for p in posts], width, np.inf)
    rate = np.concatenate([p.rate for p in posts])
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        moving = np.flatnonzero(tenure[:, 0] / rate < until)   # first holder leaves in time
    vacancy = _side_by_side([p.vacancy for p in posts], width, 0.0)[moving]
    leave, join = _times(tenure[moving], vacancy, rate[moving], vacancy_months,
                         np.zeros(moving.size))
    rows = np.cumsum([0] + [p.team.size for p in posts])
    cols = np.repeat([p.tenure.shape[1] for p in posts], np.diff(rows))[moving]
    replicate = np.searchsorted(rows, moving, side="right") - 1
    short = np.unique(replicate[join[np.arange(moving.size), cols - 1] < until[moving]])
    short = np.union1d(short, np.array([i for i, p in enumerate(posts) if p.changes is not None]
                                       + fixed, dtype=np.int64))
    moved, post = spells_of(leave, join, until[moving], team[moving], moving)
    stay = np.setdiff1d(np.flatnonzero(until > 0), moving, assume_unique=True)
    if short.size:   # their spells are redrawn whole
        stay = stay[~np.isin(np.searchsorted(rows, stay, side="right") - 1, short)]
        keep = ~np.isin(np.searchsorted(rows, post, side="right") - 1, short)
        moved, post = Spells(*(getattr(moved, f)[keep] for f in FIELDS)), post[keep]
    parts, order = [_stayers(team[stay], until[stay], stay), moved], [stay, post]
    parts += [_placed(ready[i], offsets[i], rows[i]) if i in fixed else
              _redraw(posts[i], vacancy_months, rngs[i], offsets[i], rows[i])
              for i in short.tolist()]
    return _by_post(parts, np.concatenate(order + [s.post for s in parts[2:]]))


def _side_by_side(blocks: list[np.ndarray], width: int, fill: float) -> np.ndarray:
    """The blocks' rows one under another, each padded to ``width`` columns with ``fill``."""
    out = np.full((sum(b.shape[0] for b in blocks), width), fill)
    row = 0
    for b in blocks:
        out[row:row + b.shape[0], :b.shape[1]] = b
        row += b.shape[0]
    return out


def _placed(spells: Spells, offset: int, first_post: int) -> Spells:
    """A replicate's own spells with the chunk's team and post numbers."""
    return Spells(spells.team + offset, spells.start, spells.end, spells.left, spells.baseline,
                  spells.post + first_post, spells.arrived, spells.moved_on, spells.previous)


def _by_post(parts: list[Spells], post: np.ndarray) -> Spells:
    """The parts' spells in post order (stable); each part's ``previous`` (its own spell
    numbers) renumbered to the result's."""
    start = np.cumsum([0] + [s.team.size for s in parts])
    previous = np.concatenate([np.where(s.previous >= 0, s.previous + start[k], -1)
                               for k, s in enumerate(parts)])
    by_post = np.argsort(post, kind="stable")
    position = np.empty(by_post.size, dtype=np.int64)
    position[by_post] = np.arange(by_post.size)
    values = {f: np.concatenate([getattr(s, f) for s in parts])[by_post] for f in FIELDS}
    previous = previous[by_post]
    values["previous"] = np.where(previous >= 0, position[np.maximum(previous, 0)], -1)
    return Spells(**values)


def _redraw(p: Posts, vacancy_months: float, rng: np.random.Generator, offset: int,
            first_post: int) -> tuple[Spells, np.ndarray]:
    """All spells of one replicate whose first block is too short for some post: its block,
    then further blocks from its stream."""
    leave, join = _times(p.tenure, p.vacancy, p.rate, vacancy_months, np.zeros(p.rate.size),
                         p.changes)
    leave, join = more_cycles(p, vacancy_months, leave, join, rng)
    return spells_of(leave, join, p.until, p.team + offset,
                     first_post + np.arange(p.team.size))[0]


FIELDS = ("team", "start", "end", "left", "baseline", "post", "arrived", "moved_on", "previous")
