"""Team merges in arrays: whose team each post is in over time, and the spells cut at merges.

When team b merges into team a (``reconfiguration.merges``; the SimPy engine's
``timeline.merges``), b's posts, holders (with the sessions each attended), vacancies and
patients carry on in a: the holders begin a new spell in a (``moved``; b's manager is a member
of staff there), b's vacant posts are refilled as a's, and a merged team merging again takes
them on. A post is therefore one alternating renewal process from month 0 to the end of the
last team it belongs to (its ``until``), its leave rate the owning team's (``rate_changes``;
``posts.after_hazard``: a holder in post at a merge leaves at the new rate from then on). Each post's chain of
owners — its own team, then the team it merged into from the merge month, and so on — is
(G, D + 1) owners and (G, D) months (inf past the last merge), D the longest chain.

A holder's spell is cut at each merge it spans into pieces, one per team (``Pieces``); a
piece is what the SimPy roster closes: its team, months, and how it ended (left the service,
merged, or with its team at disbanding or follow-up).

Shapes: (S,) holders' spells, (P,) pieces, (G,) teams, (M,) sessions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.model.fast.posts import Spells


@dataclass(frozen=True)
class Chains:
    """Each team's chain of owners: ``owner[g, d]`` holds g's posts from ``month[g, d - 1]``."""

    owner: np.ndarray   # (G, D + 1) int, owner[:, 0] = the team itself
    month: np.ndarray   # (G, D) months of the merges, inf past the chain's end

    def at(self, team: np.ndarray, months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(owner, depth), each (S, M): the team holding the posts of ``team`` (S,) at each
        month (M,) (a merge month already counts), and how many merges they have gone through."""
        if self.month.shape[1] == 0:   # no merges: every team holds its own posts
            shape = (team.size, months.size)
            return np.broadcast_to(team[:, None], shape), np.zeros(shape, dtype=np.int64)
        depth = np.sum(self.month[team][:, None, :] <= months[None, :, None], axis=2)
        return np.take_along_axis(self.owner[team], depth, axis=1), depth


def chains(merged_into: np.ndarray, merge_month: np.ndarray) -> Chains:
    """The chunk's chains from each team's merge (global indices; -1: none)."""
    g = merged_into.size
    owner, month = [np.arange(g)], []
    team = np.arange(g)
    while True:
        nxt = np.where(team >= 0, merged_into[np.maximum(team, 0)], -1)
        if not np.any(nxt >= 0):
            break
        month.append(np.where(nxt >= 0, merge_month[np.maximum(team, 0)], np.inf))
        owner.append(np.where(nxt >= 0, nxt, owner[-1]))
        team = nxt
    return Chains(np.stack(owner, axis=1), np.stack(month, axis=1) if month
                  else np.empty((g, 0)))


def rate_changes(merged_into: np.ndarray, merge_month: np.ndarray,
                 rate: np.ndarray) -> tuple | None:
    """(months (K, D), rates (K, D + 1)) of the leave rate of each team's posts along its chain
    (the owner's rate from each merge), or None when no merge changes a rate."""
    if not np.any(merged_into >= 0):
        return None
    chain = chains(merged_into, merge_month)
    rates = rate[chain.owner]
    if not np.any(rates != rates[:, :1]):
        return None
    return chain.month, rates


def final_end(merged_into: np.ndarray, team_end: np.ndarray) -> np.ndarray:
    """(K,) the end of the last team of each team's chain: its posts' ``until``."""
    last = np.arange(merged_into.size)
    while np.any(merged_into[last] >= 0):
        last = np.where(merged_into[last] >= 0, merged_into[last], last)
    return team_end[last]


@dataclass(frozen=True)
class Pieces:
    """Each holder's spell cut at merges: one piece per team."""

    holder: np.ndarray   # (P,) the spell (index into ``Spells``)
    team: np.ndarray     # (P,) the team the piece is in
    start: np.ndarray    # (P,)
    end: np.ndarray      # (P,)
    left: np.ndarray     # (P,) bool: ended by leaving the service
    merged: np.ndarray   # (P,) bool: ended when its team merged into another
    moved: np.ndarray    # (P,) bool: began with a merge (not the holder's first piece)
    owned: np.ndarray    # (P,) bool: in the team that owned the post at month 0
    arrived: np.ndarray  # (P,) bool: began with a staff move in (``moves``)
    moved_on: np.ndarray  # (P,) bool: ended by a staff move out (also ``left``)


def cut(spells: Spells, chain: Chains) -> Pieces:
    """The pieces of every spell (one per spell without merges)."""
    times = chain.month[spells.team]                                    # (S, D)
    before = np.sum(times <= spells.start[:, None], axis=1)             # merges before it began
    inside = np.sum((times > spells.start[:, None]) & (times < spells.end[:, None]), axis=1)
    n = 1 + inside
    holder = np.repeat(np.arange(spells.team.size), n)
    k = np.arange(holder.size) - np.repeat(np.cumsum(n) - n, n)         # piece within spell
    depth = before[holder] + k
    padded = np.concatenate([times, np.full((times.shape[0], 1), np.inf)], axis=1)
    last = k == n[holder] - 1
    begin = np.where(k == 0, spells.start[holder], padded[holder, np.maximum(depth - 1, 0)])
    end = np.where(last, spells.end[holder], padded[holder, np.minimum(depth, times.shape[1])])
    return Pieces(holder, chain.owner[spells.team[holder], depth], begin, end,
                  spells.left[holder] & last, ~last, k > 0, depth == 0,
                  spells.arrived[holder] & (k == 0), spells.moved_on[holder] & last)
