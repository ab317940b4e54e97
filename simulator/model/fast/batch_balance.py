"""The balance columns of a chunk's diagnostics at once: ``imbalance_max_smd`` and the
team-type counts that ``allocation.balance_diagnostics`` gives each replicate, bit for bit.

Replicates with the same number of teams in each arm are stacked: every covariate row of every
replicate becomes one row of a (replicates × rows, teams) array, each arm's columns gathered
in team order, and ``allocation.balance`` reduces it row by row with its own functions
(``_arm_stats``, ``row_smds``), so each row's SMD is the number it has alone. A category absent
from a replicate (its indicator row all zeros, which ``balance`` never builds) is left out of
that replicate's maximum.
"""
from __future__ import annotations

import numpy as np

from simulator.allocation import balance_diagnostics
from simulator.allocation.balance import _arm_stats, _type_dict, row_smds
from simulator.allocation.covariates import is_categorical
from simulator.model.replicate import balance_covariates

TYPES = "team_type"   # the categorical column whose spread the diagnostics count


def chunk_balance(worlds, arms, used=frozenset()) -> list[dict]:
    """``balance_diagnostics(balance_covariates(world, used), arm)`` of each replicate."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, arm in enumerate(arms):
        groups.setdefault((arm.size, int(np.count_nonzero(arm == 1))), []).append(i)
    out: list[dict] = [{} for _ in arms]
    for (k, n1), members in groups.items():
        covariates = [balance_covariates(worlds[i], used) for i in members]
        stacked = _stacked(covariates, [arms[i] for i in members])
        if stacked is None or n1 == 0 or n1 == k:
            rows = [balance_diagnostics(c, arms[i]) for c, i in zip(covariates, members)]
        else:
            rows = _group_balance(*stacked, n1)
        for i, row in zip(members, rows):
            out[i] = row
    return out


def _stacked(covariates: list[dict], arms: list[np.ndarray]):
    """(x (R, P, K), present (R, P), team-type (levels, first row), arm (R, K)), or None
    when the replicates' columns cannot be stacked (the per-replicate path then runs)."""
    names = list(covariates[0])
    if any(list(c) != names for c in covariates) or TYPES not in names:
        return None
    blocks, present, types = [], [], None
    for name in names:
        column = np.stack([np.asarray(c[name]) for c in covariates])   # (R, K)
        if is_categorical(column):
            levels, code = np.unique(column, return_inverse=True)
            indicators = code.reshape(column.shape)[:, None, :] == np.arange(levels.size)[:, None]
            if name == TYPES:
                types = (levels, sum(b.shape[1] for b in blocks))
            blocks.append(indicators.astype(float))
            present.append(indicators.any(axis=2))
        else:
            blocks.append(column[:, None, :].astype(float))
            present.append(np.ones((column.shape[0], 1), dtype=bool))
    if types is None:
        return None
    return np.concatenate(blocks, axis=1), np.concatenate(present, axis=1), types, np.stack(arms)


def _arm_rows(x: np.ndarray, arm: np.ndarray, n: int, first: bool) -> np.ndarray:
    """(R·P, n) each replicate's rows restricted to one arm's teams, in team order, C-contiguous."""
    order = np.argsort(arm == 0, axis=1, kind="stable")       # arm-1 teams first, in order
    index = order[:, :n] if first else order[:, n:]
    picked = np.take_along_axis(x, index[:, None, :], axis=2)
    return np.ascontiguousarray(picked.reshape(-1, picked.shape[2]))


def _group_balance(x, present, types, arm, n1: int) -> list[dict]:
    """The dicts of replicates stacked in ``x`` (R, P, K), all with ``n1`` intervention teams."""
    r, p, k = x.shape
    flat = np.ascontiguousarray(x.reshape(r * p, k))
    stats1 = _arm_stats(_arm_rows(x, arm, n1, True))
    stats0 = _arm_stats(_arm_rows(x, arm, n1, False))
    with np.errstate(invalid="ignore", divide="ignore"):
        smd = np.where(present, row_smds(flat, stats1, stats0).reshape(r, p), 0.0)
    worst = np.where(np.isnan(smd).any(axis=1), np.nan, np.abs(smd).max(axis=1)).tolist()
    levels, first = types
    rows = slice(first, first + levels.size)
    names = levels.tolist()
    ints = stats1[0].reshape(r, p)[:, rows].astype(int).tolist()
    ctls = stats0[0].reshape(r, p)[:, rows].astype(int).tolist()
    here = present[:, rows].tolist()
    out = []
    for i in range(r):
        kept = [j for j, h in enumerate(here[i]) if h]
        out.append({"imbalance_max_smd": worst[i],
                    **_type_dict([names[j] for j in kept], [ints[i][j] for j in kept],
                                 [ctls[i][j] for j in kept])})
    return out
