"""The statement's words for a binary primary and for the secondary outcomes and
multiplicity families (issue 15); ``statement.py`` assembles them."""
from __future__ import annotations

from simulator.analysis.registry import PlannedAnalysis
from simulator.outputs.statement_words import num, pct, raw, src
from simulator.scenario.schema import Scenario

BINARY_ESTIMAND = {"cluster_summary": "the risk difference", "gee_robust": "the marginal log odds ratio",
                   "glmm": "the conditional log odds ratio"}
BINARY_WHAT = {"cluster_summary": "a t-test on team proportions (teams analysed − 2 df; its "
                                  "estimand the risk difference)",
               "gee_robust": "a logit GEE with exchangeable correlation and a {c} corrected "
                             "sandwich SE, t with teams analysed − 2 df (its estimand the marginal "
                             "log odds ratio)",
               "glmm": "a random-intercept logistic model fitted by adaptive Gauss–Hermite "
                       "quadrature with between-within df (its estimand the conditional log odds ratio)"}


def binary_outcome_sentences(s: Scenario) -> str:
    o = s.outcome
    return (f"The primary outcome, {o.name} {src(s, 'outcome.name')}, is binary, with a "
            f"proportion of {num(o.control_proportion)} in control teams "
            f"{src(s, 'outcome.control_proportion')} and an intracluster correlation "
            f"coefficient of {num(o.icc)} on the proportion scale {src(s, 'outcome.icc')} "
            "(random-intercept logistic model).")


def binary_effect_sentence(s: Scenario) -> str:
    """Replaces the continuous effect's opening words of ``intervention_sentences``."""
    return (f"The intervention multiplies the odds of the outcome by "
            f"{num(s.outcome.odds_ratio_at_full_implementation)} (conditional on the team) when "
            f"every member of staff is trained {src(s, 'outcome.odds_ratio_at_full_implementation')}"
            ", the log odds ratio scaled by the dose on the link scale")


def binary_analysis_sentences(s: Scenario, primary: PlannedAnalysis) -> str:
    what = BINARY_WHAT[primary.estimator].format(c=primary.options.gee_correction)
    return (f"The primary analysis, {primary.label} (the first of `analysis.estimators` = "
            f"{raw(s.analysis.estimators)}), is {what}, two-sided at a significance level of "
            f"{num(primary.options.alpha)} (`analysis.alpha` = {num(s.analysis.alpha)}).")


def binary_result_words(row: dict, estimator: str) -> str:
    return (f"The true value of {BINARY_ESTIMAND.get(estimator, 'the effect')} the trial delivers "
            f"(intention to treat, from the model) is {row['true_value']:.4g}.")


def secondary_sentences(s: Scenario, rows: list[dict]) -> str:
    """One sentence per secondary outcome (its first analysis' power at the point) and per
    family; ``rows``: every outcome's summary rows at the design point."""
    if not s.secondary_outcomes:
        return ""
    parts = []
    for o in s.secondary_outcomes:
        mine = [r for r in rows if r.get("outcome") == f"patient:{o.name}" and r["estimand"] == "itt"]
        if not mine:
            continue
        r = mine[0]
        effect = (f"odds ratio {num(o.odds_ratio_at_full_implementation)}" if o.type == "binary"
                  else f"difference {'£' if o.type == 'cost' else ''}"
                  f"{num(o.effect_at_full_implementation)}")
        parts.append(f"{o.name} ({o.type}, {effect} at full implementation, correlation with "
                     f"the primary {num(o.correlation.patient)} for patients and "
                     f"{num(o.correlation.team)} for teams): power {pct(r['rejection_all'])} "
                     f"(Monte Carlo SE {pct(r['rejection_all_mcse'])}) by {r['estimator']}")
    text = ("Secondary outcomes (`secondary_outcomes`; power of each outcome's first analysis, "
            "unadjusted, all trials): " + "; ".join(parts) + ".")
    if s.analysis.multiplicity or s.analysis.co_primary:
        text += (" Adjusted power, the chance that any or all outcomes of a family succeed "
                 "and the family-wise error are in families.csv (`analysis.multiplicity`, "
                 "`analysis.co_primary`).")
    return text
