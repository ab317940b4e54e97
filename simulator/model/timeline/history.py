"""The frozen record of one timeline run, and the exposure computed from it."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from simulator.model.world import World
from simulator.model.timeline.events import Event
from simulator.model.timeline.staff_records import StaffSpells, staff_spells


@dataclass(frozen=True)
class TeamPath:
    """Piecewise-constant path of one team: value ``fidelity[k]`` holds on [times[k], times[k+1])."""

    times: np.ndarray
    fidelity: np.ndarray
    in_post: np.ndarray
    cumulative: np.ndarray   # ∫0^{times[k]} F_j(t) dt
    _lists: tuple = field(repr=False, compare=False, default=())   # (times, fidelity, cumulative)
    shares: np.ndarray | None = None   # (times, components) completion share of each component

    @classmethod
    def from_lists(cls, times, fidelity, in_post, shares=None) -> "TeamPath":
        cum = [0.0]
        for k in range(1, len(times)):   # paths are short: plain Python beats numpy here
            cum.append(cum[-1] + fidelity[k - 1] * (times[k] - times[k - 1]))
        return cls(np.array(times, dtype=float), np.array(fidelity, dtype=float),
                   np.array(in_post, dtype=np.int64), np.array(cum), (times, fidelity, cum),
                   None if shares is None else np.array(shares, dtype=float))

    def integral_to(self, month: float) -> float:
        """∫0^month F_j(t) dt, in fidelity-months."""
        times, fidelity, cum = self._lists or (self.times.tolist(), self.fidelity.tolist(),
                                               self.cumulative.tolist())
        k = bisect.bisect_right(times, month) - 1
        return float(cum[k] + fidelity[k] * (month - times[k]))

    def at(self, months: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(fidelity, staff in post) at the given months."""
        k = np.searchsorted(self.times, months, side="right") - 1
        return self.fidelity[k], self.in_post[k]

    def shares_at(self, months: np.ndarray) -> np.ndarray:
        """(months, components) completion share of each component at the given months (a
        path without shares, the fast engine's, is the one-component case: its fidelity)."""
        k = np.searchsorted(self.times, months, side="right") - 1
        return self.fidelity[k][:, None] if self.shares is None else self.shares[k]


@dataclass(frozen=True)
class TimelineHistory:
    months: float
    events: tuple[Event, ...]
    paths: tuple[TeamPath, ...]
    disband_month: np.ndarray        # (K,) nan if the team survived
    merge_month: np.ndarray          # (K,) month the team merged into another, nan if it did not
    merged_into: np.ndarray          # (K,) the team it merged into, -1 if none
    final_team: np.ndarray           # (n,) team at follow-up, -1 if lost at disbanding
    lost_month: np.ndarray           # (n,) nan unless lost at disbanding
    disrupted_month: np.ndarray      # (n,) first month the patient's team disbanded or merged
    #                                  into another, nan if never
    moves: tuple[tuple[float, int, int, int], ...]   # (month, patient, from team, to team or -1)
    exposure: np.ndarray             # (n,) E_ij in [0, 1]
    team_dose: np.ndarray            # (K,) time-averaged fidelity of each team over the trial
    #                                  (after a merge: of the team it merged into)
    fidelity_at_followup: np.ndarray  # (K,)
    baseline_staff_in_post: np.ndarray  # (K,) baseline staff still in post at follow-up
    staff_departures: np.ndarray     # (K,) staff who left the team (the service or to move)
    staff_flow: dict                 # name -> (K,): joined, moved_out, moved_in, removed,
    #                                  waiting (movers still waiting at follow-up), posts and
    #                                  in_post (at follow-up)
    staff: StaffSpells | None = None  # every member of staff's team spells (staff_records)

    def monthly(self, step: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(months, fidelity (K, M), staff in post (K, M)) on a regular grid including follow-up."""
        grid = np.append(np.arange(0.0, self.months, step), self.months)
        pairs = [p.at(grid) for p in self.paths]
        return grid, np.array([f for f, _ in pairs]), np.array([s for _, s in pairs])

    def monthly_shares(self, step: float = 1.0) -> np.ndarray:
        """(K, M, components) completion share of each component on ``monthly``'s grid."""
        grid = np.append(np.arange(0.0, self.months, step), self.months)
        return np.array([p.shares_at(grid) for p in self.paths])


def _paths(states) -> tuple[TeamPath, ...]:
    return tuple(TeamPath.from_lists(s.times, s.fidelity, s.in_post, s.shares) for s in states)


def patient_exposure(paths, patient_team, moves, months: float, lag: float = 0.0) -> np.ndarray:
    """E_ij = (1/T) Σ over the patient's team spells of ∫ F_team(t) dt up to T − L (0 once
    lost): fidelity of the last L months (``intervention.effect_lag_months``) does not yet count."""
    horizon = months - lag
    whole = np.array([p.integral_to(horizon) for p in paths])   # fidelity-months per team
    exposure = whole[patient_team].copy()
    spells: dict[int, list[tuple[float, int]]] = {}
    for month, i, _from, to in moves:
        spells.setdefault(i, [(0.0, int(patient_team[i]))]).append((month, to))
    cache: dict[tuple[int, float], float] = {}

    def upto(team: int, month: float) -> float:   # spells share a few (team, month) ends
        key = (team, month)
        if key not in cache:
            cache[key] = paths[team].integral_to(month)
        return cache[key]

    for i, spell in spells.items():
        ends = [min(m, horizon) for m, _ in spell[1:]] + [horizon]
        exposure[i] = sum(upto(team, end) - upto(team, start)
                          for (start, team), end in zip(spell, ends) if team >= 0 and start < end)
    return np.clip(exposure / months, 0.0, 1.0)


def _staff_flow(states) -> dict:
    flow = {k: np.array([s.flow[k] for s in states]) for k in states[0].flow}
    flow["waiting"] = np.array([len(s.waiting) for s in states])
    flow["posts"] = np.array([s.posts for s in states])
    flow["in_post"] = np.array([s.n for s in states])   # at follow-up (0 once ended)
    return flow


def team_doses(paths, states, months: float) -> np.ndarray:
    """(1/T) ∫0^T of each team's fidelity, following a merged team into the team it joined."""
    out = []
    for j, state in enumerate(states):
        total, team, start = 0.0, j, 0.0
        while states[team].merged_into >= 0:
            end = states[team].merged_at
            total += paths[team].integral_to(end) - paths[team].integral_to(start)
            team, start = states[team].merged_into, end
        out.append((total + paths[team].integral_to(months) - paths[team].integral_to(start))
                   / months if team != j else paths[j].integral_to(months) / months)
    return np.array(out)


def _disrupted(moves, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    for month, i, _from, _to in moves:
        if np.isnan(out[i]):
            out[i] = month
    return out


def build_history(months, log, states, membership, world: World, arm,
                  lag: float = 0.0) -> TimelineHistory:
    paths = _paths(states)
    moves = tuple(membership.moves)
    n = world.patient_team.shape[0]
    return TimelineHistory(
        months=months,
        events=tuple(log),
        paths=paths,
        disband_month=np.array([s.disbanded_at for s in states]),
        merge_month=np.array([s.merged_at for s in states]),
        merged_into=np.array([s.merged_into for s in states], dtype=np.int64),
        final_team=membership.current.copy(),
        lost_month=membership.lost_month.copy(),
        disrupted_month=_disrupted(moves, n),
        moves=moves,
        exposure=patient_exposure(paths, world.patient_team, moves, months, lag),
        team_dose=team_doses(paths, states, months),
        fidelity_at_followup=np.array([p.fidelity[-1] for p in paths]),
        baseline_staff_in_post=np.array([s.baseline_in_post() for s in states]),
        staff_departures=np.array([s.departures for s in states]),
        staff_flow=_staff_flow(states),
        staff=staff_spells(states, months),
    )
