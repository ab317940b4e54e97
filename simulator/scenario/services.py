"""Scenario rules of the services that change and the effects that take time (issue 14):
effect lag, dropout as a yearly hazard, staff who move, team merges.

Kept apart from ``schema`` so its sections stay as they are; this module reads sections by
attribute only and imports nothing of crtsim (``schema`` imports it).
"""
from __future__ import annotations

import math
from typing import Any

DEFAULT_MONTHS = 12.0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def implied_attrition(rate_per_year: float, months: float) -> float:
    """Share lost by follow-up at a constant hazard: 1 − exp(−rate · T / 12)."""
    return -math.expm1(-rate_per_year * months / 12.0)


def attrition_from_rate(data: Any) -> Any:
    """Raw scenario mapping with ``dropout.attrition`` set from ``dropout.rate_per_year``.

    Giving both is an error (``services_problems``), so the given attrition is left for it to
    report; values of the wrong type are left for the schema to report."""
    if not isinstance(data, dict) or not isinstance(data.get("dropout"), dict):
        return data
    dropout, trial = data["dropout"], data.get("trial", {})
    rate = dropout.get("rate_per_year")
    months = trial.get("months", DEFAULT_MONTHS) if isinstance(trial, dict) else None
    if "attrition" in dropout or not _number(rate) or not _number(months) or rate < 0:
        return data
    share = implied_attrition(rate, months)
    if not share < 1.0:
        return data
    return {**data, "dropout": {**dropout, "attrition": share}}


def _dropout_problems(s) -> list[tuple[str, object, str]]:
    d, months = s.dropout, s.trial.months
    if d.rate_per_year is None:
        return []
    if "attrition" in d.model_fields_set and d.attrition != implied_attrition(d.rate_per_year, months):
        return [("dropout.attrition", d.attrition,
                 "give either dropout.attrition (share lost by follow-up) or dropout.rate_per_year "
                 "(a hazard; attrition then grows with trial.months), not both")]
    if not implied_attrition(d.rate_per_year, months) < 1.0:
        return [("dropout.rate_per_year", d.rate_per_year,
                 f"loses every patient within trial.months = {months:g}; use a smaller rate")]
    return []


def _site_problems(s) -> list[tuple[str, object, str]]:
    """A scheduled disbanding or merge confined to a site must name one of the trial's sites
    (not checked when the teams come from a team list, whose sites the list itself names)."""
    if getattr(s.trial, "team_list", None) or getattr(s.trial, "teams_file", None):
        return []
    rc, out = s.reconfiguration, []
    for path, events in (("reconfiguration.scheduled", rc.scheduled),
                         ("reconfiguration.merges.scheduled", rc.merges.scheduled)):
        for i, ev in enumerate(events):
            if ev.site is not None and ev.site not in s.trial.sites:
                out.append((f"{path}[{i}].site", ev.site,
                            f"not a site of trial.sites ({', '.join(s.trial.sites)})"))
    return out


def _merge_problems(s, n_int: int) -> list[tuple[str, object, str]]:
    """Scheduled merges happen before follow-up and leave each arm a team (two when the analysis
    is by final cluster)."""
    m, months, out = s.reconfiguration.merges, s.trial.months, []
    for i, ev in enumerate(m.scheduled):
        if ev.month >= months:
            out.append((f"reconfiguration.merges.scheduled[{i}].month", ev.month,
                        f"not before follow-up (trial.months = {months:g})"))
    pairs = sum(ev.pairs for ev in m.scheduled)
    per_arm = math.ceil(pairs / 2) if m.within == "arm" else pairs
    smallest = min(n_int, s.trial.teams - n_int)
    keep = 2 if s.analysis.cluster == "final" else 1   # analysed by final cluster: 2 per arm
    most = max(smallest - keep, 0)
    if pairs and per_arm > most:
        out.append(("reconfiguration.merges.scheduled", pairs,
                    f"{pairs} merges could leave an arm ({smallest} teams in the smaller) with "
                    f"fewer than {keep} team(s); within {m.within}, at most "
                    f"{2 * most if m.within == 'arm' else most} allowed"))
    return out


def services_problems(s, n_int: int) -> list[tuple[str, object, str]]:
    """Cross-field checks of the issue-14 keys; each problem is (path, value, what is allowed).
    ``n_int``: teams in the intervention arm."""
    out = _dropout_problems(s)
    lag = s.intervention.effect_lag_months
    if lag >= s.trial.months:
        out.append(("intervention.effect_lag_months", lag,
                    f"must be less than trial.months = {s.trial.months:g} (else no exposure counts)"))
    return out + _site_problems(s) + _merge_problems(s, n_int)
