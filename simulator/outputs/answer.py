"""The answer a planner came for, at the top of report.html (STYLE.md principle 17): power over
all trials with its MCSE for each analysis (against its own estimand, ``is_target``), the ITT
effect the trial delivers against the effect at full implementation, the closed-form number of
teams for 80 % power, and every warning.

``answer(scenario, summary)`` gathers the numbers (it calls the closed form; nothing else is
computed here), ``answer_section`` renders them; both are pure of I/O.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from html import escape

from simulator.outputs.report_html import fmt, table
from simulator.outputs.statement import ESTIMAND, TARGET, row_for, rows_at
from simulator.scenario.schema import Scenario


@dataclass(frozen=True)
class PointAnswer:
    swept: dict
    powers: tuple[dict, ...]        # the is_target summary rows, in estimator order
    delivered: float                # true ITT effect (mean over replicates), primary's itt row
    full: float                     # intervention.effect_at_full_implementation
    teams: int                      # trial.teams randomised
    teams_needed: int | None        # closed form, 80 %, primary analysis (None: not reachable)


@dataclass(frozen=True)
class Answer:
    primary: str
    chosen: int                     # index of the statement's design point
    points: tuple[PointAnswer, ...]
    warnings: tuple[str, ...]


def _closed_form_teams(s: Scenario, estimator: str, cache: dict, notes: list) -> int | None:
    """``planning.solver.closed_form_value`` for trial.teams at 80 %, once per distinct design
    apart from its number of teams; closed-form warnings are kept for the report."""
    from simulator.planning.solver import closed_form_value

    data = s.model_dump(mode="json")
    data["trial"] = {**data["trial"], "teams": None}
    key = json.dumps(data, sort_keys=True)
    if key not in cache:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")   # every closed-form warning, even repeated
            cache[key] = closed_form_value(s, "trial.teams", TARGET, estimator)
        notes += [f"closed form: {w.message}" for w in caught]
    return cache[key]


def _where(swept: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in swept.items())


def _warnings(points, summary: list[dict], scenario: Scenario) -> list[str]:
    out = []
    for p in points:
        at = f" at {_where(p.swept)}" if p.swept else ""
        rows = rows_at(summary, dict(p.swept))
        for r in (r for r in rows if r.get("is_target", 1)):
            if (r.get("n_failed") or 0) > 0:
                out.append(f"{r['estimator']}{at}: {int(r['n_failed'])} of "
                           f"{scenario.replicates} analyses failed (counted as not rejecting "
                           "in power over all trials)")
        partial = sorted({str(r["means_based_on"]) for r in rows
                          if r.get("means_based_on", "all") != "all"})
        out += [f"diagnostic means{at} based on fewer replicates: {m}" for m in partial]
        out += _imbalance(rows, at)
    return out


def _imbalance(rows: list[dict], at: str) -> list[str]:
    shares = [r.get("share_team_type_all_in_one_arm") for r in rows]   # the same replicates
    share = max((v for v in shares if isinstance(v, float) and math.isfinite(v)), default=0.0)
    if not share > 0:
        return []
    return [f"design: chance imbalance{at}: in {100 * share:.1f}% of simulated trials all teams "
            "of some type (with two or more teams) were in one arm, as in REFOCUS; stratified "
            "or constrained allocation prevents it"]


def _allocation_warnings(points) -> list[str]:
    """Constrained randomisation whose kept space is near-deterministic (replicate 0's world)."""
    from simulator.montecarlo.engine import draw_replicate

    out = []
    for p in points:
        if p.scenario.allocation.method != "constrained":
            continue
        info = draw_replicate(p.scenario, 0).allocation.info
        if "warning" in info:
            out.append(f"allocation{' at ' + _where(p.swept) if p.swept else ''}: {info['warning']}")
    return out


def answer(scenario: Scenario, summary: list[dict]) -> Answer:
    from simulator.analysis.registry import analysis_plan
    from simulator.outputs.statement import chosen_point
    from simulator.scenario.files import design_points

    points = design_points(scenario)
    plan = analysis_plan(scenario.analysis)
    primary, cache, notes = plan[0].label, {}, []
    out = []
    for p in points:
        rows = rows_at(summary, dict(p.swept))
        powers = tuple(row_for(rows, a.label) for a in plan if any(
            r["estimator"] == a.label for r in rows))
        out.append(PointAnswer(dict(p.swept), powers,
                               row_for(rows, primary, estimand="itt")["true_value"],
                               p.scenario.intervention.effect_at_full_implementation,
                               p.scenario.trial.teams,
                               _closed_form_teams(p.scenario, plan[0].estimator, cache, notes)))
    unreached = [f"closed form{' at ' + _where(a.swept) if a.swept else ''}: {TARGET:.0%} power "
                 "is not reached with any number of teams" for a in out if a.teams_needed is None]
    from simulator.planning.design_checks import design_warnings
    found = (_warnings(points, summary, scenario) + _allocation_warnings(points)
             + design_warnings(points) + unreached)
    return Answer(primary, chosen_point(points, summary, primary).index, tuple(out),
                  tuple(found + sorted(set(notes))))


def _power_cell(row: dict) -> str:
    p, m = row["rejection_all"], row["rejection_all_mcse"]
    return "–" if not math.isfinite(p) else f"<strong>{100 * p:.1f}%</strong> (MCSE {100 * m:.1f})"


def _headline(a: Answer) -> str:
    point = a.points[a.chosen]
    primary = next(r for r in point.powers if r["estimator"] == a.primary)
    where = f" at {escape(_where(point.swept))} (the design point closest to {TARGET:.0%})" \
        if point.swept else ""
    need = "not reachable" if point.teams_needed is None else f"{point.teams_needed} teams"
    share = f" ({100 * point.delivered / point.full:.0f}%)" if point.full else ""
    return (f'<p class="headline">Power over all trials of the primary analysis, '
            f"{escape(a.primary)}{where}: {_power_cell(primary)}, with {point.teams} teams "
            f"randomised. The trial "
            f"delivers an ITT effect of <strong>{point.delivered:.2f}</strong>{share} of the "
            f"{fmt(point.full)} points at full implementation. Closed form for {TARGET:.0%} "
            f"power{' at the point guesses' if _has_priors(primary) else ''}: "
            f"<strong>{need}</strong>.{_assurance_words(primary)}</p>")


def _has_priors(row: dict) -> bool:
    """summary.csv's ``assurance`` is filled only when the scenario has priors."""
    value = row.get("assurance")
    return isinstance(value, float) and math.isfinite(value)


def _assurance_words(row: dict) -> str:
    if not _has_priors(row):
        return ""
    return (" Every trial drew its uncertain inputs from the priors (<code>priors:</code>), so "
            "this power over all trials is the <strong>assurance</strong> (summary.csv "
            "<code>assurance</code>; <code>crtsim power</code> gives its closed form).")


def _tables(a: Answer, keys: list[str]) -> str:
    lead = [escape(k) for k in keys]
    cells = lambda p: [fmt(p.swept[k]) for k in keys]  # noqa: E731
    power_rows = [cells(p) + [escape(r["estimator"]), escape(ESTIMAND[r["estimand"]]),
                              _power_cell(r), fmt(r.get("n_failed"), "d")]
                  for p in a.points for r in p.powers]
    effect_rows = [cells(p) + [f"{p.delivered:.3f}", fmt(p.full),
                               f"{100 * p.delivered / p.full:.1f}%" if p.full else "–",
                               str(p.teams), fmt(p.teams_needed)] for p in a.points]
    return (table(lead + ["analysis", "against", "power, all trials (MCSE)", "failed analyses"],
                  power_rows, left=len(keys) + 2, ident="answer-power") +
            table(lead + ["ITT effect delivered", "effect at full implementation", "delivered",
                          "teams randomised", f"closed-form teams for {TARGET:.0%} power"],
                  effect_rows, left=len(keys), ident="answer-effect"))


def answer_section(a: Answer, keys: list[str]) -> str:
    items = "".join(f"<li>{escape(w)}</li>" for w in a.warnings)
    warned = (f'<div class="warnings" id="warnings"><strong>Warnings ({len(a.warnings)})'
              f"</strong><ul>{items}</ul></div>") if a.warnings else \
        '<p class="ok" id="warnings">No warnings: every analysis gave an estimate and every ' \
        "diagnostic mean uses all replicates.</p>"
    note = ("<p class=note>Power over all trials: a failed analysis counts as not rejecting "
            "(summary.csv <code>rejection_all</code>). Each analysis is judged against its own "
            "estimand. Closed-form teams: planning.solver.closed_form_value for the primary "
            "analysis (first of analysis.estimators).</p>")
    return (f'<section id="answer"><h2>The answer</h2>\n{_headline(a)}\n{warned}\n'
            f"{_tables(a, keys)}\n{note}</section>")
