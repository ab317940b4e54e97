"""The HTML of ``report.html``: pure functions from plain data to text (no I/O, no scripts).

Performance measures follow Morris, White & Crowther (2019, Stat Med 38:2074): each with its
Monte Carlo SE in brackets.
"""
from __future__ import annotations

import math
from html import escape

from simulator.scenario.schema import Scenario

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222;
line-height:1.4}h1{font-size:1.6em}
h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{padding:.2em .6em;
border-bottom:1px solid #e4e4e4;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}
img{max-width:100%;display:block;margin:1em 0}p.note{color:#555;font-size:.9em}
p.headline{font-size:1.15em;background:#f4f8fc;border-left:4px solid #4477aa;padding:.6em .9em}
div.warnings{background:#fff6e5;border-left:4px solid #e0a030;padding:.4em .9em;margin:.8em 0}
p.ok{color:#276b2e}pre{background:#f5f5f5;padding:.6em;overflow-x:auto}
section#statement{border:1px solid #ddd;padding:0 1em .4em;margin:1.2em 0}"""

FLOW_NOTE = ("<p class=note>Teams, patients and staff at each stage, per arm: mean over the "
             "simulated trials and 10th–90th centile (flow.png, flow.svg; counts from the "
             "diagnostics in replicates.csv).</p>")

PARAMETERS = (
    ("teams randomised", "trial.teams"), ("intervention share", "trial.intervention_share"),
    ("patients per team (mean)", "trial.patients_per_team.mean"),
    ("team size CV", "trial.patients_per_team.cv"),
    ("staff per team (mean)", "trial.staff_per_team.mean"), ("months to follow-up", "trial.months"),
    ("outcome", "outcome.name"), ("outcome SD", "outcome.sd"),
    ("ICC", "outcome.icc"), ("individual autocorrelation", "outcome.individual_autocorrelation"),
    ("cluster autocorrelation", "outcome.cluster_autocorrelation"),
    ("effect at full implementation", "intervention.effect_at_full_implementation"),
    ("dose-response", "intervention.dose_response"), ("attendance", "intervention.attendance"),
    ("session months", "intervention.session_months"),
    ("sessions to train", "intervention.sessions_to_train"),
    ("staff turnover per year", "staff_turnover.annual_rate"),
    ("vacancy (months)", "staff_turnover.vacancy_months"),
    ("disband rate per team-year", "reconfiguration.disband_rate_per_team_year"),
    ("scheduled disbanding", "reconfiguration.scheduled"),
    ("dropout (attrition)", "dropout.attrition"), ("dropout mechanism", "dropout.mechanism"),
    ("allocation", "allocation.method"), ("estimators", "analysis.estimators"),
    ("alpha", "analysis.alpha"), ("replicates per design point", "replicates"), ("seed", "seed"),
)

SUMMARY_COLUMNS = (  # (heading, value column, MCSE column or None, format)
    ("power (all trials)", "rejection_all", "rejection_all_mcse", ".3f"),
    ("true value", "true_value", None, ".3f"), ("bias", "bias", "bias_mcse", ".3f"),
    ("empirical SE", "empse", "empse_mcse", ".3f"), ("model SE", "modse", None, ".3f"),
    ("rel. error of model SE (%)", "relerr_modse", "relerr_modse_mcse", ".1f"),
    ("RMSE", "rmse", None, ".3f"), ("coverage", "coverage", "coverage_mcse", ".3f"),
    ("rejection rate (successful fits)", "rejection", "rejection_mcse", ".3f"),
    ("n_sim", "n_sim", None, "d"),
    ("failed fits", "n_failed", None, "d"),
)


def fmt(value, spec: str = ".4g") -> str:
    """A number for reading: '–' for missing/nan, ints plain, floats by ``spec``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, str, list, tuple, dict)):   # lists: a swept list-valued key
        return escape(str(value))
    if spec == "d":
        return str(int(value))
    if isinstance(value, int) and spec == ".4g":
        return str(value)
    return format(value, spec)


def _value(data: dict, dotted: str):
    for part in dotted.split("."):
        data = data.get(part, "") if isinstance(data, dict) else ""
    return data


def table(head: list[str], rows: list[list[str]], *, left: int = 1, ident: str = "") -> str:
    """An HTML table of already-escaped cells; the first ``left`` columns left-aligned."""
    cls = lambda i: ' class="l"' if i < left else ""  # noqa: E731
    attrs = f' id="{ident}"' if ident else ""
    heads = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head))
    out = [f"<table{attrs}><tr>{heads}</tr>"]
    out += ["<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>"
            for r in rows]
    return "\n".join(out) + "\n</table>"


def parameters_section(scenario: Scenario) -> str:
    data = scenario.model_dump(mode="json")
    one_component = ("intervention.attendance", "intervention.session_months",
                     "intervention.sessions_to_train")
    rows = [[escape(label), escape(_plain(_value(data, path)))] for label, path in PARAMETERS
            if not (scenario.intervention.components and path in one_component)]
    if scenario.intervention.components:   # the strategies stand for today's three keys
        rows.insert(9, ["components", escape("; ".join(
            f"{c.name} ({c.audience}, months {_plain(list(c.session_months))}, attendance "
            f"{c.attendance:g}, complete after {c.sessions_to_complete}, weight {c.weight:g})"
            for c in scenario.intervention.strategies))])
    sweep = "".join(f"<li><code>{escape(k)}</code>: {escape(_plain(list(v)))}</li>"
                    for k, v in scenario.sweep.items())
    swept = f"<p>Swept (the design points are the cross-product):</p><ul>{sweep}</ul>" if sweep \
        else "<p>No sweep: one design point.</p>"
    return "<h2>Scenario and key parameters</h2>\n" + table(["parameter", "value"], rows) + swept


def _plain(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _point_name(swept: dict) -> str:
    return escape(", ".join(f"{k} = {_plain(v)}" for k, v in swept.items()) or "design point")


def derived_section(scenario: Scenario) -> str:
    """Derived quantities and closed-form power, one column per design point."""
    from simulator.planning.closed_form import closed_form_rows
    from simulator.planning.derived import derived_quantities
    from simulator.scenario.files import design_points

    points = design_points(scenario)
    derived = [derived_quantities(p.scenario) for p in points]
    closed = closed_form_rows(scenario)
    labels = {"teams_per_arm": "closed form: k (harmonic mean teams per arm)",
              "patients_analysed": "closed form: m̄ analysed", "vif": "closed form: VIF",
              "expected_exposure": "closed form: E[exposure], intervention patients",
              "expected_itt_effect": "closed form: expected ITT effect",
              "closed_form_power": "closed-form power"}
    rows = [[escape(name)] + [fmt(d[name]) for d in derived] for name in derived[0]]
    rows += [[escape(label)] + [fmt(c[key]) for c in closed] for key, label in labels.items()]
    head = ["quantity"] + [_point_name(p.swept) for p in points]
    note = "<p class=note>Closed form: simulator/closed_form.py (noncentral t, Eldridge design " \
           "effect, Teerenstra baseline adjustment, attrition, mean-field implementation).</p>"
    return "<h2>Derived quantities</h2>\n" + table(head, rows) + note


def summary_section(summary: list[dict], swept_keys: list[str]) -> str:
    """The performance table, each measure with its Monte Carlo SE in brackets."""
    head = [escape(k) for k in swept_keys] + ["estimator", "estimand"] + \
        [escape(h) for h, *_ in SUMMARY_COLUMNS]
    rows = []
    for r in summary:
        cells = [fmt(r[k]) for k in swept_keys] + [fmt(r["estimator"]), fmt(r["estimand"])]
        for _, col, mcse, spec in SUMMARY_COLUMNS:
            text = fmt(r.get(col), spec)
            cells.append(f"{text} ({fmt(r.get(mcse), spec)})" if mcse and text != "–" else text)
        rows.append(cells)
    partial = sorted({r["means_based_on"] for r in summary
                      if r.get("means_based_on", "all") != "all"})
    missing = "".join(f"<p class=note>Diagnostic means based on fewer replicates: "
                      f"{escape(str(p))}.</p>" for p in partial)
    note = missing + "<p class=note>Monte Carlo SE in brackets (Morris, White &amp; Crowther 2019). " \
           "Power (all trials): the share of all simulated trials whose analysis rejects, a " \
           "failed analysis counting as no rejection (type I error when the true value is 0). " \
           "Rejection rate (successful fits) leaves the failed fits out.</p>"
    return "<h2>Performance</h2>\n" + table(head, rows, left=len(swept_keys) + 2,
                                             ident="summary-table") + note


def provenance_section(info: dict, extra: str) -> str:
    keys = ("seed", "replicates", "design_points", "executor", "workers", "chunk_size",
            "wall_seconds", "replicates_computed", "replicates_total", "replicates_per_second")
    rows = [[escape(k.replace("_", " ")), fmt(info.get(k))] for k in keys]
    rows += [[f"version: {escape(k)}", escape(str(v))] for k, v in info.get("versions", {}).items()]
    return "<h2>Run provenance</h2>\n" + table(["item", "value"], rows) + \
        f"<p class=note>{escape(extra)}. Source: run.json.</p>"


def page(scenario: Scenario, summary: list[dict], swept_keys: list[str], info: dict,
         images: list[str], extra: str = "", *, answer: str = "", statement: str = "",
         flow: str = "", outcomes: str = "") -> str:
    """The whole report, answer first (``answer``, ``statement``: ready HTML sections), then
    the flow and ``images`` (ready <img> tags, data URIs), then the tables."""
    plots = "\n".join(images) if images else "<p class=note>No plots (run with --no-plots).</p>"
    body = [f"<h1>crtsim report: {escape(scenario.name)}</h1>",
            f"<p>{escape(scenario.description or 'No description.')}</p>", answer,
            f'<section id="statement">{statement}</section>' if statement else "",
            f'<section id="flow"><h2>Simulated CONSORT flow</h2>\n{flow}{FLOW_NOTE}</section>'
            if flow else "",
            "<h2>Plots</h2>\n" + plots, summary_section(summary, swept_keys), outcomes,
            derived_section(scenario), parameters_section(scenario),
            provenance_section(info, extra)]
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<title>crtsim: {escape(scenario.name)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
