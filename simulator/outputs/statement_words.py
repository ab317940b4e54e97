"""The sentences of the sample-size statement that come from the scenario alone (design,
assumptions, analysis); ``statement.py`` adds the results.  Pure functions: Scenario in, text out.

Convention: every assumed value is followed by its source field and the value as resolved,
``(`dotted.field` = value)``, so a reader can trace it to the scenario file and a test can
parse it back.  Wording adapts to the scenario (no disbanding, refreshers, dose-response shape);
numbers are never written into the text.
"""
from __future__ import annotations

import math

from simulator.analysis.registry import PlannedAnalysis
from simulator.scenario.counts import intervention_count
from simulator.scenario.schema import Scenario

STRATIFIED = ("stratified", "minimisation", "matched_pairs")
ALLOCATION = {"simple": "simple (unrestricted) randomisation of teams",
              "stratified": "randomisation in permuted blocks within strata",
              "matched_pairs": "randomisation within matched pairs of teams",
              "minimisation": "minimisation (Pocock–Simon, with a random element)",
              "constrained": "constrained randomisation"}
MECHANISM = {"MCAR": "completely at random", "MAR": "at random given the baseline score and "
             "team disruption", "MNAR": "not at random (driven by the follow-up score)"}
DF_METHOD = {"between_within": "between-within", "satterthwaite": "Satterthwaite",
             "kenward_roger": "Kenward–Roger"}


def num(value) -> str:
    """A number as the scenario holds it: integers plain, floats with up to 6 significant
    digits (the scenario's own values print exactly)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}"


def raw(value) -> str:
    """A resolved scenario value for the ``(`field` = value)`` tag."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(raw(v) for v in value) + "]"
    if isinstance(value, dict):   # optional keys left unset (None) are not part of the value
        return "{" + ", ".join(f"{k}: {raw(v)}" for k, v in value.items() if v is not None) + "}"
    if hasattr(value, "model_dump"):
        return raw(value.model_dump(mode="json"))
    return "null" if value is None else num(value)


def get(scenario: Scenario, dotted: str):
    node = scenario
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def src(scenario: Scenario, dotted: str) -> str:
    """``(`dotted` = value)``: where a number came from."""
    return f"(`{dotted}` = {raw(get(scenario, dotted))})"


def pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _allocation(s: Scenario) -> str:
    a = s.allocation
    text = f"{ALLOCATION[a.method]} {src(s, 'allocation.method')}"
    if a.method in STRATIFIED:
        text += f", balancing on {', '.join(a.strata)} {src(s, 'allocation.strata')}"
    if a.method == "constrained":
        text += (f", keeping the best {pct(a.constrained_fraction)} "
                 f"{src(s, 'allocation.constrained_fraction')} of candidate allocations for "
                 f"balance on {', '.join(a.balance_on)} {src(s, 'allocation.balance_on')}")
    return text


def design_sentences(s: Scenario) -> str:
    t = s.trial
    n_int = intervention_count(t.teams, t.intervention_share)
    m = t.patients_per_team
    listed = f" listed in {t.teams_file or 'the scenario'} (`trial.teams_file`)" \
        if t.team_list is not None else ""
    return (f"The trial randomises {t.teams} teams{listed} {src(s, 'trial.teams')}, {n_int} to the "
            f"intervention and {t.teams - n_int} to control {src(s, 'trial.intervention_share')}, "
            f"by {_allocation(s)}. Teams recruit a mean of {num(m.mean)} patients each "
            f"{src(s, 'trial.patients_per_team.mean')}, with a coefficient of variation of team "
            f"size of {num(m.cv)} {src(s, 'trial.patients_per_team.cv')}, about "
            f"{num(round(t.teams * m.mean, 1))} patients in all, each followed up for "
            f"{num(t.months)} months {src(s, 'trial.months')} after randomisation.")


def outcome_sentences(s: Scenario) -> str:
    o = s.outcome
    if o.type == "binary":
        from simulator.outputs.statement_outcomes import binary_outcome_sentences
        return binary_outcome_sentences(s)
    text = (f"The primary outcome, {o.name} {src(s, 'outcome.name')}, is assumed to have a "
            f"standard deviation of {num(o.sd)} points {src(s, 'outcome.sd')} and an "
            f"intracluster correlation coefficient of {num(o.icc)} {src(s, 'outcome.icc')}; "
            f"baseline and follow-up scores correlate {num(o.individual_autocorrelation)} within "
            f"patients {src(s, 'outcome.individual_autocorrelation')} and "
            f"{num(o.cluster_autocorrelation)} for team effects "
            f"{src(s, 'outcome.cluster_autocorrelation')}.")
    if o.team_type_effects:
        text += f" Team types shift the mean score {src(s, 'outcome.team_type_effects')}."
    if o.covariate_effects:
        text += (" Team covariates shift the mean score per unit (centred at the teams' mean) "
                 f"{src(s, 'outcome.covariate_effects')}.")
    if o.leadership_effect:
        text += (f" Team leadership shifts the follow-up score by {num(o.leadership_effect)} "
                 f"points per SD {src(s, 'outcome.leadership_effect')}.")
    return text


def _dose(s: Scenario) -> str:
    iv = s.intervention
    shape = {"linear": "in proportion to the team's exposure to trained staff",
             "threshold": f"in full once exposure reaches {num(iv.dose_threshold)} "
                          f"{src(s, 'intervention.dose_threshold')} and not at all below it",
             "saturating": f"rising linearly to its full size at exposure "
                           f"{num(iv.dose_threshold)} {src(s, 'intervention.dose_threshold')}"}
    return f"{shape[iv.dose_response]} {src(s, 'intervention.dose_response')}"


def _training(s: Scenario, months: str, refresh: str) -> str:
    """How staff are trained: today's one component, or the listed strategies."""
    iv = s.intervention
    if not iv.components:
        return (f"Staff are trained by attending {iv.sessions_to_train} "
                f"{src(s, 'intervention.sessions_to_train')} of the sessions at months {months} "
                f"{src(s, 'intervention.session_months')}{refresh}; each member of staff attends "
                f"each session with probability {num(iv.attendance)} "
                f"{src(s, 'intervention.attendance')}.")
    parts = "; ".join(
        f"{c.name.replace('_', ' ')} (for the {'manager' if c.audience == 'manager' else 'team'}, "
        f"sessions at months {', '.join(num(m) for m in c.session_months)}, completed after "
        f"{c.sessions_to_complete}, attendance {num(c.attendance)}, weight {num(c.weight)})"
        for c in iv.strategies)
    return (f"The intervention has {len(iv.components)} components: {parts} "
            f"(`intervention.components` = {', '.join(c.name for c in iv.components)}){refresh}. "
            f"A team's fidelity is the weighted mean over the components of the share of each "
            f"one's audience in post who have completed it.")


def intervention_sentences(s: Scenario) -> str:
    iv, st = s.intervention, s.staff_turnover
    months = ", ".join(num(m) for m in iv.session_months)
    refresh = "" if iv.refresher_every_months is None else (
        f", with refresher sessions every {num(iv.refresher_every_months)} months "
        f"{src(s, 'intervention.refresher_every_months')}")
    opening = (f"The intervention improves the outcome by {num(iv.effect_at_full_implementation)} "
               f"points when every member of staff is trained "
               f"{src(s, 'intervention.effect_at_full_implementation')}")
    if s.outcome.type == "binary":
        from simulator.outputs.statement_outcomes import binary_effect_sentence
        opening = binary_effect_sentence(s)
    text = (f"{opening}, {_dose(s)}. "
            f"{_training(s, months, refresh)} Staff leave at a rate "
            f"(hazard) of {num(st.annual_rate)} leavers per staff-year in post "
            f"{src(s, 'staff_turnover.annual_rate')}, so that "
            f"{pct(1 - math.exp(-st.annual_rate))} of those in post at baseline leave within a "
            f"year; a post stays vacant for a mean of {num(st.vacancy_months)} months "
            f"{src(s, 'staff_turnover.vacancy_months')} before an untrained newcomer fills it.")
    if iv.leadership_on_attendance or st.leadership_on_turnover:
        text += (f" Team leadership changes attendance {src(s, 'intervention.leadership_on_attendance')}"
                 f" and turnover {src(s, 'staff_turnover.leadership_on_turnover')} (per SD).")
    return text


def _disbanding(s: Scenario) -> str:
    rc = s.reconfiguration
    scheduled = sum(ev.teams for ev in rc.scheduled)
    if not rc.disband_rate_per_team_year and not scheduled:
        return (f"No team is expected to disband {src(s, 'reconfiguration.disband_rate_per_team_year')}"
                f" {src(s, 'reconfiguration.scheduled')}.")
    parts = []
    if rc.disband_rate_per_team_year:
        parts.append(f"teams disband at random at a rate of {num(rc.disband_rate_per_team_year)}"
                     f" per team-year {src(s, 'reconfiguration.disband_rate_per_team_year')}")
    if scheduled:
        when = ", ".join(f"{ev.teams} at month {num(ev.month)}" for ev in rc.scheduled)
        parts.append(f"teams disband on schedule ({when}) {src(s, 'reconfiguration.scheduled')}")
    if not rc.disband_rate_per_team_year:
        parts[-1] += f", none at random {src(s, 'reconfiguration.disband_rate_per_team_year')}"
    if not scheduled:
        parts[-1] += f", none on schedule {src(s, 'reconfiguration.scheduled')}"
    text = " and ".join(parts)
    return (f"{text[0].upper()}{text[1:]}; a disbanded team's patients transfer to another team "
            f"of the same site (possibly in the other arm) with probability "
            f"{num(rc.patient_transfer_probability)} "
            f"{src(s, 'reconfiguration.patient_transfer_probability')} and are otherwise lost.")


def attrition_sentences(s: Scenario) -> str:
    d = s.dropout
    text = (f"{_disbanding(s)} Besides, {pct(d.attrition)} of patients {src(s, 'dropout.attrition')}"
            f" drop out by follow-up, missing {MECHANISM[d.mechanism]} {src(s, 'dropout.mechanism')}")
    if d.mechanism != "MCAR" and d.strength:
        text += f" with log-hazard {num(d.strength)} per SD {src(s, 'dropout.strength')}"
    if d.differential_by_arm:
        text += (f", and a log-hazard ratio of {num(d.differential_by_arm)} in the intervention "
                 f"arm {src(s, 'dropout.differential_by_arm')}")
    return text + "."


RESTRICTION = {"stratified": "the allocation strata", "minimisation": "the allocation strata",
               "matched_pairs": "the matched pairs (pair fixed effects)"}


def _covariates(s: Scenario, adjust_for) -> str:
    names = ["the baseline score"] if "baseline" in adjust_for else []
    method = s.allocation.method
    if "strata" in adjust_for and method in RESTRICTION:
        names.append(RESTRICTION[method])
    elif "strata" in adjust_for and method == "constrained":
        names.append("the covariates balanced by the allocation "
                     f"({', '.join(s.allocation.balance_on)})")
    names += [n.replace("_", " ") for n in adjust_for if n not in ("baseline", "strata")]
    return ", ".join(names) or "nothing"


def _field(s: Scenario, primary: PlannedAnalysis, key: str) -> str:
    """Where an analysis option comes from: the variant that sets it, else ``analysis.<key>``."""
    variant = s.analysis.variants.get(primary.label)
    if variant is not None and getattr(variant, key) is not None:
        return f"analysis.variants.{primary.label}.{key}"
    return f"analysis.{key}"


def analysis_sentences(s: Scenario, primary: PlannedAnalysis) -> str:
    """The primary analysis (first of analysis.estimators) and its degrees of freedom."""
    o = primary.options
    if s.outcome.type == "binary":
        from simulator.outputs.statement_outcomes import binary_analysis_sentences
        return binary_analysis_sentences(s, primary)
    adjusted = f"adjusted for {_covariates(s, o.adjust_for)} " \
               f"(`{_field(s, primary, 'adjust_for')}` = {raw(o.adjust_for)})"
    df = f"{DF_METHOD[o.df_method]} degrees of freedom " \
         f"(`{_field(s, primary, 'df_method')}` = {o.df_method})"
    k2 = "a t reference distribution with (teams analysed − 2 − covariate columns) degrees of freedom"
    what = {
        "mixed_ancova": f"a linear mixed model (random team intercept, REML), {adjusted}, with {df}",
        "implementation_split": f"high-implementing intervention teams against control in a "
                                f"linear mixed model, {adjusted}, with {df}",
        "cluster_summary": f"a two-stage cluster-level analysis (team means of residuals), "
                           f"{adjusted}, with {k2}",
        "cluster_means": "a t-test on team means of the follow-up score (teams analysed − 2 df)",
        "individual_ttest": "a t-test on patients ignoring clustering (patients − 2 df)",
        "gee_robust": f"GEE with exchangeable correlation and a {o.gee_correction} corrected "
                      f"sandwich SE, {adjusted}, with {k2}",
        "permutation": f"a randomisation test re-drawing allocations from the trial's own scheme "
                       f"({o.permutations} allocations, `analysis.permutations`)",
        "cace_iv": f"an instrumental-variable (CACE) analysis of recorded participation, with {k2}",
    }[primary.estimator]
    name = primary.label if primary.label == primary.estimator else \
        f"{primary.label}, a variant of {primary.estimator}"
    return (f"The primary analysis, {name} (the first of `analysis.estimators` = "
            f"{raw(s.analysis.estimators)}), is {what}, two-sided at a significance level of "
            f"{num(o.alpha)} (`analysis.alpha` = {num(s.analysis.alpha)}).")
