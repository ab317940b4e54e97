"""One replicate's ``TimelineHistory`` cut from the chunk's arrays, the record the SimPy engine
returns, so outcomes, dropout, diagnostics, the analysis and ``crtsim draw`` work unchanged.

The event log and the per-team paths are built only on request (``detail``: ``crtsim draw``);
a run needs neither (its diagnostics read the arrays).
"""
from __future__ import annotations

import numpy as np

from simulator.model.fast.paths import JOIN, LEAVE, MOVE_IN, MOVE_OUT
from simulator.model.fast.staff import replicate_staff
from simulator.model.fast.timeline import ChunkTimeline, Draws
from simulator.model.timeline.events import Event
from simulator.model.timeline.history import TeamPath, TimelineHistory


def _first_moves(moves: list, n: int) -> np.ndarray:
    """(n,) month of each patient's first move, nan if none (moves are in time order)."""
    out = np.full(n, np.nan)
    if moves:
        month = np.array([m[0] for m in moves])
        patient = np.array([m[1] for m in moves], dtype=np.int64)
        _, first = np.unique(patient, return_index=True)
        out[patient[first]] = month[first]
    return out


def _team_paths(chunk: ChunkTimeline, rows: slice) -> tuple[TeamPath, ...]:
    """Each team's path, one entry per month at which something changed (the last value)."""
    out = []
    for g in range(rows.start, rows.stop):
        month, _kind, in_post, fidelity, shares = chunk.paths.of_team(g)
        keep = np.append(month[1:] != month[:-1], True)
        out.append(TeamPath.from_lists(month[keep].tolist(), fidelity[keep].tolist(),
                                       in_post[keep].tolist(), shares[keep].tolist()))
    return tuple(out)


def _events(chunk: ChunkTimeline, rows: slice, draws: Draws) -> tuple[Event, ...]:
    """Staff leaving and joining (with staff in post after), sessions (their component, with
    attendance),
    disbanding and patient moves, in time order."""
    log = list(draws.reconfigured.events)
    attended, held = chunk.attended[rows], chunk.held[rows]
    kinds = {LEAVE: "staff_leave", JOIN: "staff_join", MOVE_OUT: "staff_move_out",
             MOVE_IN: "staff_move_in"}
    for j, g in enumerate(range(rows.start, rows.stop)):
        month, kind, in_post, _fidelity, _shares = chunk.paths.of_team(g)
        for c in np.flatnonzero(np.isin(kind, list(kinds))).tolist():
            log.append(Event(float(month[c]), kinds[int(kind[c])], j, -1, int(in_post[c])))
        schedule = draws.schedule
        for s, (month, c) in enumerate(zip(schedule.month.tolist(), schedule.component.tolist())):
            if draws.taught[j] and held[j, s]:
                log.append(Event(month, "session", j, c, int(attended[j, s])))
    return tuple(sorted(log, key=lambda e: e.month))


def replicate_history(chunk: ChunkTimeline, rows: slice, patients: slice, draws: Draws,
                      months: float, *, detail: bool = False) -> TimelineHistory:
    """Replicate's teams ``rows`` and patients ``patients`` of the chunk."""
    k = rows.stop - rows.start
    membership = draws.reconfigured.membership
    gone = draws.reconfigured.disband_month
    remaining = chunk.remaining[rows]
    zero = np.zeros(k, dtype=np.int64)
    waiting, removed = (draws.moved[1].waiting, draws.moved[1].removed) if draws.moved \
        else (zero, zero)
    return TimelineHistory(
        months=months,
        events=_events(chunk, rows, draws) if detail else (),
        paths=_team_paths(chunk, rows) if detail else (),
        disband_month=gone, merge_month=draws.reconfigured.merge_month.copy(),
        merged_into=draws.reconfigured.merged_into.astype(np.int64),
        final_team=membership.current.copy(), lost_month=membership.lost_month.copy(),
        disrupted_month=_first_moves(membership.moves, membership.current.size),
        moves=tuple(membership.moves),
        exposure=chunk.exposure[patients], team_dose=chunk.team_dose[rows],
        fidelity_at_followup=chunk.fidelity_at_followup[rows],
        baseline_staff_in_post=chunk.baseline_in_post[rows],
        staff_departures=chunk.departures[rows],
        staff=replicate_staff(chunk.staff, rows, draws.schedule),
        staff_flow={"joined": chunk.joined[rows], "moved_out": chunk.moved_out[rows],
                    "moved_in": chunk.moved_in[rows],
                    "merged_out": chunk.merged_out[rows], "merged_in": chunk.merged_in[rows],
                    "removed": np.where(np.isnan(gone), 0, remaining) + removed,
                    "waiting": waiting,
                    "posts": chunk.establishment[rows],
                    "in_post": np.where(np.isnan(gone), remaining, 0)})
