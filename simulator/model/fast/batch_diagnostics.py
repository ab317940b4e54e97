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
from simulator.model.flow_counts import ANALYSED, DROPPED, LOST, _PATIENT_COUNTS, _TEAM_COUNTS


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
        cat(statuses))


def _stack(histories, name: str) -> np.ndarray:
    return np.concatenate([getattr(h, name) for h in histories])


def _flow(histories, name: str) -> np.ndarray:
    return np.concatenate([h.staff_flow[name] for h in histories])


def _core(c: ChunkTeams, worlds, histories) -> list[dict]:
    """The first keys of ``diagnostics``: teams and patients analysed, dropout, lost,
    disbanded, turnover, intervention fidelity, contamination."""
    r = c.replicates
    analysed = c.status == ANALYSED
    has = np.bincount(c.own[analysed], minlength=c.arm.size) > 0
    disbanded = ~np.isnan(_stack(histories, "disband_month"))
    crossed = (c.final >= 0) & (c.arm[np.maximum(c.final, 0)] != c.arm[c.own])
    surviving_int = (c.arm == 1) & ~disbanded & ~(c.into >= 0)
    fidelity = _stack(histories, "fidelity_at_followup")
    with np.errstate(invalid="ignore", divide="ignore"):
        turnover = (np.array([h.staff_departures.sum() for h in histories])
                    / np.array([w.staff.sum() for w in worlds]))
    columns = {
        "teams_analysed_int": segment_counts(has & (c.arm == 1), c.team_rep, r),
        "teams_analysed_ctl": segment_counts(has & (c.arm == 0), c.team_rep, r),
        "patients_randomised": np.bincount(c.patient_rep, minlength=r),
        "patients_analysed": segment_counts(analysed, c.patient_rep, r),
        "patients_dropout": segment_counts(c.status == DROPPED, c.patient_rep, r),
        "patients_lost": segment_counts(c.status == LOST, c.patient_rep, r),
        "teams_disbanded": segment_counts(disbanded, c.team_rep, r),
        "staff_turnover": turnover,
        "mean_fidelity_int": masked_means(fidelity, c.team_rep, surviving_int, r),
    }
    out = _rows(columns)
    crossings = segment_counts(crossed, c.patient_rep, r).tolist()
    sizes = np.bincount(c.patient_rep, minlength=r).tolist()
    for row, count, size in zip(out, crossings, sizes):
        row["contamination"] = count / size if size else float("nan")
    return out


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
    per_patient = [np.ones(c.own.size), moved & ~across, across, c.status == DROPPED,
                   c.status == LOST, c.status == ANALYSED]
    columns = {}
    for name, values in zip(_TEAM_COUNTS, per_team):
        columns.update(_by_arm(name, np.asarray(values, dtype=float), c.team_rep, c.arm, r))
    patient_arm = c.arm[c.own]
    for name, values in zip(_PATIENT_COUNTS, per_patient):
        columns.update(_by_arm(name, np.asarray(values, dtype=float), c.patient_rep,
                               patient_arm, r))
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
