"""Plots, ``statement.md`` and ``report.html`` of an output folder: after a run, or rebuilt
from the saved files.

The report is one self-contained file: inline CSS, plots embedded as base64 ``data:`` URIs,
no scripts and no external resources.  ``rebuild_report`` needs only summary.csv and run.json
(replicates.csv is listed when present); it redraws every plot but the timeline, which needs
simulation, and keeps an existing timeline.png.  The CONSORT flow (flow.png, flow.svg) is
drawn from replicates.csv for the statement's design point; without it (or with a
replicates.csv older than the flow columns) an existing flow is kept.  ``--no-plots`` writes
no figure at all, the flow included; statement.md is always written.
"""
from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

import numpy as np

from simulator.outputs.comparison_plot import draw_comparisons
from simulator.outputs.files import parse_cell, read_csv, write_atomic
from simulator.outputs.report_html import page
from simulator.scenario.schema import Scenario

PLOTS = ("power_curve.png", "bias_coverage.png", "timeline.png", "balance.png")


def read_summary(path: str | Path) -> list[dict]:
    """summary.csv back as the list of dict rows ``summary.summarise`` produced (numbers parsed;
    floats round-trip exactly because they were written with repr)."""
    header, rows = read_csv(path)
    return [dict(zip(header, map(parse_cell, row))) for row in rows]


def swept_keys_of(path: str | Path) -> list[str]:
    """The swept keys: the summary.csv columns before ``outcome`` (``estimator`` in files
    from before outcomes were a list)."""
    header, _ = read_csv(path)
    return header[: header.index("outcome" if "outcome" in header else "estimator")]


def read_run_info(out_dir: str | Path) -> dict:
    return json.loads((Path(out_dir) / "run.json").read_text(encoding="utf-8"))


def scenario_from_info(info: dict, source: str) -> Scenario:
    from simulator.scenario.files import parse_scenario
    return parse_scenario(info["scenario"], source)


def _timeline_point(scenario: Scenario) -> int:
    """The middle design point (for a sweep around the scenario's own value)."""
    from simulator.scenario.files import design_points
    return len(design_points(scenario)) // 2


def draw_plots(out_dir: Path, scenario: Scenario, summary: list[dict], swept_keys: list[str],
               *, timeline: bool, engine: str = "simpy") -> list[Path]:
    """Write power_curve.png, bias_coverage.png and (``timeline=True``) timeline.png: the
    primary outcome's (the timeline's replicates on the run's ``engine``)."""
    from simulator.montecarlo.summary import primary_rows
    from simulator.planning.closed_form import adjusts_for_baseline, closed_form_curve
    from simulator.outputs.plots import plot_balance, plot_bias_coverage, plot_power_curve, save_figure

    alpha, name = scenario.analysis.alpha, scenario.name
    every, summary = summary, primary_rows(summary)
    out = [Path(out_dir) / p for p in PLOTS]
    adjusted = adjusts_for_baseline(scenario, None)
    save_figure(plot_power_curve(
        summary, swept_keys, alpha=alpha, closed_form=closed_form_curve(scenario),
        closed_form_label=f"closed form ({'baseline-adjusted' if adjusted else 'unadjusted'})",
        title=f"{name}: power, all trials (±1.96 MCSE), {scenario.replicates} replicates "
              "per design point; closed form dashed"), out[0])
    save_figure(plot_bias_coverage(
        summary, swept_keys, alpha=alpha, unit=f"{scenario.outcome.name} points",
        title=f"{name}: bias and CI coverage against each estimator's estimand "
              "(ITT; efficacy for cace_iv and implementation_split), ±1.96 MCSE"), out[1])
    if timeline:
        save_figure(_timeline_figure(scenario, engine), out[2])
    balance = balance_by_design_point(Path(out_dir) / "replicates.csv", scenario)
    if balance:
        save_figure(plot_balance(balance, title=f"{name}: chance imbalance between arms at "
                                 "baseline, per design point"), out[3])
    out += _outcome_plot(Path(out_dir), scenario, every, swept_keys)
    return [p for p in out if p.exists()] + draw_flow(Path(out_dir), scenario, summary) \
        + _assurance_plot(Path(out_dir), scenario, summary) \
        + draw_comparisons(Path(out_dir), swept_keys)


def _outcome_plot(out_dir: Path, scenario: Scenario, summary: list[dict],
                  swept_keys: list[str]) -> list[Path]:
    """outcome_power.png when the scenario measures more than one outcome."""
    from simulator.outputs.outcome_report import outcome_labels, plot_outcome_power
    from simulator.outputs.plots import save_figure

    if len(outcome_labels(summary)) < 2:
        return []
    save_figure(plot_outcome_power(summary, swept_keys, alpha=scenario.analysis.alpha,
                                   title=f"{scenario.name}: power of each outcome, its first "
                                         "analysis, all trials (±1.96 MCSE)"),
                out_dir / "outcome_power.png")
    return [out_dir / "outcome_power.png"]


def _assurance_plot(out_dir: Path, scenario: Scenario, summary: list[dict]) -> list[Path]:
    """assurance.png for the statement's design point when the scenario has priors."""
    from simulator.outputs.assurance_figure import draw_assurance

    if not scenario.priors:
        return []
    point = statement_point(scenario, summary)
    return draw_assurance(out_dir, point.scenario, point.index)


def statement_point(scenario: Scenario, summary: list[dict]):
    """The design point the statement and the flow describe (``statement.chosen_point``)."""
    from simulator.analysis.registry import analysis_plan
    from simulator.outputs.statement import chosen_point
    from simulator.scenario.files import design_points

    primary = analysis_plan(scenario.analysis)[0].label
    return chosen_point(design_points(scenario), summary, primary)


def draw_flow(out_dir: Path, scenario: Scenario, summary: list[dict]) -> list[Path]:
    """Write flow.png and flow.svg for the statement's design point from replicates.csv, and
    return [flow.png]; an existing flow is kept when replicates.csv is missing or has no flow
    columns ([] when there is none)."""
    from simulator.outputs.flow import flow_from_replicates, write_flow

    point = statement_point(scenario, summary)
    where = ", ".join(f"{k} = {v}" for k, v in point.swept.items())
    counts = flow_from_replicates(out_dir / "replicates.csv", point.index,
                                  where=f"{where}: power closest to 80 %" if where else "")
    if counts is None:
        return [out_dir / "flow.png"] if (out_dir / "flow.png").exists() else []
    return write_flow(counts, out_dir, title=f"{scenario.name}: simulated CONSORT flow")[:1]


def balance_by_design_point(path: Path, scenario: Scenario) -> dict[str, np.ndarray]:
    """Max |SMD| per replicate (one value per replicate), labelled by the swept values."""
    from simulator.scenario.files import design_points
    from simulator.montecarlo.summary import primary_selection, read_replicate_columns

    if not path.exists():
        return {}
    cols = read_replicate_columns(path, ("design_point", "replicate", "outcome", "estimator",
                                         "imbalance_max_smd"))
    first = primary_selection(cols)
    labels = {p.index: ", ".join(f"{v}" for v in p.swept.values()) or scenario.name
              for p in design_points(scenario)}
    return {labels[d]: cols["imbalance_max_smd"][first & (cols["design_point"] == d)]
            for d in labels if (first & (cols["design_point"] == d)).any()}


def _timeline_figure(scenario: Scenario, engine: str = "simpy"):
    from simulator.outputs.timeline_plot import plot_timeline
    from simulator.outputs.timeline_summary import timeline_data

    data = timeline_data(scenario, _timeline_point(scenario), replicates=20, engine=engine)
    where = ", ".join(f"{k} = {v}" for k, v in data.swept.items())
    title = f"{scenario.name}{' (' + where + ')' if where else ''}: {data.replicates} simulated " \
            "trials, mean and 10th-90th centile band"
    return plot_timeline(data, title=title)


def image_tag(path: Path) -> str:
    """An <img> with the PNG embedded as a base64 data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def write_report(out_dir: Path, scenario: Scenario, summary: list[dict], swept_keys: list[str],
                 info: dict, images: list[Path]) -> Path:
    """Write ``statement.md`` and ``report.html`` (which embeds it) atomically; ``images`` are
    the PNGs to embed (flow.png in its own section, the others in that order)."""
    from simulator.montecarlo.summary import primary_rows
    from simulator.outputs.answer import answer, answer_section
    from simulator.outputs.outcome_report import families_section, outcomes_section
    from simulator.outputs.statement import markdown_html, statement_markdown

    outcomes = outcomes_section(summary, swept_keys) + \
        families_section(Path(out_dir) / "families.csv", swept_keys)
    markdown = statement_markdown(scenario, summary, info)
    summary = primary_rows(summary)
    extra = _replicates_note(Path(out_dir) / "replicates.csv")
    write_atomic(Path(out_dir) / "statement.md", markdown)
    statement = markdown_html(markdown)
    flow = "".join(image_tag(p) for p in images if p.name == "flow.png")
    html = page(scenario, summary, swept_keys, info,
                [image_tag(p) for p in images if p.name != "flow.png"], extra,
                answer=answer_section(answer(scenario, summary), swept_keys),
                statement=statement, flow=flow, outcomes=outcomes)
    return write_atomic(Path(out_dir) / "report.html", html)


def _replicates_note(path: Path) -> str:
    if not path.exists():
        return "replicates.csv: not found"
    with open(path, encoding="utf-8") as fh:
        rows = sum(1 for _ in fh) - 1
    return f"replicates.csv: {rows} rows (one per design point × replicate × outcome × estimator)"


def rebuild_report(out_dir: str | Path) -> Path:
    """Redraw the plots (keeping an existing timeline.png) and rewrite statement.md and
    report.html from summary.csv and run.json, without simulating."""
    out = Path(out_dir)
    info = read_run_info(out)
    scenario = scenario_from_info(info, str(out / "run.json"))
    summary = read_summary(out / "summary.csv")
    keys = swept_keys_of(out / "summary.csv")
    images = draw_plots(out, scenario, summary, keys, timeline=False)
    return write_report(out, scenario, summary, keys, info, images)
