"""Month-by-month summaries of a few simulated trials of one design point, for the timeline plot.

Replicate r of design point d is drawn with ``draw_replicate(scenario, r)`` from its own
seed streams (simulator/seeds.py), so the replicates shown are the run's first ones.
Every array is indexed (replicate, arm, month) with arm 0 = control, 1 = intervention.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from simulator.model.replicate import DROPPED, LOST, Replicate
from simulator.montecarlo.engine import draw_replicate
from simulator.scenario.schema import Scenario
from simulator.scenario.files import design_points


@dataclass(frozen=True)
class TimelineData:
    months: np.ndarray            # (M,) 0, 1, ..., trial.months
    fidelity: np.ndarray          # (R, 2, M) mean fidelity of the arm's teams not yet disbanded
    staff_filled: np.ndarray      # (R, 2, M) staff in post / posts, teams not yet disbanded
    dropout: np.ndarray           # (R, 2, M) share of the arm's patients dropped out by month
    lost_to_followup: np.ndarray  # (R, 2, M) dropped out or lost at disbanding, by month
    disbanded: np.ndarray         # (R, 2, M) teams of the arm disbanded by month
    merged: np.ndarray            # (R, 2, M) teams of the arm merged into another by month
    design_point: int
    swept: Mapping[str, Any]
    replicates: int


def _by_arm(values: np.ndarray, arm: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """(2, M) mean over the arm's teams alive at each month (nan when none are)."""
    out = np.full((2, values.shape[1]), np.nan)
    for a in (0, 1):
        mask = (arm == a)[:, None] & alive
        count = mask.sum(axis=0)
        out[a] = np.where(count > 0, (values * mask).sum(axis=0) / np.maximum(count, 1), np.nan)
    return out


def _patient_shares(rep: Replicate, months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2, M) cumulative share of each arm's patients dropped out, and dropped out or lost."""
    patient_arm = rep.arm[rep.world.patient_team]
    lost_month = np.nan_to_num(rep.history.lost_month, nan=np.inf)
    lost_at = np.where(rep.status == LOST, lost_month, np.inf)
    dropped_at = np.where(rep.status == DROPPED, rep.dropout_month, np.inf)
    dropout, either = np.zeros((2, months.size)), np.zeros((2, months.size))
    for a in (0, 1):
        sel = patient_arm == a
        dropout[a] = (dropped_at[sel, None] <= months).mean(axis=0)
        either[a] = (np.minimum(dropped_at, lost_at)[sel, None] <= months).mean(axis=0)
    return dropout, either


def replicate_timeline(rep: Replicate) -> dict[str, np.ndarray]:
    """One replicate's (2, M) arrays on the monthly grid of ``history.monthly()``; fidelity and
    staffing average the arm's teams still running (neither disbanded nor merged away)."""
    months, fidelity, in_post = rep.history.monthly()
    disband = np.nan_to_num(rep.history.disband_month, nan=np.inf)
    merge = np.where(rep.history.merged_into >= 0, rep.history.merge_month, np.inf)
    disbanded, merged = disband[:, None] <= months, merge[:, None] <= months
    gone = disbanded | merged       # a merged-away team's roster lives on in its partner
    arm = rep.arm.astype(int)
    dropout, lost = _patient_shares(rep, months)
    filled = in_post / rep.world.staff[:, None]
    return {"months": months, "fidelity": _by_arm(fidelity, arm, ~gone),
            "staff_filled": _by_arm(filled, arm, ~gone), "dropout": dropout,
            "lost_to_followup": lost,
            "disbanded": np.array([disbanded[arm == a].sum(axis=0) for a in (0, 1)], dtype=float),
            "merged": np.array([merged[arm == a].sum(axis=0) for a in (0, 1)], dtype=float)}


def timeline_data(scenario: Scenario, design_point: int = 0, replicates: int = 20,
                  engine: str = "simpy") -> TimelineData:
    """Simulate replicates 0..replicates-1 of the design point (on the run's ``engine``) and
    stack their monthly arrays."""
    point = design_points(scenario)[design_point]
    parts = [replicate_timeline(draw_replicate(point.scenario, r, engine=engine))
             for r in range(replicates)]
    stack = {k: np.stack([p[k] for p in parts]) for k in parts[0] if k != "months"}
    return TimelineData(months=parts[0]["months"], design_point=point.index,
                        swept=dict(point.swept), replicates=replicates, **stack)
