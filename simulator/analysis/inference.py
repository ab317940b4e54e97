"""Small pieces shared by the estimators: t-based inference (a batch of answers, or one) and
the covariate design (adjustment terms, team-level factor dummies, the ANCOVA design matrix)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from simulator.analysis.records import Estimate, ObservedTrial


@dataclass(frozen=True)
class EstimateArrays:
    """Struct-of-arrays twin of ``Estimate`` for a batch of trials: trial r's answer is row r
    of every field."""

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
    """Wald-type t inference, elementwise: CI ``estimate ± t_{1-alpha/2, df} · se`` and
    two-sided p.

    A row fails (nan, converged False) unless ``ok``, the estimate is finite, ``se > 0`` is
    finite, ``df >= 1`` and ``0 < alpha < 1``: a degenerate answer is reported as a failure,
    not as a silently wrong number (STYLE.md, principle 2). Uses the ufuncs
    ``scipy.special.stdtr`` / ``stdtrit`` (Student t cdf and its inverse), which are much
    faster than ``scipy.stats.t``.
    """
    ok = (ok & np.isfinite(estimate) & np.isfinite(se) & np.isfinite(df) & (se > 0)
          & (df >= 1) & (0 < alpha < 1))
    est, se, df = (np.where(ok, v, np.nan) for v in (estimate, se, df))
    half = special.stdtrit(df, 1.0 - alpha / 2.0) * se
    p = np.minimum(2.0 * special.stdtr(df, -np.abs(est / se)), 1.0)
    return EstimateArrays(est, se, df, est - half, est + half, p, ok)


def t_estimate(estimate: float, se: float, df: float, alpha: float) -> Estimate:
    """``t_estimates`` for one answer (a batch of one)."""
    with np.errstate(all="ignore"):
        return t_estimates(*(np.array([float(v)]) for v in (estimate, se, df)), alpha,
                           np.ones(1, bool)).records()[0]


def stratum_dummies(codes: np.ndarray) -> np.ndarray:
    """(n, S-1) 0/1 indicator columns of the S stratum codes present, lowest code dropped.

    With one stratum present the result has no columns, so callers can always stack it.
    """
    levels, index = np.unique(codes, return_inverse=True)
    return (index[:, None] == np.arange(1, levels.size)[None, :]).astype(float)


STANDARD_ADJUSTMENTS = ("baseline", "strata", "site", "team_type", "patients", "staff")


def resolve_adjustments(adjust_for, adjust_for_strata: bool = True) -> tuple[str, ...]:
    """The adjustment terms in use: ``adjust_for`` (``STANDARD_ADJUSTMENTS`` or the name of
    any team covariate of the trial), or, when it is None, the historical default
    ("baseline", plus "strata" if ``adjust_for_strata``).

    Raises ValueError for a term that is not a name (a configuration error, not a failed
    fit); a name the trial lacks raises when its columns are built (``team_columns``).
    """
    if adjust_for is None:
        return ("baseline", "strata") if adjust_for_strata else ("baseline",)
    terms = (adjust_for,) if isinstance(adjust_for, str) else tuple(adjust_for)
    bad = [t for t in terms if not isinstance(t, str) or not t]
    if bad:
        raise ValueError(f"adjust_for: {bad} are not names; use {list(STANDARD_ADJUSTMENTS)} "
                         "or team covariates")
    return terms


def expand_terms(trial: ObservedTrial, terms) -> tuple[str, ...]:
    """The team-level terms among ``terms`` (baseline left out), "strata" replaced by the
    design's own restriction when it is a set of covariates (``trial.strata_terms``:
    constrained randomisation's balance covariates), repeats dropped."""
    out = []
    for name in (t for t in terms if t != "baseline"):
        out += list(trial.strata_terms) if name == "strata" and trial.strata_terms else [name]
    return tuple(dict.fromkeys(out))


def _term_codes(trial: ObservedTrial, name: str) -> np.ndarray:
    """(K,) values of the team-level term ``name``: trial.strata or trial.covariates[name]."""
    if name == "strata":
        return np.asarray(trial.strata)
    if name not in trial.covariates:
        raise ValueError(f"adjust_for: unknown {name!r}, not among the trial's covariates "
                         f"{sorted(trial.covariates)}")
    return np.asarray(trial.covariates[name])


def _term_columns(values: np.ndarray) -> np.ndarray:
    """A numeric term as its own column, a factor (strata codes, text) as drop-first dummies."""
    if values.dtype.kind == "f":
        return values[:, None].astype(float)
    return stratum_dummies(values)


def team_dummies(trial: ObservedTrial, teams: np.ndarray, terms) -> np.ndarray:
    """(G, m) team-level adjustment columns of the terms among ``terms`` (``expand_terms``)
    for the analysed ``teams`` (ids into the trial's teams), in the order given.

    A factor ("strata", "site", "team_type", a categorical covariate): one 0/1 column per
    level present among ``teams``, first level dropped (as ``stratum_dummies``). A numeric
    covariate ("patients", "staff", a numeric team covariate): its values. A column in the
    span of the intercept and the columns kept before it is dropped (e.g. sites nested in
    strata). Collinearity with the arm is left in: then the arm effect is confounded with the
    adjustment, and the fit fails.
    """
    kept = np.ones((teams.size, 1))
    for name in expand_terms(trial, terms):
        for col in _term_columns(_term_codes(trial, name)[teams]).T:
            trial_cols = np.column_stack([kept, col])
            if np.linalg.matrix_rank(trial_cols) == trial_cols.shape[1]:
                kept = trial_cols
    return kept[:, 1:]


def ancova_design(trial: ObservedTrial, adjust_for_strata: bool = True, adjust_for=None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Complete cases, ITT: y, X = [1, arm, baseline?, factor dummies], team codes, team arms.

    Terms from ``resolve_adjustments``; the baseline score enters (and must be recorded for
    a patient to be analysed) only when "baseline" is among them; team-level columns from
    ``team_dummies``. Returns (y, X, groups, team_arm) with teams re-coded 0..G-1.
    """
    terms = resolve_adjustments(adjust_for, adjust_for_strata)
    keep = trial.observed & (np.isfinite(trial.baseline) if "baseline" in terms else True)
    teams, groups = np.unique(trial.team[keep], return_inverse=True)
    team_arm = trial.arm[teams]
    columns = [np.ones(groups.size), team_arm[groups].astype(float)]
    if "baseline" in terms:
        columns.append(trial.baseline[keep])
    columns.append(team_dummies(trial, teams, terms)[groups])
    return trial.followup[keep], np.column_stack(columns), groups, team_arm
