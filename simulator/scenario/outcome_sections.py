"""The outcomes a trial measures (issue 15): the primary ``outcome:`` (continuous or binary),
``secondary_outcomes:`` (continuous, binary, cost) and the multiplicity families of
``analysis.multiplicity``. Key names are a public contract (issue 15 "Key names").

Every secondary has ``correlation: {patient: r, team: r}``: the correlation of its latent
patient-level and team-level components with the primary's (a Gaussian copula on the latent
scale; ``model/secondary_outcomes.py``).
"""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import Field

from simulator.scenario.section import Section

# Applied only to the types a scenario has (``Scenario._default_effects_for_listed_types``).
DEFAULT_TEAM_TYPE_EFFECTS = {"assertive_outreach": -3.0, "supported_accommodation": -2.0}
BINARY_ESTIMATORS = ("cluster_summary", "gee_robust", "glmm")
COST_ESTIMATORS = ("mixed_ancova", "cluster_summary")
Effect = Annotated[float, Field(ge=-1e6, le=1e6)]


class ContinuousKeys(Section):
    """The keys of a continuous outcome (the primary's and a continuous secondary's)."""

    mean: float = Field(40.0, ge=-1e6, le=1e6)
    sd: float = Field(10.1, gt=0, le=1e6)
    icc: float = Field(0.05, ge=0, lt=1)
    individual_autocorrelation: float = Field(0.5, ge=-1, le=1)
    cluster_autocorrelation: float = Field(0.8, ge=-1, le=1)
    team_type_effects: dict[str, Effect] = dict(DEFAULT_TEAM_TYPE_EFFECTS)
    leadership_effect: float = Field(0.0, ge=-1e6, le=1e6, description="outcome points per SD of team leadership")
    covariate_effects: dict[str, Effect] = Field(
        {}, description="points per unit of a numeric team-list covariate (centred at its mean)")


class Outcome(ContinuousKeys):
    """The primary outcome. ``type: binary`` makes it a binary outcome (random-intercept
    logistic; ``icc`` on the proportion scale); the continuous keys then describe the latent
    score that drives MNAR dropout and the secondaries' copula, with no intervention effect."""

    name: str = "QPR"
    type: Literal["continuous", "binary"] = "continuous"
    control_proportion: Optional[float] = Field(
        None, gt=0, lt=1, description="binary: marginal proportion in the control arm")
    odds_ratio_at_full_implementation: Optional[float] = Field(
        None, gt=0, le=1000, description="binary: conditional odds ratio at full implementation")


class Correlation(Section):
    patient: float = Field(0.0, gt=-1, lt=1, description="with the primary's patient latent")
    team: float = Field(0.0, gt=-1, lt=1, description="with the primary's team latent")


class ContinuousSecondary(ContinuousKeys):
    name: str = Field(min_length=1, max_length=80)
    type: Literal["continuous"]
    team_type_effects: dict[str, Effect] = {}
    effect_at_full_implementation: float = Field(0.0, ge=-1e6, le=1e6, description="points")
    correlation: Correlation = Correlation()


class BinarySecondary(Section):
    name: str = Field(min_length=1, max_length=80)
    type: Literal["binary"]
    control_proportion: float = Field(0.3, gt=0, lt=1)
    icc: float = Field(0.05, ge=0, lt=1, description="on the proportion scale")
    odds_ratio_at_full_implementation: float = Field(1.0, gt=0, le=1000,
                                                     description="conditional odds ratio")
    correlation: Correlation = Correlation()


class CostSecondary(Section):
    """Gamma costs with a multiplicative lognormal team effect (``model/costs.py``)."""

    name: str = Field(min_length=1, max_length=80)
    type: Literal["cost"]
    mean: float = Field(gt=0, le=1e9, description="mean cost per patient in control, £")
    cv: float = Field(1.0, gt=0, le=20, description="coefficient of variation of a patient's cost")
    icc: float = Field(0.05, ge=0, lt=1, description="on the cost scale")
    baseline_correlation: float = Field(0.5, gt=-1, lt=1,
                                        description="latent correlation of baseline and follow-up cost")
    effect_at_full_implementation: float = Field(0.0, ge=-1e9, le=1e9, description="£ per patient")
    correlation: Correlation = Correlation()


SecondaryOutcome = Annotated[Union[ContinuousSecondary, BinarySecondary, CostSecondary],
                             Field(discriminator="type")]


class Family(Section):
    """A multiplicity family: outcomes (by name) whose tests are adjusted together."""

    outcomes: tuple[str, ...] = Field(min_length=1, max_length=100)
    method: Literal["holm", "hochberg", "bonferroni", "none"] = "holm"


def binary_primary_defaults(data):
    """A binary primary without ``analysis.estimators`` runs the binary estimators."""
    if not isinstance(data, dict) or not isinstance(data.get("outcome"), dict) or \
            data["outcome"].get("type") != "binary":
        return data
    analysis = data.get("analysis", {})
    if not isinstance(analysis, dict) or "estimators" in analysis:
        return data
    return {**data, "analysis": {**analysis, "estimators": list(BINARY_ESTIMATORS)}}


def without_binary_effect(dump: dict, outcome_type: str) -> dict:
    """With a binary primary the effect is the odds ratio: a scenario's dump leaves out
    ``intervention.effect_at_full_implementation``, so a dump read back is valid."""
    if outcome_type == "binary" and isinstance(dump.get("intervention"), dict):
        dump["intervention"].pop("effect_at_full_implementation", None)
    return dump


def outcome_names(s) -> list[str]:
    """Names of every outcome, the primary first."""
    return [s.outcome.name, *(o.name for o in s.secondary_outcomes)]


def outcome_problems(s) -> list[tuple[str, object, str]]:
    """Cross-field checks of the outcomes and families; (dotted path, value, what is allowed)."""
    out = _binary_primary_problems(s)
    names = outcome_names(s)
    if len(set(names)) != len(names):
        out.append(("secondary_outcomes", names, "outcome names (the primary's included) must not repeat"))
    for i, o in enumerate(s.secondary_outcomes):
        if o.type == "cost" and o.effect_at_full_implementation <= -o.mean:
            out.append((f"secondary_outcomes[{i}].effect_at_full_implementation",
                        o.effect_at_full_implementation, f"must be above -mean (-{o.mean:g}): costs stay positive"))
        for t in getattr(o, "team_type_effects", {}):
            if t not in s.trial.team_types:
                out.append((f"secondary_outcomes[{i}].team_type_effects.{t}", t, "team type not in trial.team_types"))
    a = s.analysis
    for i, f in enumerate(a.multiplicity):
        out += [(f"analysis.multiplicity[{i}].outcomes", n, f"unknown outcome; use one of {', '.join(names)}")
                for n in f.outcomes if n not in names]
    out += [("analysis.co_primary", n, f"unknown outcome; use one of {', '.join(names)}")
            for n in a.co_primary if n not in names]
    if a.co_primary and len(a.co_primary) < 2:
        out.append(("analysis.co_primary", list(a.co_primary), "name at least two outcomes"))
    return out


def _binary_primary_problems(s) -> list[tuple[str, object, str]]:
    o = s.outcome
    if o.type != "binary":
        return [(f"outcome.{k}", getattr(o, k), "only for outcome.type: binary")
                for k in ("control_proportion", "odds_ratio_at_full_implementation")
                if getattr(o, k) is not None]
    out = [(f"outcome.{k}", None, "required for outcome.type: binary")
           for k in ("control_proportion", "odds_ratio_at_full_implementation")
           if getattr(o, k) is None]
    if "effect_at_full_implementation" in s.intervention.model_fields_set:
        out.append(("intervention.effect_at_full_implementation",
                    s.intervention.effect_at_full_implementation,
                    "not with outcome.type: binary; give outcome.odds_ratio_at_full_implementation"))
    return out


def estimator_lists_problems(a, primary_type: str, known: set[str]) -> list[tuple[str, object, str]]:
    """Names in analysis.estimators (for a binary primary), binary_estimators and
    cost_estimators must be estimators (or variants) of that outcome kind."""
    variant_of = {name: v.estimator for name, v in a.variants.items()}
    out = []
    lists = [("binary_estimators", a.binary_estimators, BINARY_ESTIMATORS),
             ("cost_estimators", a.cost_estimators, COST_ESTIMATORS)]
    if primary_type == "binary":
        lists.append(("estimators", a.estimators, BINARY_ESTIMATORS))
    else:
        out += [(f"analysis.estimators[{i}]", n, "glmm analyses a binary outcome only")
                for i, n in enumerate(a.estimators) if variant_of.get(n, n) == "glmm"]
    for key, names, allowed in lists:
        for i, n in enumerate(names):
            if variant_of.get(n, n) not in allowed and (n in known or n in variant_of):
                out.append((f"analysis.{key}[{i}]", n,
                            f"not for this outcome kind; use {', '.join(allowed)} or a variant of one"))
            elif n not in known and n not in variant_of:
                out.append((f"analysis.{key}[{i}]", n, "unknown estimator"))
    return out


SECONDARY_TYPES = {"continuous": ContinuousSecondary, "binary": BinarySecondary, "cost": CostSecondary}
