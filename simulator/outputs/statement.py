"""The protocol-ready sample-size statement, ``statement.md``, written with report.html (after
every ``crtsim run`` and by ``crtsim report``) and embedded in it.

Generated from the resolved scenario (``statement_words``) and the results: summary rows
(``rejection_all`` with ``rejection_all_mcse``, ``n_failed``, the ITT row's ``true_value``) and
run.json (seed, replicates, crtsim version, code hash, command).  No number is written into
the wording.

With a sweep, the full statement is written for one design point: the one whose power (all
trials) for the primary analysis is closest to 80 % (the first such point on a tie); it says so,
and a closing paragraph gives every design point's power and delivered ITT effect, so nothing
is hidden.  The primary analysis is the first of ``analysis.estimators``.
"""
from __future__ import annotations

import math
import re
from html import escape

from simulator.analysis.registry import analysis_plan
from simulator.outputs.statement_words import (analysis_sentences, attrition_sentences,
                                               design_sentences, intervention_sentences, num,
                                               outcome_sentences, pct)
from simulator.scenario.schema import Scenario

TARGET = 0.8
ESTIMAND = {"itt": "the ITT effect", "efficacy": "the effect at full implementation"}


def rows_at(summary: list[dict], swept: dict) -> list[dict]:
    """The summary rows of one design point (a list-valued swept key, as read back from
    summary.csv, is its text)."""
    return [r for r in summary if all(r.get(k) == v or isinstance(v, (list, tuple, dict))
                                      and r.get(k) == str(v) for k, v in swept.items())]


def row_for(rows: list[dict], estimator: str, *, estimand: str | None = None) -> dict:
    """The row of ``estimator`` for ``estimand`` (default: the estimator's own, ``is_target``)."""
    for r in rows:
        if r["estimator"] == estimator and (
                r["estimand"] == estimand if estimand else r.get("is_target", r["estimand"] == "itt")):
            return r
    raise KeyError(f"no summary row for {estimator} ({estimand or 'its target'})")


def _distance(power: float) -> float:
    return abs(power - TARGET) if math.isfinite(power) else math.inf


def chosen_point(points, summary: list[dict], primary: str):
    """The design point whose primary power (all trials) is closest to 80 % (first on ties)."""
    return min(points, key=lambda p: (_distance(row_for(rows_at(summary, dict(p.swept)),
                                                        primary)["rejection_all"]), p.index))


def _power(row: dict) -> str:
    p, m = row["rejection_all"], row["rejection_all_mcse"]
    if not math.isfinite(p):
        return "not estimable (no successful analysis)"
    return f"{pct(p)} (Monte Carlo SE {pct(m)})"


def _failed(row: dict, n: int) -> str:
    failed = int(row.get("n_failed", 0) or 0)
    return "" if not failed else (f" {failed} of {n} analyses failed to give an estimate "
                                  "(`n_failed`) and count as not rejecting.")


def results_sentences(s: Scenario, rows: list[dict], primary: str, others: list[str]) -> str:
    target, itt = row_for(rows, primary), row_for(rows, primary, estimand="itt")
    if s.outcome.type == "binary":
        return binary_results(s, rows, target, primary, others)
    n, full = s.replicates, s.intervention.effect_at_full_implementation
    delivered = itt["true_value"]
    share = f", {pct(delivered / full)} of" if full else " against"
    text = (f"Over {n} simulated trials (`replicates` = {n}), the primary analysis rejected the "
            f"null hypothesis in {_power(target)} of all trials (summary.csv `rejection_all`, "
            f"against its estimand, {ESTIMAND[target['estimand']]}).{_failed(target, n)} With "
            f"implementation diluted by partial attendance, staff turnover and vacancies (and "
            f"any disbanding), the intention-to-treat effect the trial actually delivers is "
            f"{delivered:.3f} points (mean true ITT "
            f"effect over the simulated trials, `true_value` of the itt row){share} the "
            f"{num(full)} points at full implementation.")
    extra = [f"{o} {_power(row_for(rows, o))}" for o in others]
    if extra:
        text += " Power of the other analyses, all trials: " + "; ".join(extra) + "."
    return text


def binary_results(s: Scenario, rows, target: dict, primary: str, others: list[str]) -> str:
    from simulator.analysis.registry import analysis_plan
    from simulator.outputs.statement_outcomes import binary_result_words

    n = s.replicates
    estimator = next(p.estimator for p in analysis_plan(s.analysis) if p.label == primary)
    text = (f"Over {n} simulated trials (`replicates` = {n}), the primary analysis rejected the "
            f"null hypothesis in {_power(target)} of all trials (summary.csv `rejection_all`)."
            f"{_failed(target, n)} {binary_result_words(target, estimator)}")
    extra = [f"{o} {_power(row_for(rows, o))}" for o in others]
    return text + (" Power of the other analyses, all trials: " + "; ".join(extra) + "."
                   if extra else "")


def _where(swept: dict) -> str:
    return ", ".join(f"`{k}` = {num(v)}" for k, v in swept.items())


def sweep_sentences(points, summary: list[dict], primary: str, chosen) -> str:
    lines = []
    for p in points:
        rows = rows_at(summary, dict(p.swept))
        itt = row_for(rows, primary, estimand="itt")["true_value"]
        lines.append(f"- {_where(p.swept)}: power {_power(row_for(rows, primary))}, "
                     f"ITT effect delivered {itt:.3f}")
    return (f"The statement above is for the design point whose power is closest to "
            f"{pct(TARGET)}, {_where(chosen.swept)}. The scenario sweeps "
            f"{', '.join(f'`{k}`' for k in points[0].swept)}; power (all trials) of the primary "
            f"analysis at every design point:\n\n" + "\n".join(lines))


def command_text(info: dict, scenario: Scenario) -> str:
    """The command that reproduces the run: as recorded in run.json, or rebuilt from it."""
    if info.get("command"):
        return " ".join(info["command"])
    return (f"crtsim run SCENARIO.yaml --replicates {scenario.replicates} --seed {scenario.seed}"
            f"   # SCENARIO.yaml: the scenario in run.json (its path was not recorded)")


def provenance_sentences(scenario: Scenario, info: dict) -> str:
    version = info.get("versions", {}).get("crtsim", "unknown")
    code = str(info.get("code_hash", ""))[:12] or "unknown"
    return (f"Simulated with crtsim {version} (code {code}), seed {scenario.seed} (`seed` = "
            f"{scenario.seed}), {scenario.replicates} replicates"
            f"{' per design point' if scenario.sweep else ''}. This "
            f"command reproduces every number above:\n\n```\n{command_text(info, scenario)}\n```")


def statement_markdown(scenario: Scenario, summary: list[dict], info: dict) -> str:
    """The whole statement as Markdown (module docstring)."""
    from simulator.montecarlo.summary import primary_rows
    from simulator.outputs.statement_outcomes import secondary_sentences
    from simulator.scenario.files import design_points

    every, summary = summary, primary_rows(summary)
    points = design_points(scenario)
    plan = analysis_plan(scenario.analysis)
    primary, others = plan[0].label, [p.label for p in plan[1:]]
    point = chosen_point(points, summary, primary)
    s = point.scenario
    rows = rows_at(summary, dict(point.swept))
    parts = [f"## Sample size statement: {scenario.name}",
             design_sentences(s) + " " + outcome_sentences(s),
             intervention_sentences(s) + " " + attrition_sentences(s),
             analysis_sentences(s, analysis_plan(s.analysis)[0]) + " " +
             results_sentences(s, rows, primary, others)]
    secondary = secondary_sentences(s, rows_at(every, dict(point.swept)))
    parts += [secondary] if secondary else []
    if s.priors:
        from simulator.outputs.statement_priors import prior_sentences
        parts.append(prior_sentences(s))
    if point.swept:
        parts.append(sweep_sentences(points, summary, primary, point))
    parts.append(provenance_sentences(scenario, info))
    return "\n\n".join(parts) + "\n"


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text, quote=False))


def markdown_html(markdown: str) -> str:
    """The statement's Markdown (paragraphs, '## ' headings, '- ' lists, ``` blocks) as HTML."""
    out = []
    for block in markdown.strip().split("\n\n"):
        if block.startswith("```"):
            out.append(f"<pre><code>{escape(block.strip('`').strip())}</code></pre>")
        elif block.startswith("## "):
            out.append(f"<h2>{_inline(block[3:])}</h2>")
        elif block.startswith("- "):
            items = "".join(f"<li>{_inline(line[2:])}</li>" for line in block.splitlines())
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(block)}</p>")
    return "\n".join(out)
