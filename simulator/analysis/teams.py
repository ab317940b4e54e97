"""Team summaries of a batch of trials (one trial is a batch of one), the input of the
batched mixed-model and cluster-level analyses.

One pass of segment sums over all patients of all trials (global team index) gives, per team
with an analysed patient, n_j, ȳ_j and b̄_j; only the baseline varies within teams, so the
pooled within-team cross-products are three numbers per trial (Wbb, Wby, Wyy). Team-level
columns (factor dummies of strata, site, team type or categorical covariates; numeric
covariates such as patients or staff) come from ``factor_dummies``. Trials are analysed in
``blocks`` of one dummy count and one randomised team count K, which is a trial's own padded
width: which trials share a block never changes a trial's answer (row independence,
``analysis.linalg``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from simulator.analysis.inference import team_dummies
from simulator.analysis.records import ObservedTrial

BLOCK = 1024  # trials per array block (bounds memory at ~50 MB for 30 teams)


@dataclass(frozen=True)
class Analysed:
    """Team summaries of R trials' analysed patients (follow-up observed, and baseline
    finite if ``with_baseline``), teams in trial order, empty teams dropped. Per team:
    trial, arm, stratum level (code's rank in its trial), slot in its trial, team id in its
    trial, n_j, ȳ_j, b̄_j. Per trial: teams, strata, patients, (Wbb, Wby, Wyy), all
    follow-ups finite, and the number of randomised teams K (the padded width)."""

    trial: np.ndarray
    arm: np.ndarray
    level: np.ndarray
    slot: np.ndarray
    team: np.ndarray
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
    ids = (np.arange(widths.sum()) - np.repeat(np.cumsum(widths) - widths, widths))[present]
    return Analysed(trial, _concat(trials, "arm")[present], level,
                    np.arange(n_j.size) - (np.cumsum(n_teams) - n_teams)[trial], ids, n_j,
                    ybar, bbar, n_teams, n_levels, sizes, within,
                    segment_sums((~np.isfinite(y)).astype(float), sizes) == 0, widths)


def factor_dummies(trials: Sequence[ObservedTrial], a: Analysed, terms
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(per analysed team its team-level adjustment columns, padded with zeros; column count
    per trial): ``inference.team_dummies`` of the team-level terms among ``terms`` (factor
    dummies, numeric covariates), over each trial's analysed teams. Strata codes alone, the
    engine's usual case, from the levels at once (the same columns: drop-first dummies of the
    codes present)."""
    factors = [t for t in terms if t != "baseline"]
    if factors == ["strata"] and not any(t.strata_terms for t in trials):
        n_dummies = np.maximum(a.n_levels - 1, 0)
        levels = np.arange(1, n_dummies.max(initial=0) + 1)
        return (a.level[:, None] == levels[None, :]).astype(float), n_dummies
    if not factors:
        return np.zeros((a.trial.size, 0)), np.zeros(len(trials), np.intp)
    start = np.cumsum(a.n_teams) - a.n_teams
    parts = [team_dummies(t, a.team[s:s + k], factors) for t, s, k in zip(trials, start, a.n_teams)]
    n_dummies = np.array([d.shape[1] for d in parts], np.intp)
    out = np.zeros((a.trial.size, n_dummies.max(initial=0)))
    for d, s in zip(parts, start):
        out[s:s + d.shape[0], :d.shape[1]] = d
    return out, n_dummies


def select(a: Analysed, dummies: np.ndarray, rows: np.ndarray, n_dummies: int):
    """(mask of the teams of trials ``rows``, their trial's position in ``rows``, their
    first ``n_dummies`` dummy columns)."""
    rank = np.full(a.n_teams.size, -1)
    rank[rows] = np.arange(rows.size)
    tm = rank[a.trial] >= 0
    return tm, rank[a.trial[tm]], [dummies[tm, k] for k in range(n_dummies)]


def blocks(mask: np.ndarray, labels: np.ndarray, widths: np.ndarray | None = None):
    """(label, rows) for each label (and width, if given) among ``mask``, rows in blocks of
    at most ``BLOCK``. Which rows share a block never changes a row's answer."""
    keys = np.stack([labels, np.zeros_like(labels) if widths is None else widths], 1)
    for label, width in np.unique(keys[mask], axis=0):
        rows = np.flatnonzero(mask & (labels == label) & (keys[:, 1] == width))
        for start in range(0, rows.size, BLOCK):
            yield int(label), rows[start:start + BLOCK]
