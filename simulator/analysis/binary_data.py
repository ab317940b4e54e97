"""A batch of binary-outcome trials as flat arrays, and the per-team / per-trial segment sums
the binary estimators share.

Shapes: R trials, K randomised teams per trial (the same K for the whole batch: one design
point), n analysed patients over all trials, q patient-level covariates.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .inference import EstimateArrays, t_estimates

__all__ = ["BinaryTrials", "Layout", "EstimateArrays", "t_estimates", "layout", "failed"]


@dataclass(frozen=True)
class BinaryTrials:
    """What R trials observed.

    trial: (n,) int in 0..R-1, the trial of each patient
    team:  (n,) int in 0..K-1, the team each patient was randomised with (ITT)
    arm:   (R, K) int, 1 = intervention, 0 = control, per randomised team
    y:     (n,) float 0/1 outcome; nan = not observed (the patient is not analysed)
    x:     (n, q) float patient covariates (q = 0 allowed; a column constant within every team
           is a team-level covariate and costs a between-team df); a row with nan is dropped
    """

    trial: np.ndarray
    team: np.ndarray
    arm: np.ndarray
    y: np.ndarray
    x: np.ndarray | None = None

    @classmethod
    def single(cls, team, arm, y, x=None) -> "BinaryTrials":
        """One trial (R = 1) from its patients' team codes, per-team arms, outcomes, covariates."""
        team = np.asarray(team, np.intp)
        return cls(np.zeros(team.size, np.intp), team, np.asarray(arm)[None, :], y, x)

    @property
    def n_trials(self) -> int:
        return int(self.arm.shape[0])

    @property
    def covariates(self) -> np.ndarray:
        """(n, q) covariates, q = 0 when none were given."""
        y = np.asarray(self.y, float)
        if self.x is None:
            return np.zeros((y.size, 0))
        x = np.asarray(self.x, float)
        return x[:, None] if x.ndim == 1 else x


@dataclass(frozen=True)
class Layout:
    """Analysed patients sorted by team, teams with ≥ 1 analysed patient numbered 0..G-1 in
    (trial, team) order. Patient arrays (n,): y, group (team number), x (n, q). Team arrays
    (G,): trial, arm, n_j, start (first patient). Trial arrays (R,): n_teams, n1, n0 (teams
    analysed per arm), n_team_level (covariates constant within every team of the trial),
    n_obs (patients)."""

    y: np.ndarray
    x: np.ndarray
    group: np.ndarray
    trial: np.ndarray
    arm: np.ndarray
    n_j: np.ndarray
    start: np.ndarray
    n_teams: np.ndarray
    n1: np.ndarray
    n0: np.ndarray
    n_team_level: np.ndarray
    n_obs: np.ndarray

    @property
    def n_trials(self) -> int:
        return int(self.n_teams.size)

    def team_sum(self, values: np.ndarray) -> np.ndarray:
        """Sums over each team's patients along axis 0: (n, ...) -> (G, ...)."""
        if self.n_j.size == 0:
            return np.zeros((0,) + np.shape(values)[1:])
        return np.add.reduceat(values, self.start, axis=0)

    def trial_sum(self, values: np.ndarray) -> np.ndarray:
        """Sums over each trial's teams along axis 0: (G, ...) -> (R, ...), 0 for no teams."""
        out = np.zeros((self.n_trials,) + np.shape(values)[1:])
        np.add.at(out, self.trial, values)
        return out

    @cached_property
    def patient_trial(self) -> np.ndarray:
        """(n,) trial of each analysed patient."""
        return self.trial[self.group]

    def trial_mean_of_teams(self, values: np.ndarray) -> np.ndarray:
        """(R,) unweighted mean over each trial's analysed teams of (G,) values."""
        return self.trial_sum(values) / self.n_teams


def _team_level_count(x: np.ndarray, group: np.ndarray, start: np.ndarray,
                      trial: np.ndarray, R: int) -> np.ndarray:
    """(R,) number of covariate columns constant within every team of each trial."""
    if x.shape[1] == 0 or start.size == 0:
        return np.zeros(R, np.intp)
    varies = np.abs(x - x[start][group]) > 0                      # (n, q)
    team_varies = np.add.reduceat(varies.astype(np.intp), start, axis=0) > 0   # (G, q)
    trial_varies = np.zeros((R, x.shape[1]), bool)
    np.logical_or.at(trial_varies, trial, team_varies)
    return (~trial_varies).sum(axis=1)


def layout(trials: BinaryTrials) -> Layout:
    """Drop unobserved patients (y or a covariate nan), sort by (trial, team), number the
    teams present, and count teams per arm and team-level covariates per trial."""
    R, K = trials.arm.shape
    x = trials.covariates
    y = np.asarray(trials.y, float)
    keep = np.isfinite(y) & np.isfinite(x).all(axis=1)
    code = (np.asarray(trials.trial, np.intp) * K + np.asarray(trials.team, np.intp))[keep]
    order = np.argsort(code, kind="stable")
    code, y, x = code[order], y[keep][order], x[keep][order]
    teams, start, n_j = np.unique(code, return_index=True, return_counts=True)
    group = np.repeat(np.arange(teams.size), n_j)
    trial, arm = teams // K, np.asarray(trials.arm).reshape(-1)[teams]
    count = lambda mask: np.bincount(trial, mask, minlength=R).astype(np.intp)  # noqa: E731
    return Layout(y, x, group, trial, arm, n_j.astype(float), start, count(np.ones(teams.size)),
                  count(arm == 1), count(arm == 0),
                  _team_level_count(x, group, start, trial, R),
                  np.bincount(trial, n_j, minlength=R).astype(np.intp))


def failed(R: int) -> EstimateArrays:
    """R failed fits (nan, converged False)."""
    nan = np.full(R, np.nan)
    return t_estimates(nan, nan, nan, 0.05, np.zeros(R, bool))



def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges [starts[k], starts[k] + lengths[k])."""
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(int(lengths.sum())) + offsets


def subset(lay: Layout, rows: np.ndarray) -> tuple[Layout, np.ndarray]:
    """(layout of trials ``rows`` (increasing) alone, renumbered 0.., their team numbers in
    ``lay``). A trial's own arrays, and so its arithmetic, are the same in either layout."""
    first_team = np.cumsum(lay.n_teams) - lay.n_teams
    teams = _ranges(first_team[rows], lay.n_teams[rows])
    patients = _ranges(lay.start[teams], lay.n_j[teams].astype(np.intp))
    n_j = lay.n_j[teams]
    new_trial = np.repeat(np.arange(rows.size), lay.n_teams[rows])
    pick = lambda v: v[rows]  # noqa: E731
    sub = Layout(lay.y[patients], lay.x[patients], np.repeat(np.arange(teams.size),
                 n_j.astype(np.intp)), new_trial, lay.arm[teams], n_j,
                 (np.cumsum(n_j) - n_j).astype(np.intp), pick(lay.n_teams), pick(lay.n1),
                 pick(lay.n0), pick(lay.n_team_level), pick(lay.n_obs))
    return sub, teams


def trial_block(lay: Layout, r0: int, r1: int) -> Layout:
    """The layout of trials r0..r1-1 alone (trials renumbered from 0)."""
    return subset(lay, np.arange(r0, r1))[0]
