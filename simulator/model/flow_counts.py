"""The per-arm counts of the simulated CONSORT flow (outputs/flow.py draws them): teams,
patients and staff of each arm at each stage of one replicate."""
from __future__ import annotations

import numpy as np

ANALYSED, DROPPED, LOST = "analysed", "dropout", "lost"   # a patient's status at follow-up

FLOW_COUNTS = ("teams_randomised", "teams_disbanded", "patients_randomised",
               "patients_transferred_within", "patients_transferred_across", "patients_dropout",
               "patients_lost", "patients_analysed", "staff_baseline", "staff_left",
               "staff_newcomers", "staff_followup", "teams_merged", "staff_moved_out",
               "staff_moved_in", "staff_merged_across_out", "staff_merged_across_in")
_TEAM_COUNTS = FLOW_COUNTS[:2] + FLOW_COUNTS[8:]
_PATIENT_COUNTS = FLOW_COUNTS[2:8]


def _staff_merged_across(history, team_arm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K,) staff each team pooled into a team of the other arm, and received from one."""
    into, pooled = history.merged_into, history.staff_flow["merged_out"]
    across = (into >= 0) & (team_arm[np.maximum(into, 0)] != team_arm)
    out = np.where(across, pooled, 0)
    received = np.bincount(np.maximum(into, 0), weights=out, minlength=team_arm.size)
    return out, received


def arm_flow_counts(world, arm, history, status) -> dict:
    """Per-arm counts of the CONSORT flow (outputs/flow.py), keys ``<FLOW_COUNTS>_int|_ctl``:
    patients by randomised arm (transferred = in another team at follow-up, within or across
    arms), staff in post at baseline and at follow-up (0 in a disbanded or merged-away team),
    leavers (any departure from a team, moves included), newcomers (staff_join events), staff
    who moved out of and into the arm's teams, teams merged into another, and staff a merge
    pooled across arms. Per arm, baseline + newcomers + moved in + merged across in − left −
    merged across out − follow-up = staff in post when their team disbanded."""
    team_arm = np.asarray(arm).astype(int)
    own, final = world.patient_team, history.final_team
    moved = (final >= 0) & (final != own)
    across = moved & (team_arm[np.maximum(final, 0)] != team_arm[own])
    flow = history.staff_flow   # "joined": the staff_join events; "in_post": at follow-up
    per_team = np.array([np.ones(world.n_teams), ~np.isnan(history.disband_month),   # (11, K)
                         world.staff, history.staff_departures, flow["joined"],
                         flow["in_post"], history.merged_into >= 0,
                         flow["moved_out"], flow["moved_in"],
                         *_staff_merged_across(history, team_arm)], dtype=float)
    per_patient = np.array([np.ones(own.size), moved & ~across, across, status == DROPPED,
                            status == LOST, status == ANALYSED], dtype=float)     # (6, n)
    by_arm = np.array([team_arm == 1, team_arm == 0], dtype=float).T              # (K, 2)
    sums = np.concatenate([per_team @ by_arm, per_patient @ by_arm[own]])
    names = _TEAM_COUNTS + _PATIENT_COUNTS
    return {f"{k}_{arm}": v for k, row in zip(names, np.rint(sums).astype(int).tolist())
            for arm, v in zip(("int", "ctl"), row)}
