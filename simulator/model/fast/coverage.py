"""Which scenarios the fast engine covers: a whitelist of the scenario keys it simulates.

``--engine auto`` runs the fast engine only when every key a scenario sets away from its
default is listed here (with, where only some values are covered, a test of the value).
Anything else — a key this list does not name, such as a process added after the fast engine
was written — falls back to the SimPy engine, the reference. To cover a new process, simulate
it in ``model/fast/``, add its keys here, and add a case to the engine-agreement tests
(``tests/test_fast_equivalence.py``: ``AGREEMENT_CASES``).
"""
from __future__ import annotations

from typing import Any, Callable

from pydantic import BaseModel

from simulator.scenario.schema import Scenario

ANY: Callable[[Any], bool] = lambda value: True   # noqa: E731

# Dotted key -> which of its values the fast engine simulates.
COVERED: dict[str, Callable[[Any], bool]] = {
    **{f"trial.{k}": ANY for k in (
        "teams", "intervention_share", "sites", "team_types", "patients_per_team.mean",
        "patients_per_team.cv", "staff_per_team.mean", "staff_per_team.sd",
        "staff_per_team.min", "months", "teams_file", "team_list")},
    **{f"outcome.{k}": ANY for k in (
        "name", "mean", "sd", "icc", "individual_autocorrelation", "cluster_autocorrelation",
        "team_type_effects", "leadership_effect", "covariate_effects", "type",
        "control_proportion", "odds_ratio_at_full_implementation")},
    # outcomes after the timeline need only its exposures (``model.outcome_list``)
    "secondary_outcomes": ANY,
    **{f"intervention.{k}": ANY for k in (
        "effect_at_full_implementation", "dose_response", "dose_threshold", "attendance",
        "leadership_on_attendance", "session_months", "sessions_to_train",
        "refresher_every_months", "measurement_noise_sd", "effect_lag_months",
        "components", "refresher_for", "participation_weights", "dose_weights")},
    # the staff outcome of the stayers (``model/fast/staff.py``: the staff records)
    **{f"staff_outcome.{k}": ANY for k in (
        "name", "mean", "sd", "icc", "autocorrelation", "effect_at_full_dose", "estimators")},
    **{f"staff_turnover.{k}": ANY for k in (
        "annual_rate", "vacancy_months", "leadership_on_turnover", "move_share")},
    **{f"reconfiguration.{k}": ANY for k in (
        "disband_rate_per_team_year", "scheduled", "patient_transfer_probability",
        "merges.rate_per_team_year", "merges.scheduled", "merges.within")},
    **{f"dropout.{k}": ANY for k in (
        "attrition", "mechanism", "strength", "differential_by_arm", "disruption_effect",
        "rate_per_year")},
    **{f"allocation.{k}": ANY for k in (
        "method", "strata", "balance_on", "constrained_fraction", "max_enumerate",
        "minimisation_probability", "balance_metric")},
    **{f"analysis.{k}": ANY for k in (
        "alpha", "adjust_for", "df_method", "gee_correction", "permutations", "cluster",
        "binary_estimators", "cost_estimators", "multiplicity", "co_primary",
        # score-based ones too: the participation score pools the stayers' staff records
        "estimators", "variants")},
    **{k: ANY for k in ("name", "description", "seed", "replicates", "sweep")},
    # each replicate runs under its drawn values (``montecarlo.engine``): covered when every
    # key with a prior is
    "priors": lambda priors: all(_covered_key(key) for key in priors),
}


def _covered_key(dotted: str) -> bool:
    """A key, or the mapping it is an entry of (``outcome.team_type_effects.<type>``), that
    the fast engine simulates at any value."""
    parts = dotted.split(".")
    return any(COVERED.get(".".join(parts[:n]), _never) is ANY for n in range(len(parts), 0, -1))


def _settings(model: BaseModel, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value of every setting, sections flattened (lists and maps kept whole)."""
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            out.update(_settings(value, key + "."))
        else:
            out[key] = value
    return out


def uncovered(scenario: Scenario) -> list[str]:
    """The keys ``scenario`` sets away from the defaults that the fast engine does not
    simulate (empty: it covers the scenario)."""
    defaults = _settings(Scenario(name=scenario.name))
    return [key for key, value in _settings(scenario).items()
            if value != defaults.get(key, object()) and not COVERED.get(key, _never)(value)]


def _never(value: Any) -> bool:
    return False


class EngineNotCovered(ValueError):
    """``--engine fast`` for a scenario the fast engine does not simulate."""


def choose_engine(scenarios: list[Scenario], requested: str) -> tuple[str, str]:
    """(engine, why) for a run over ``scenarios`` (its design points): ``simpy`` and ``fast``
    as asked; ``auto`` the fast engine when it covers every design point, else SimPy.
    Raises ``EngineNotCovered`` when ``fast`` is asked for a scenario it does not cover."""
    missing = list(dict.fromkeys(k for s in scenarios for k in uncovered(s)))
    if requested == "simpy":
        return "simpy", "asked for (--engine simpy)"
    if not missing:
        return "fast", ("asked for (--engine fast)" if requested == "fast"
                        else "auto: the fast engine covers every process and setting used")
    words = ", ".join(missing)
    if requested == "fast":
        raise EngineNotCovered(f"the fast engine does not cover {words}; use --engine simpy or auto")
    return "simpy", f"auto: the fast engine does not cover {words}"
