"""The scenario: every parameter of a simulated trial, validated and immutable.

Key names are the public contract of DESIGN.md ("Scenario file"): add keys, never rename them.
Every key has a default except ``name``; unknown keys are errors. Cross-field checks live in
``check_consistency`` so that all problems are collected and reported together.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, PrivateAttr, model_serializer, model_validator

from simulator.scenario.counts import intervention_count
from simulator.scenario.outcome_sections import (
    BINARY_ESTIMATORS, COST_ESTIMATORS, DEFAULT_TEAM_TYPE_EFFECTS, Family, Outcome,
    SecondaryOutcome, binary_primary_defaults, estimator_lists_problems, outcome_problems,
    without_binary_effect)
from simulator.scenario.section import Section
from simulator.scenario.intervention import Component, Intervention, intervention_problems
from simulator.scenario.priors import Prior
from simulator.scenario.staff_outcome import StaffOutcome
from simulator.scenario.services import attrition_from_rate, services_problems
from simulator.scenario.team_checks import team_list_problems
from simulator.scenario.teams import TeamTable, fill_from_team_list, parse_table
from simulator.scenario.trial_checks import disbanding_problems, shares_problems


class PatientsPerTeam(Section):
    mean: float = Field(15.0, gt=0, le=10_000, description="mean patients recruited per team")
    cv: float = Field(0.4, ge=0, le=3, description="coefficient of variation of team size")


class StaffPerTeam(Section):
    mean: float = Field(12.0, gt=0, le=1000, description="mean staff establishment (posts) per team")
    sd: float = Field(3.0, ge=0, le=1000)
    min: int = Field(4, ge=1, le=1000)


class Trial(Section):
    teams: int = Field(27, ge=4, le=10_000, description="clusters randomised")
    intervention_share: float = Field(0.5, gt=0, lt=1)
    sites: dict[str, float] = Field({"trust_a": 0.55, "trust_b": 0.45}, max_length=1000)
    team_types: dict[str, float] = {
        "cmht": 0.6, "recovery": 0.15, "assertive_outreach": 0.1,
        "early_intervention": 0.1, "supported_accommodation": 0.05,
    }
    patients_per_team: PatientsPerTeam = PatientsPerTeam()
    staff_per_team: StaffPerTeam = StaffPerTeam()
    months: float = Field(12.0, gt=0, le=120, description="baseline to follow-up, months")
    teams_file: Optional[str] = Field(
        None, max_length=1000, description="CSV of the trial's teams, beside the scenario file")
    team_list: Optional[tuple[dict[str, str], ...]] = Field(
        None, max_length=10_000, description="the trial's teams inline (or read from teams_file)")
    _table: Optional[TeamTable] = PrivateAttr(None)

    def model_post_init(self, context: Any) -> None:
        if self.team_list is not None:
            self._table = parse_table(self.team_list)

    @property
    def team_table(self) -> Optional[TeamTable]:
        """The team list, typed (``scenario.teams.TeamTable``); None without one."""
        return self._table




class StaffTurnover(Section):
    annual_rate: float = Field(0.2, ge=0, le=50, description="staff leaving per staff-year")
    vacancy_months: float = Field(3.0, ge=0, le=120)
    leadership_on_turnover: float = Field(0.0, ge=-20, le=20, description="log-hazard per SD of leadership")
    move_share: float = Field(
        0.0, ge=0, le=1, description="share of leavers who move to another team of the same site")


class ScheduledDisbanding(Section):
    month: float = Field(ge=0, le=120)
    teams: int = Field(1, ge=1, le=10_000)
    site: Optional[str] = Field(None, description="disband only teams of this site (default: any)")


class ScheduledMerge(Section):
    month: float = Field(ge=0, le=120)
    pairs: int = Field(1, ge=1, le=5_000, description="pairs of teams merging at this month")
    site: Optional[str] = Field(None, description="merge only teams of this site (default: any)")


class Merges(Section):
    rate_per_team_year: float = Field(0.0, ge=0, le=50, description="each team's merge hazard")
    scheduled: tuple[ScheduledMerge, ...] = Field((), max_length=1000)
    within: Literal["arm", "site"] = Field(
        "arm", description="arm: partners share site and arm; site: any arm (contamination)")


class Reconfiguration(Section):
    disband_rate_per_team_year: float = Field(0.0, ge=0, le=50)
    scheduled: tuple[ScheduledDisbanding, ...] = Field((), max_length=1000)
    patient_transfer_probability: float = Field(0.7, ge=0, le=1)
    merges: Merges = Merges()


class Dropout(Section):
    attrition: float = Field(0.26, ge=0, lt=1, description="marginal share lost by follow-up")
    mechanism: Literal["MCAR", "MAR", "MNAR"] = "MCAR"
    strength: float = Field(0.0, ge=-20, le=20, description="log-hazard per SD of the driving score")
    differential_by_arm: float = Field(0.0, ge=-20, le=20, description="log-hazard ratio, intervention vs control")
    disruption_effect: float = Field(
        0.0, ge=-20, le=20, description="MAR: log-hazard ratio after the patient's team disbands")
    rate_per_year: Optional[float] = Field(
        None, ge=0, le=50, description="instead of attrition: dropout hazard per patient-year; "
        "attrition = 1 - exp(-rate * trial.months / 12), set from it")

    @model_serializer(mode="wrap")
    def _attrition_follows_rate(self, handler):
        """With a rate, attrition is derived (``Scenario``): dumps leave it out, so a dump read
        back (a sweep point, a resumed run) derives it again for its own trial.months."""
        data = handler(self)
        if self.rate_per_year is not None:
            data.pop("attrition", None)
        return data


AllocationMethod = Literal["simple", "stratified", "matched_pairs", "minimisation", "constrained"]
TEAM_ATTRIBUTES = ("site", "team_type", "patients", "staff")


class Allocation(Section):
    method: AllocationMethod = "simple"
    strata: tuple[str, ...] = Field(("site",), max_length=100,
                                    description="site, team_type or categorical team covariates")
    balance_on: tuple[str, ...] = Field(("site", "team_type", "patients"), max_length=100,
                                        description="site, team_type, patients, staff or team covariates")
    constrained_fraction: float = Field(0.1, gt=0, le=1)
    max_enumerate: int = Field(100_000, ge=10, le=5_000_000)
    minimisation_probability: float = Field(0.8, ge=0.5, le=1)
    balance_metric: Literal["crtsim_l2", "cvcrand_l2", "cvcrand_l1"] = Field(
        "crtsim_l2", description="constrained score: crtsim's, or cvcrand's l2 / l1 (cvrall)")


EstimatorName = Literal["mixed_ancova", "cluster_summary", "cluster_means", "individual_ttest",
                        "gee_robust", "permutation", "implementation_split", "cace_iv", "glmm",
                        "participation_high_low"]
Adjustment = str   # baseline, strata, site, team_type, patients, staff or a team covariate
DfMethod = Literal["between_within", "satterthwaite", "kenward_roger"]
GeeCorrection = Literal["none", "kauermann_carroll", "mancl_derouen"]


class Variant(Section):
    """A named variant of an estimator with its own settings (e.g. adjusted for team type)."""

    estimator: EstimatorName
    adjust_for: Optional[tuple[Adjustment, ...]] = None
    df_method: Optional[DfMethod] = None
    gee_correction: Optional[GeeCorrection] = None


class Analysis(Section):
    alpha: float = Field(0.05, gt=0, lt=1)
    estimators: tuple[str, ...] = ("mixed_ancova", "cluster_summary")
    adjust_for: tuple[Adjustment, ...] = Field(
        ("baseline", "strata"), max_length=100,
        description="covariates in the analysis model; strata = the design's own restriction")
    df_method: DfMethod = "satterthwaite"
    gee_correction: GeeCorrection = "mancl_derouen"
    permutations: int = Field(500, ge=19, le=100_000)
    cluster: Literal["randomised", "final"] = Field(
        "randomised", description="analyse patients by the team randomised, or the team at follow-up")
    variants: dict[str, Variant] = {}
    binary_estimators: tuple[str, ...] = Field(BINARY_ESTIMATORS, min_length=1, max_length=100,
                                               description="analyses of binary secondaries")
    cost_estimators: tuple[str, ...] = Field(COST_ESTIMATORS, min_length=1, max_length=100,
                                             description="analyses of cost outcomes")
    multiplicity: tuple[Family, ...] = Field((), max_length=100)
    co_primary: tuple[str, ...] = Field((), max_length=100, description="outcomes that must all succeed")

    @property
    def adjust_for_strata(self) -> bool:
        return "strata" in self.adjust_for


def _analysis_problems(a: Analysis) -> list[tuple[str, object, str]]:
    known = set(EstimatorName.__args__)
    out = []
    for name in a.variants:
        if name in known:
            out.append((f"analysis.variants.{name}", name, "a variant cannot reuse an estimator's name"))
    for i, name in enumerate(a.estimators):
        if name not in known and name not in a.variants:
            out.append((f"analysis.estimators[{i}]", name,
                        f"unknown estimator; use one of {', '.join(sorted(known))} "
                        "or a name defined under analysis.variants"))
    if len(set(a.estimators)) != len(a.estimators):
        out.append(("analysis.estimators", list(a.estimators), "names must not repeat"))
    if not a.estimators:
        out.append(("analysis.estimators", [], "name at least one estimator"))
    return out


class Scenario(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    description: str = ""
    seed: int = Field(2015, ge=0, le=2**63 - 1)
    replicates: int = Field(1000, ge=1, le=10_000_000)
    trial: Trial = Trial()
    outcome: Outcome = Outcome()
    secondary_outcomes: tuple[SecondaryOutcome, ...] = Field((), max_length=100)
    intervention: Intervention = Intervention()
    staff_turnover: StaffTurnover = StaffTurnover()
    reconfiguration: Reconfiguration = Reconfiguration()
    dropout: Dropout = Dropout()
    allocation: Allocation = Allocation()
    analysis: Analysis = Analysis()
    sweep: dict[str, tuple] = {}
    staff_outcome: Optional[StaffOutcome] = Field(
        None, description="a staff-level outcome measured in staff in post at both times")
    priors: dict[str, Prior] = Field(
        {}, max_length=100, description="uncertain inputs: dotted key -> distribution (priors.py)")

    @model_validator(mode="before")
    @classmethod
    def _default_effects_for_listed_types(cls, data: Any) -> Any:
        """Unless the file gives ``outcome.team_type_effects``, the default effects apply to
        the team types the trial has (a team list's types included); effects the user wrote
        are checked as written."""
        data = fill_from_team_list(data)
        if not isinstance(data, dict):
            return data
        outcome, trial = data.get("outcome", {}), data.get("trial", {})
        if not isinstance(outcome, dict) or not isinstance(trial, dict) or \
                "team_type_effects" in outcome or not isinstance(trial.get("team_types"), dict):
            return data
        effects = {t: v for t, v in DEFAULT_TEAM_TYPE_EFFECTS.items() if t in trial["team_types"]}
        return {**data, "outcome": {**outcome, "team_type_effects": effects}}

    @model_validator(mode="before")
    @classmethod
    def _binary_primary_estimators(cls, data: Any) -> Any:
        return binary_primary_defaults(data)

    @model_serializer(mode="wrap")
    def _binary_effect_left_out(self, handler):
        return without_binary_effect(handler(self), self.outcome.type)

    @model_validator(mode="before")
    @classmethod
    def _attrition_from_rate(cls, data: Any) -> Any:
        """``dropout.rate_per_year`` sets ``dropout.attrition`` for the trial's months."""
        return attrition_from_rate(data)


def check_consistency(s: Scenario) -> list[tuple[str, object, str]]:
    """Cross-field checks; each problem is (dotted path, value, what is allowed)."""
    problems = shares_problems("trial.sites", s.trial.sites)
    problems += shares_problems("trial.team_types", s.trial.team_types)
    k = s.trial.teams
    n_int = intervention_count(k, s.trial.intervention_share)
    if min(n_int, k - n_int) < 2:
        problems.append(("trial.intervention_share", s.trial.intervention_share,
                         f"gives {n_int} of {k} teams in the intervention arm; each arm needs >= 2 teams"))
    if s.allocation.balance_metric != "crtsim_l2" and s.allocation.constrained_fraction >= 1:
        problems.append(("allocation.constrained_fraction", s.allocation.constrained_fraction,
                         f"{s.allocation.balance_metric} keeps round(q M) allocations: q must be below 1"))
    if s.allocation.method == "matched_pairs" and n_int not in (k // 2, (k + 1) // 2):
        problems.append(("allocation.method", "matched_pairs",
                         f"needs about half the teams in each arm; trial.intervention_share "
                         f"{s.trial.intervention_share:g} gives {n_int} of {k} (use stratified)"))
    for t in s.outcome.team_type_effects:
        if t not in s.trial.team_types:
            problems.append((f"outcome.team_type_effects.{t}", t,
                             f"team type not in trial.team_types ({', '.join(s.trial.team_types)})"))
    problems += intervention_problems(s.intervention, s.trial.months)
    problems += disbanding_problems(s)
    problems += _analysis_problems(s.analysis)
    problems += estimator_lists_problems(s.analysis, s.outcome.type, set(EstimatorName.__args__))
    problems += outcome_problems(s)
    if s.staff_outcome is not None:
        problems += [(p.replace("analysis.estimators", "staff_outcome.estimators"), v, m)
                     for p, v, m in _analysis_problems(s.analysis.model_copy(
                         update={"estimators": s.staff_outcome.estimators}))
                     if p.startswith("analysis.estimators")]
    problems += services_problems(s, n_int)
    problems += team_list_problems(s)
    return problems
