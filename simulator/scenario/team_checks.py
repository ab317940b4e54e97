"""Cross-field checks of the team list against the rest of the scenario (part of
``schema.check_consistency``): the table's own cells, the columns the scenario names, and the
trial keys that follow from the list. Each problem is (where, value, what is allowed)."""
from __future__ import annotations

from typing import Any

import numpy as np

from simulator.scenario.counts import category_counts
from simulator.scenario.teams import Problem, TeamTable, locator, number, row_problems

STRATA_STANDARD = ("site", "team_type")
BALANCE_STANDARD = ("site", "team_type", "patients", "staff")
ADJUST_STANDARD = ("baseline", "strata", "site", "team_type", "patients", "staff")


def adjustments(s: Any) -> list[tuple[str, str]]:
    """(where, name) of every analysis adjustment term, variants' included."""
    out = [(f"analysis.adjust_for[{i}]", n) for i, n in enumerate(s.analysis.adjust_for)]
    for label, v in s.analysis.variants.items():
        out += [(f"analysis.variants.{label}.adjust_for[{i}]", n)
                for i, n in enumerate(v.adjust_for or ())]
    return out


def used_columns(s: Any) -> set[str]:
    """Team-list columns the scenario names (strata, balance_on, covariate effects,
    analysis adjustments)."""
    return {*s.allocation.strata, *s.allocation.balance_on, *s.outcome.covariate_effects,
            *(name for _, name in adjustments(s))}


def team_list_problems(s: Any) -> list[Problem]:
    """Every problem of the team list, or of names that need one, in a resolved scenario."""
    trial = s.trial
    if trial.team_list is None:
        return [] if trial.teams_file else _name_problems(s, None)
    table: TeamTable = trial.team_table
    out = row_problems(trial.team_list, locator(trial.teams_file), used_columns(s))
    if table.n_teams < 4:
        out.append((trial.teams_file or "trial.team_list", f"{table.n_teams} team(s)",
                    "a trial needs at least 4 teams"))
    out += _not_numbers(s, table)
    return out + _name_problems(s, table) + _follows_problems(s, table)


def _not_numbers(s: Any, table: TeamTable) -> list[Problem]:
    """The cells that keep a column with covariate effects from being numeric."""
    where, out = locator(s.trial.teams_file), []
    for name in s.outcome.covariate_effects:
        column = table.covariates.get(name)
        if column is None or table.numeric(name):
            continue
        out += [(where(i, name), text, f"not a number; outcome.covariate_effects.{name} needs "
                 "a numeric column") for i, text in enumerate(column.tolist())
                if text != "" and number(text) is None]
    return out


def _listed(table: TeamTable | None) -> str:
    if table is None:
        return "no team list is given (trial.teams_file or trial.team_list)"
    covariates = [c for c in table.columns if c in table.covariates]
    return f"team list covariates: {', '.join(covariates) or 'none'}"


def _name_problems(s: Any, table: TeamTable | None) -> list[Problem]:
    covariates = table.covariates if table is not None else {}
    listed, out = _listed(table), []
    out += [(f"{s.trial.teams_file or 'trial.team_list'} column {name}", name,
             "a reserved name (baseline, strata, arm); rename the column")
            for name in covariates if name in ("baseline", "strata", "arm")]
    for i, name in enumerate(s.allocation.strata):
        if name in STRATA_STANDARD:
            continue
        if name not in covariates:
            out.append((f"allocation.strata[{i}]", name, "unknown; use site, team_type or a "
                        f"categorical column of the team list ({listed})"))
        elif table.numeric(name):
            out.append((f"allocation.strata[{i}]", name, "a numeric column; strata need a "
                        "categorical one (text values); balance numbers with allocation.balance_on"))
    for i, name in enumerate(s.allocation.balance_on):
        if name not in BALANCE_STANDARD and name not in covariates:
            out.append((f"allocation.balance_on[{i}]", name, "unknown column; use site, "
                        f"team_type, patients, staff or a column of the team list ({listed})"))
    for where, name in adjustments(s):
        if name not in ADJUST_STANDARD and name not in covariates:
            out.append((where, name, "unknown; use baseline, strata, site, team_type, "
                        f"patients, staff or a column of the team list ({listed})"))
    for name in s.outcome.covariate_effects:
        if name not in covariates:
            out.append((f"outcome.covariate_effects.{name}", name,
                        f"not a column of the team list ({listed})"))
        elif not table.numeric(name) and not any(number(v) is not None
                                                 for v in table.covariates[name].tolist()):
            out.append((f"outcome.covariate_effects.{name}", name, "a categorical column; "
                        "covariate effects are points per unit of a numeric column"))
    return out


def _follows_problems(s: Any, table: TeamTable) -> list[Problem]:
    """trial.teams, trial.sites and trial.team_types, where given, must agree with the list."""
    k, out = table.n_teams, []
    if k >= 4 and s.trial.teams != k:
        out.append(("trial.teams", s.trial.teams,
                    f"the team list has {k} teams; leave trial.teams out (it follows from the list)"))
    if table.patients is not None and np.all(table.patients >= 1) and \
            abs(s.trial.patients_per_team.mean - table.patients.mean()) > 1e-9:
        out.append(("trial.patients_per_team.mean", s.trial.patients_per_team.mean,
                    f"the team list's patients have mean {table.patients.mean():g}; leave "
                    "the mean out (it follows from the list; recruitment varies by the cv)"))
    for column, key in (("site", "sites"), ("team_type", "team_types")):
        values = getattr(table, column)
        if values is None or k == 0 or np.any(values == ""):
            continue
        counts = {v: int(np.sum(values == v)) for v in dict.fromkeys(values.tolist())}
        given = getattr(s.trial, key)
        if set(given) != set(counts) or category_counts(k, given) != counts:
            out.append((f"trial.{key}", given, f"the team list has {counts}; leave "
                        f"trial.{key} out (it follows from the list)"))
    return out
