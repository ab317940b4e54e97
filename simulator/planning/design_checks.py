"""Will each planned analysis be computable for this design? Checked on replicate 0's trial
(the design's own strata, pairs or balance covariates, before dropout) and reported by
``crtsim validate``, in run.json and in report.html (issue 12).

A warning names the design point, the analysis and why:
* a stratum (or the odd team out of matched pairs) holding one team: its dummy absorbs the
  team; GEE's small-sample corrections then see a team with leverage 1 and every fit fails;
* a stratum of stratified randomisation with fewer than two teams cannot be balanced;
* more team-level adjustment columns than the teams leave degrees of freedom for (mixed
  model and cluster-level: K − 2 − columns; matched pairs cluster-level: P − 1 − columns).
"""
from __future__ import annotations

import numpy as np

from simulator.analysis.inference import resolve_adjustments, team_dummies
from simulator.analysis.registry import analysis_plan
from simulator.montecarlo.engine import draw_replicate

TEAM_LEVEL = ("mixed_ancova", "cluster_summary", "gee_robust", "implementation_split",
              "permutation", "cace_iv")


def _where(swept: dict) -> str:
    return f" at {', '.join(f'{k} = {v}' for k, v in swept.items())}" if swept else ""


def _terms(planned) -> tuple[str, ...]:
    o = planned.options
    if planned.estimator in ("permutation", "cace_iv"):
        return ("baseline", "strata") if o.adjust_for_strata else ("baseline",)
    return resolve_adjustments(o.adjust_for)


def _df_left(trial, terms) -> tuple[int, int, str]:
    """(df left, team-level columns, what counts the teams) for ``terms`` on every team."""
    teams = np.arange(trial.n_teams)
    if trial.paired and "strata" in terms:
        columns = team_dummies(trial, teams, [t for t in terms if t != "strata"]).shape[1]
        pairs = int(np.sum(np.bincount(trial.strata) == 2))
        return pairs - 1 - columns, columns, f"{pairs} pairs"
    columns = team_dummies(trial, teams, terms).shape[1]
    return trial.n_teams - 2 - columns, columns, f"{trial.n_teams} teams"


def analysis_warnings(trial, planned, at: str) -> list[str]:
    """Why ``planned`` cannot (or can barely) be computed on ``trial``'s design."""
    if planned.estimator not in TEAM_LEVEL:
        return []
    terms, out = _terms(planned), []
    df, columns, counted = _df_left(trial, terms)
    if df < 1:
        out.append(f"{planned.label}{at}: cannot be computed: {counted} leave {df} degrees of "
                   f"freedom after {columns} team-level adjustment column(s)")
    uses_codes = "strata" in terms and not trial.strata_terms and not (
        trial.paired and planned.estimator == "cluster_summary")
    single = int(np.sum(np.bincount(trial.strata) == 1)) if uses_codes else 0
    if single and planned.estimator == "gee_robust" and planned.options.gee_correction != "none":
        out.append(f"{planned.label}{at}: cannot be computed: {single} stratum/strata hold one "
                   f"team, which has leverage 1, so the {planned.options.gee_correction} "
                   "small-sample correction fails in every trial (adjust for fewer strata, or "
                   "use gee_correction: none)")
    elif single and trial.paired:
        out.append(f"{planned.label}{at}: the odd team out of the matched pairs has a pair "
                   "dummy of its own, which absorbs it: it adds nothing to the arm comparison")
    elif single:
        out.append(f"{planned.label}{at}: {single} stratum/strata hold one team; its dummy "
                   "absorbs the team, which then adds nothing to the arm comparison")
    return out


SPACE_KEYS = ("n_candidates", "enumerated", "n_kept", "cutoff_score", "pair_together_min",
              "pair_together_max", "pairs_always_together", "pairs_always_apart", "warning")


def design_record(points) -> dict:
    """run.json's ``design``: the warnings, and each constrained point's kept space
    (replicate 0's world: sizes, cutoff, share of kept allocations with a pair together)."""
    warnings, spaces = [], []
    for point in points:
        rep = draw_replicate(point.scenario, 0)
        warnings += _point_warnings(point, rep.trial)
        if point.scenario.allocation.method == "constrained":
            info = rep.allocation.info
            spaces.append({"design_point": point.index, "swept": dict(point.swept),
                           "metric": point.scenario.allocation.balance_metric,
                           **{k: info[k] for k in SPACE_KEYS if k in info}})
    return {"warnings": list(dict.fromkeys(warnings)), "constrained_spaces": spaces}


def design_warnings(points) -> list[str]:
    """Every warning of every design point (replicate 0's world and allocation)."""
    return design_record(points)["warnings"]


def _point_warnings(point, trial) -> list[str]:
    s, at, out = point.scenario, _where(dict(point.swept)), []
    if s.allocation.method == "stratified":
        small = int(np.sum(np.bincount(trial.strata) == 1))
        if small:
            out.append(f"allocation{at}: {small} stratum/strata of the stratified allocation "
                       "hold one team and cannot be balanced")
    for planned in analysis_plan(s.analysis):
        out += analysis_warnings(trial, planned, at)
    return out
