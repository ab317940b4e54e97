"""report.html after a run, and `crtsim report` rebuilding it from the saved files."""
from __future__ import annotations

import math
import re

import pytest

from simulator.cli import main
from simulator.outputs.files import parse_cell
from simulator.outputs.report import read_summary
from simulator.montecarlo.runner import RunSettings, run_scenario
from simulator.scenario.files import load_scenario

SCENARIO = ("name: rep\nreplicates: 8\ntrial: {teams: 8, patients_per_team: {mean: 6, cv: 0.3}}\n"
            "sweep: {intervention.attendance: [0.5, 1.0]}\n")


def _summary_table(html: str) -> str:
    match = re.search(r'<table id="summary-table">.*?</table>', html, re.S)
    assert match
    return match.group(0)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    path = folder / "s.yaml"
    path.write_text(SCENARIO)
    out = folder / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--executor", "serial"]) == 0
    return path, out


def test_run_writes_a_self_contained_report(run_dir):
    _, out = run_dir
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    # power, bias, timeline, balance, flow and (a sweep) the paired comparisons
    assert len(images) == 6 and all(src.startswith("data:image/png;base64,") for src in images)
    assert (out / "balance.png").exists()
    assert (out / "flow.png").exists() and (out / "flow.svg").exists()
    for needle in ("Derived quantities", "closed-form power", "Run provenance",
                   "replicates per second"):
        assert needle in html


def test_read_summary_returns_the_rows_of_the_run(run_dir, tmp_path):
    path, out = run_dir
    result = run_scenario(load_scenario(path), RunSettings(out_dir=out, executor="serial",
                                                           quiet=True, engine="auto"))  # as run
    rows = read_summary(out / "summary.csv")
    assert len(rows) == len(result.summary)
    for mine, theirs in zip(rows, result.summary):
        assert mine.keys() == theirs.keys()
        assert all(_same(mine[k], theirs[k]) for k in mine), mine


def test_report_rebuilds_an_identical_summary_table(run_dir, capsys):
    _, out = run_dir
    before = (out / "report.html").read_text(encoding="utf-8")
    timeline = (out / "timeline.png").read_bytes()
    (out / "power_curve.png").unlink()
    assert main(["report", str(out)]) == 0
    after = (out / "report.html").read_text(encoding="utf-8")
    assert _summary_table(after) == _summary_table(before)
    assert (out / "power_curve.png").exists()
    assert (out / "timeline.png").read_bytes() == timeline        # kept, not re-simulated
    assert after == before                                       # same plots, same everything


def test_rebuild_without_timeline_omits_it(run_dir):
    _, out = run_dir
    (out / "timeline.png").unlink()
    assert main(["report", str(out)]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    # flow, power, bias, balance and the paired comparisons; no timeline
    assert len(re.findall(r"data:image/png;base64,", html)) == 5
    assert not (out / "timeline.png").exists()


def test_no_plots_still_writes_the_report(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: np\nreplicates: 4\ntrial: {teams: 6}\n")
    out = tmp_path / "o"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-plots",
                 "--executor", "serial"]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert [p.name for p in out.glob("*.png")] == ["flow.png"]   # every run draws its flow
    assert html.count("data:image") == 1
    assert _summary_table(html).count("<tr>") == 1 + 2 * 2     # header + 2 estimators x 2 estimands


def test_report_on_a_folder_without_results(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "summary.csv" in capsys.readouterr().err


@pytest.mark.parametrize("cell,value", [("", float("nan")), ("3", 3), ("0.1", 0.1),
                                        ("True", True), ("mixed_ancova", "mixed_ancova")])
def test_parse_cell(cell, value):
    assert _same(parse_cell(cell), value)
