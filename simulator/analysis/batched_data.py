"""Trial data for the batched analyses: team summaries of many trials by segment sums, and the
struct-of-arrays result ``EstimateArrays`` (see ``batched.py``)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np
from scipy import special

from simulator.analysis.records import Estimate, ObservedTrial

_CONSTANT = 1e-20  # baseline centred SS below this share of its raw SS: baseline constant
_BLOCK = 1024      # trials per array block (bounds memory at ~50 MB for 30 teams)


@dataclass(frozen=True)
class EstimateArrays:
    """Struct-of-arrays twin of ``Estimate``: trial r's answer is row r of every field."""

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray
    converged: np.ndarray

    def records(self) -> list[Estimate]:
        columns = [getattr(self, f.name).tolist() for f in fields(Estimate)]
        return [Estimate(*row) for row in zip(*columns)]


def t_estimates(estimate, se, df, alpha: float, ok) -> EstimateArrays:
    """``inference.t_estimate`` elementwise; rows with ``ok`` False (or degenerate) fail."""
    ok = (ok & np.isfinite(estimate) & np.isfinite(se) & np.isfinite(df) & (se > 0)
          & (df >= 1) & (0 < alpha < 1))
    est, se, df = (np.where(ok, v, np.nan) for v in (estimate, se, df))
    half = special.stdtrit(df, 1.0 - alpha / 2.0) * se
    p = np.minimum(2.0 * special.stdtr(df, -np.abs(est / se)), 1.0)
    return EstimateArrays(est, se, df, est - half, est + half, p, ok)


@dataclass(frozen=True)
class Analysed:
    """Team summaries of R trials' analysed patients (follow-up observed, and baseline
    finite if ``with_baseline``), teams in trial order, empty teams dropped. Per team:
    trial, arm, stratum level (code's rank in its trial), slot in its trial, n_j, ȳ_j, b̄_j.
    Per trial: teams, strata, patients, (Wbb, Wby, Wyy), all follow-ups finite, and the
    number of randomised teams K (the padded width, fixed by the trial itself)."""

    trial: np.ndarray
    arm: np.ndarray
    level: np.ndarray
    slot: np.ndarray
    n_j: np.ndarray
    ybar: np.ndarray
    bbar: np.ndarray
    n_teams: np.ndarray
    n_levels: np.ndarray
    n_obs: np.ndarray
    within: np.ndarray
    finite: np.ndarray
    width: np.ndarray


def segment_sums(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Sums over consecutive runs of ``lengths`` elements of float ``values`` (0 if empty)."""
    if values.size == 0:
        return np.zeros(lengths.size)
    starts = np.minimum(np.cumsum(lengths) - lengths, values.size - 1)
    return np.where(lengths > 0, np.add.reduceat(values, starts), 0.0)


def _stratum_levels(trial: np.ndarray, codes: np.ndarray, R: int):
    """(rank of each team's code among its trial's distinct codes, codes per trial)."""
    order = np.lexsort((codes, trial))
    t, c = trial[order], codes[order]
    first, new = np.ones(t.size, bool), np.ones(t.size, bool)
    first[1:] = t[1:] != t[:-1]
    new[1:] = first[1:] | (c[1:] != c[:-1])
    level_id = np.cumsum(new) - 1
    base = np.zeros(R, np.intp)
    base[t[first]] = level_id[first]
    level = np.empty(t.size, np.intp)
    level[order] = level_id - base[t]
    return level, np.bincount(t[new], minlength=R)


def _concat(trials: Sequence[ObservedTrial], name: str, dtype=None) -> np.ndarray:
    return np.concatenate([np.asarray(getattr(t, name), dtype) for t in trials])


def analyse_teams(trials: Sequence[ObservedTrial], with_baseline: bool) -> Analysed:
    """One pass of segment sums over every patient of every trial (global team index)."""
    R = len(trials)
    sizes = np.array([t.team.size for t in trials], np.intp)
    widths = np.array([t.arm.size for t in trials], np.intp)
    y, base = _concat(trials, "followup", float), _concat(trials, "baseline", float)
    team = _concat(trials, "team", np.intp) + np.repeat(np.cumsum(widths) - widths, sizes)
    keep = ~np.isnan(y) & (np.isfinite(base) if with_baseline else True)
    if not keep.all():
        y, base, team = y[keep], base[keep], team[keep]
        sizes = segment_sums(keep.astype(float), sizes).astype(np.intp)
    counts = np.bincount(team, minlength=widths.sum())
    present = counts > 0
    group = (np.cumsum(present) - 1)[team]
    n_j = counts[present].astype(float)
    ybar = np.bincount(group, y, n_j.size) / n_j
    bbar = np.bincount(group, base, n_j.size) / n_j
    bc, yc = base - bbar[group], y - ybar[group]
    within = np.column_stack([segment_sums(v, sizes) for v in (bc * bc, bc * yc, yc * yc)])
    trial = np.repeat(np.arange(R), widths)[present]
    n_teams = np.bincount(trial, minlength=R)
    level, n_levels = _stratum_levels(trial, _concat(trials, "strata")[present], R)
    return Analysed(trial, _concat(trials, "arm")[present], level,
                    np.arange(n_j.size) - (np.cumsum(n_teams) - n_teams)[trial], n_j, ybar,
                    bbar, n_teams, n_levels, sizes, within,
                    segment_sums((~np.isfinite(y)).astype(float), sizes) == 0, widths)
