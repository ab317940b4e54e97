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


def services_problems(s) -> list[tuple[str, object, str]]:
    """Cross-field checks of the issue-14 keys; each problem is (path, value, what is allowed)."""
    out = _dropout_problems(s)
    lag = s.intervention.effect_lag_months
    if lag >= s.trial.months:
        out.append(("intervention.effect_lag_months", lag,
                    f"must be less than trial.months = {s.trial.months:g} (else no exposure counts)"))
    return out
