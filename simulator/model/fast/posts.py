"""Staff posts as alternating renewal processes, for one replicate, in arrays.

Each post of team j is filled at month 0; its holder stays ~ Exp(h_j) months (h_j the leave
rate per month, h·exp(κ L_j)/12), the post is then vacant ~ Exp with mean V months, refilled by
an untrained newcomer who stays ~ Exp(h_j), and so on (DESIGN.md "Staff turnover"). This is
the SimPy engine's competing-risks roster (n staff each leaving at rate h_j, one chosen
uniformly) seen post by post: the exponential is memoryless, so the two are the same process.

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

    team: np.ndarray      # (S,) int, team within the replicate
    start: np.ndarray     # (S,) float months
    end: np.ndarray       # (S,) float months
    left: np.ndarray      # (S,) bool
    baseline: np.ndarray  # (S,) bool: the post's holder at month 0


def _cycles(months: float, rate: np.ndarray, vacancy_months: float) -> int:
    """Leave–refill cycles drawn per post at once: enough for about 3 times the expected count
    (more are drawn if a post needs them)."""
    per_cycle = 1.0 / max(float(rate.max()), 1e-300) + vacancy_months
    return int(np.ceil(3.0 * months / per_cycle)) + 2


def _renewal_times(rate: np.ndarray, vacancy_months: float, until: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(leave, join) months, each (P, C): leave[c] ends holder c's spell, join[c] starts holder
    c+1's. Cycles are drawn in blocks (tenures then vacancies, standard exponentials) until
    every post's last join is at or after its ``until``."""
    block = _cycles(float(until.max()), rate, vacancy_months)
    leave = np.empty((rate.size, 0))
    join = np.empty((rate.size, 0))
    last = np.zeros(rate.size)
    while True:
        tenure = rng.standard_exponential((rate.size, block)) / rate[:, None]
        vacancy = rng.standard_exponential((rate.size, block)) * vacancy_months
        steps = np.stack([tenure, vacancy], axis=2).reshape(rate.size, 2 * block)
        times = last[:, None] + np.cumsum(steps, axis=1)
        leave = np.concatenate([leave, times[:, 0::2]], axis=1)
        join = np.concatenate([join, times[:, 1::2]], axis=1)
        last = join[:, -1]
        if np.all(last >= until):
            return leave, join


def post_spells(posts: np.ndarray, rate_per_month: np.ndarray, vacancy_months: float,
                team_end: np.ndarray, rng: np.random.Generator) -> Spells:
    """The spells of every post of K teams up to each team's end (K,) months (its disbanding,
    else follow-up). ``posts`` (K,) establishment, ``rate_per_month`` (K,) leave rate."""
    post_team = np.repeat(np.arange(posts.size), posts)
    until = team_end[post_team]
    rate = rate_per_month[post_team]
    if not np.any(rate > 0):
        ones = np.ones(post_team.size, dtype=bool)
        return Spells(post_team, np.zeros(post_team.size), until, ~ones, ones)
    with np.errstate(divide="ignore", over="ignore"):
        leave, join = _renewal_times(rate, vacancy_months, until, rng)
    start = np.concatenate([np.zeros((rate.size, 1)), join[:, :-1]], axis=1)   # (P, C)
    held = start < until[:, None]
    end = np.minimum(leave, until[:, None])
    first = np.zeros(start.shape, dtype=bool)
    first[:, 0] = True
    return Spells(np.broadcast_to(post_team[:, None], start.shape)[held], start[held],
                  end[held], (leave < until[:, None])[held], first[held])
