"""report.html opens with the answer (power over all trials with MCSE per analysis, delivered
vs full effect, closed-form teams for 80 %, warnings), then the statement, the flow, the plots
and the tables; it is self-contained, and renders in a real browser (skipped without Chromium)."""
from __future__ import annotations

import re

import pytest

from simulator.cli import main
from simulator.outputs.answer import answer, answer_section
from simulator.outputs.report import read_summary
from simulator.planning.solver import closed_form_value
from simulator.scenario.files import design_points, load_scenario

from browser_check import find_browser, problems, screenshot

SCENARIO = ("name: ans\nreplicates: 10\ntrial: {teams: 8, patients_per_team: {mean: 6, cv: 0.3}}\n"
            "sweep: {intervention.attendance: [0.5, 1.0]}\n")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("answer")
    (folder / "s.yaml").write_text(SCENARIO)
    out = folder / "out"
    assert main(["run", str(folder / "s.yaml"), "--out", str(out), "--quiet",
                 "--executor", "serial"]) == 0
    return folder / "s.yaml", out


def _html(out) -> str:
    return (out / "report.html").read_text(encoding="utf-8")


def _table(html: str, ident: str) -> list[list[str]]:
    body = re.search(rf'<table id="{ident}">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in rows]


def test_the_report_opens_with_the_answer(run_dir):
    html = _html(run_dir[1])
    order = ['<section id="answer">', '<section id="statement">', '<section id="flow">',
             "<h2>Plots</h2>", 'id="summary-table"', "<h2>Derived quantities</h2>",
             "<h2>Scenario and key parameters</h2>", "<h2>Run provenance</h2>"]
    places = [html.index(marker) for marker in order]
    assert places == sorted(places)
    assert html.index("<h2>") == html.index("<h2>The answer</h2>")


def test_answer_numbers_are_the_summary_rows(run_dir):
    path, out = run_dir
    html, summary = _html(out), read_summary(out / "summary.csv")
    targets = [r for r in summary if r["is_target"]]
    rows = _table(html, "answer-power")
    assert len(rows) == len(targets) == 4                          # 2 points x 2 analyses
    for cells, r in zip(rows, targets):
        assert cells[:2] == [f"{r['intervention.attendance']:.4g}", r["estimator"]]
        assert cells[3] == f"{100 * r['rejection_all']:.1f}% (MCSE {100 * r['rejection_all_mcse']:.1f})"
        assert int(cells[4]) == r["n_failed"]
    scenario = load_scenario(path)
    effects = _table(html, "answer-effect")
    for cells, point in zip(effects, design_points(scenario)):
        itt = next(r for r in summary if r["estimand"] == "itt" and r["estimator"] == "mixed_ancova"
                   and r["intervention.attendance"] == point.swept["intervention.attendance"])
        assert cells[1] == f"{itt['true_value']:.3f}" and cells[2] == "3"
        need = closed_form_value(point.scenario, "trial.teams", 0.8, "mixed_ancova")
        assert cells[5] == str(need)


def test_every_warning_is_listed(run_dir):
    path, out = run_dir
    scenario = load_scenario(path)
    summary = read_summary(out / "summary.csv")
    for r in summary:
        r["share_team_type_all_in_one_arm"] = 0.0
    clean = answer(scenario, summary)
    assert clean.warnings == ()
    assert "No warnings" in answer_section(clean, ["intervention.attendance"])
    summary[0]["n_failed"] = 3
    for r in summary[:2]:
        r["means_based_on"] = "mean_fidelity_int 7/10"
    summary[-1]["share_team_type_all_in_one_arm"] = 0.4
    found = answer(scenario, summary).warnings
    assert any("mixed_ancova at intervention.attendance = 0.5: 3 of 10 analyses failed" in w
               for w in found)
    assert any("fewer replicates: mean_fidelity_int 7/10" in w for w in found)
    assert any("40.0% of simulated trials" in w for w in found)
    assert "Warnings (3)" in answer_section(answer(scenario, summary), ["intervention.attendance"])


def test_the_report_needs_nothing_from_outside(run_dir):
    html = _html(run_dir[1])
    assert not re.search(r"https?://|<link|<script|url\(|@import", html)
    assert all(src.startswith("data:image/png;base64,")
               for src in re.findall(r'src="([^"]*)"', html))


@pytest.mark.skipif(find_browser() is None, reason="chromium not installed")
def test_the_report_renders_in_a_real_browser(run_dir, tmp_path):
    png = screenshot(run_dir[1] / "report.html", tmp_path / "report.png")
    assert problems(png) == []
