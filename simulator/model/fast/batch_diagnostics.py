"""A chunk's diagnostics at once: the dict ``model.replicate.diagnostics`` returns for each
replicate, the same keys and the same numbers bit for bit, from the chunk's teams and patients
laid end to end (replicate i's teams at ``team_start[i]:`` …, its patients likewise).

Counts are bincounts by replicate (exact in any order); means and variances reproduce the
per-replicate arithmetic segment by segment (``segments``: numpy's pairwise sums, then the
division by the count); the balance columns come from ``batch_balance``.
The per-replicate functions stay the reference (and the SimPy engine's path);
``tests/test_batch_diagnostics.py`` holds the two equal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from simulator.model.fast.batch_balance import chunk_balance
from simulator.model.fast.segments import (masked_means, segment_counts, segment_starts,
                                           segment_sums, segment_totals)
from simulator.model.flow_counts import DROPPED, LOST, _PATIENT_COUNTS, _TEAM_COUNTS


@dataclass(frozen=True)
class ChunkTeams:
    """The chunk's teams (G,) and patients (N,) laid end to end, indices made chunk-wide."""
    replicates: int
    team_rep: np.ndarray      # (G,) replicate of each team
    patient_rep: np.ndarray   # (N,) replicate of each patient
    arm: np.ndarray           # (G,) 1 intervention, 0 control
    own: np.ndarray           # (N,) each patient's randomised team, chunk-wide
    final: np.ndarray         # (N,) team at follow-up, chunk-wide; -1 lost
    into: np.ndarray          # (G,) team merged into, chunk-wide; -1 none
    status: np.ndarray        # (N,) analysed | dropout | lost
    code: np.ndarray          # (N,) the status as 0 analysed, 1 dropout, 2 lost


def _offset(index: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Replicate-local team indices made chunk-wide, -1 kept."""
    return np.where(index >= 0, index + first, -1)


def chunk_teams(worlds, arms, histories, statuses) -> ChunkTeams:
    """Lay the chunk's replicates end to end (``arms``: each replicate's (K,) int arm)."""
    k = np.array([w.n_teams for w in worlds])
    n = np.array([w.patient_team.size for w in worlds])
    first_team = np.repeat(np.concatenate([[0], np.cumsum(k)[:-1]]), n)
    patient_rep = np.repeat(np.arange(k.size), n)
    team_rep = np.repeat(np.arange(k.size), k)
    first_of_team = np.concatenate([[0], np.cumsum(k)[:-1]])[team_rep]
    cat = np.concatenate
    return ChunkTeams(
        k.size, team_rep, patient_rep, cat(arms).astype(int),
        cat([w.patient_team for w in worlds]) + first_team,
        _offset(cat([h.final_team for h in histories]), first_team),
        _offset(cat([h.merged_into for h in histories]), first_of_team),
        *_codes(cat(statuses)))


def _codes(status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(status, its codes: 0 analysed, 1 dropout, 2 lost)."""
    return status, (status == DROPPED) + 2 * (status == LOST).astype(np.int64)


def _patient_table(c: ChunkTeams, code: np.ndarray, levels: int) -> np.ndarray:
    """(R, 2, levels) patients of each replicate by randomised arm (intervention, control)
    and ``code`` (0 .. levels − 1): one bincount."""
    key = (2 * c.patient_rep + (c.arm[c.own] == 0)) * levels + code
    return np.bincount(key, minlength=c.replicates * 2 * levels).reshape(c.replicates, 2, levels)


def _stack(histories, name: str) -> np.ndarray:
    return np.concatenate([getattr(h, name) for h in histories])


def _flow(histories, name: str) -> np.ndarray:
    return np.concatenate([h.staff_flow[name] for h in histories])


def _core(c: ChunkTeams, worlds, histories) -> list[dict]:
    """The first keys of ``diagnostics``: teams and patients analysed, dropout, lost,
    disbanded, turnover, intervention fidelity, contamination."""
    r = c.replicates
    has = np.bincount(c.own[c.code == 0], minlength=c.arm.size) > 0
    by_status = _patient_table(c, c.code, 3).sum(axis=1)        # (R, 3)
    disbanded = ~np.isnan(_stack(histories, "disband_month"))
    crossed = (c.final >= 0) & (c.arm[np.maximum(c.final, 0)] != c.arm[c.own])
    surviving_int = (c.arm == 1) & ~disbanded & ~(c.into >= 0)
    fidelity = _stack(histories, "fidelity_at_followup")
    with np.errstate(invalid="ignore", divide="ignore"):
        turnover = (_totals(_stack(histories, "staff_departures"), c.team_rep, r)
                    / _totals(np.concatenate([w.staff for w in worlds]), c.team_rep, r))
    columns = {
        "teams_analysed_int": segment_counts(has & (c.arm == 1), c.team_rep, r),
        "teams_analysed_ctl": segment_counts(has & (c.arm == 0), c.team_rep, r),
        "patients_randomised": by_status.sum(axis=1),
        "patients_analysed": by_status[:, 0],
        "patients_dropout": by_status[:, 1],
        "patients_lost": by_status[:, 2],
        "teams_disbanded": segment_counts(disbanded, c.team_rep, r),
        "staff_turnover": turnover,
        "mean_fidelity_int": masked_means(fidelity, c.team_rep, surviving_int, r),
    }
    out = _rows(columns)
    crossings = segment_counts(crossed, c.patient_rep, r).tolist()
    sizes = by_status.sum(axis=1).tolist()
    for row, count, size in zip(out, crossings, sizes):
        row["contamination"] = count / size if size else float("nan")
    return out


def _totals(values: np.ndarray, team_rep: np.ndarray, r: int) -> np.ndarray:
    """(R,) each replicate's ``.sum()`` of a team column: exact integer totals for integers,
    else numpy's own sum replicate by replicate."""
    if values.dtype.kind in "biu":
        return segment_totals(values, team_rep, r)
    k = np.bincount(team_rep, minlength=r)
    return np.array([part.sum() for part in np.split(values, np.cumsum(k)[:-1])])


def _rows(columns: dict[str, np.ndarray]) -> list[dict]:
    """Columns of per-replicate numbers → one dict per replicate (ints stay ints, floats floats)."""
    names = list(columns)
    values = [columns[k].tolist() for k in names]
    return [dict(zip(names, row)) for row in zip(*values)]


def _flow_counts(c: ChunkTeams, worlds, histories) -> list[dict]:
    """``flow_counts.arm_flow_counts`` of every replicate: per-arm sums by bincount."""
    r = c.replicates
    merged_out = _flow(histories, "merged_out")
    across_merge = (c.into >= 0) & (c.arm[np.maximum(c.into, 0)] != c.arm)
    pooled = np.where(across_merge, merged_out, 0)
    received = np.bincount(np.maximum(c.into, 0), weights=pooled, minlength=c.arm.size)
    per_team = [np.ones(c.arm.size), ~np.isnan(_stack(histories, "disband_month")),
                np.concatenate([w.staff for w in worlds]), _stack(histories, "staff_departures"),
                _flow(histories, "joined"), _flow(histories, "in_post"), c.into >= 0,
                _flow(histories, "moved_out"), _flow(histories, "moved_in"), pooled, received]
    moved = (c.final >= 0) & (c.final != c.own)
    across = moved & (c.arm[np.maximum(c.final, 0)] != c.arm[c.own])
    columns = {}
    for name, values in zip(_TEAM_COUNTS, per_team):
        columns.update(_by_arm(name, np.asarray(values, dtype=float), c.team_rep, c.arm, r))
    status = _patient_table(c, c.code, 3)                              # (R, arm, status)
    moves = _patient_table(c, moved.astype(np.int64) + across, 3)       # (R, arm, none|within|across)
    tables = {"patients_randomised": status.sum(axis=2), "patients_transferred_within":
              moves[:, :, 1], "patients_transferred_across": moves[:, :, 2],
              "patients_dropout": status[:, :, 1], "patients_lost": status[:, :, 2],
              "patients_analysed": status[:, :, 0]}
    for name in _PATIENT_COUNTS:
        columns[f"{name}_int"], columns[f"{name}_ctl"] = tables[name][:, 0], tables[name][:, 1]
    return _rows(columns)


def _by_arm(name: str, values: np.ndarray, segment: np.ndarray, arm: np.ndarray,
            r: int) -> dict[str, np.ndarray]:
    """``<name>_int`` and ``<name>_ctl`` per replicate: the sums of whole numbers held as
    floats (exact in any order), rounded to int as ``arm_flow_counts`` does."""
    return {f"{name}_{label}": np.rint(np.bincount(segment, weights=values * (arm == a),
                                                   minlength=r)).astype(int)
            for label, a in (("int", 1), ("ctl", 0))}


def _services(c: ChunkTeams, histories) -> list[dict]:
    """``replicate.services_diagnostics`` of every replicate."""
    r = c.replicates
    running_ctl = (c.arm == 0) & np.isnan(_stack(histories, "disband_month")) & (c.into < 0)
    fidelity = _stack(histories, "fidelity_at_followup")
    exposure = _stack(histories, "exposure")
    held = c.final[c.final >= 0]
    sizes = np.bincount(held, minlength=c.arm.size)
    columns = {
        "mean_fidelity_ctl": masked_means(fidelity, c.team_rep, running_ctl, r),
        "mean_exposure_ctl": masked_means(exposure, c.patient_rep, c.arm[c.own] == 0, r),
        "staff_moves": segment_totals(_flow(histories, "moved_out"), c.team_rep, r),
        "teams_merged": segment_counts(c.into >= 0, c.team_rep, r),
        "final_cluster_size_var": _size_variances(sizes, c.team_rep, r),
    }
    return _rows(columns)


def _size_variances(sizes: np.ndarray, team_rep: np.ndarray, r: int) -> np.ndarray:
    """(R,) ``np.var(s, ddof=1)`` of each replicate's non-zero team sizes s, nan below two,
    in numpy's steps (``numpy/_core/_methods.py``, ``_var``): the integer total over the
    count, each deviation squared, their pairwise sum over (count - 1)."""
    held = sizes > 0
    rep = team_rep[held]
    count = np.bincount(rep, minlength=r)
    total = segment_totals(sizes[held], rep, r)
    with np.errstate(invalid="ignore", divide="ignore"):
        deviation = sizes[held] - (total / count)[rep]
        squares = segment_sums(deviation * deviation, segment_starts(count), count)
        return np.where(count > 1, squares / (count - 1), np.nan)


def chunk_diagnostics(worlds: Sequence, arms: Sequence[np.ndarray], histories: Sequence,
                      statuses: Sequence[np.ndarray], used=frozenset()) -> list[dict]:
    """``replicate.diagnostics(world, allocation, history, status, outcomes, used)`` of every
    replicate of the chunk, in order, equal to it key for key and bit for bit."""
    c = chunk_teams(worlds, arms, histories, statuses)
    parts = (_core(c, worlds, histories), chunk_balance(worlds, arms, used),
             _flow_counts(c, worlds, histories), _services(c, histories))
    out = []
    for rows in zip(*parts):
        merged: dict = {}
        for row in rows:
            merged.update(row)
        out.append(merged)
    return out
