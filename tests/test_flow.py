"""The simulated CONSORT flow: per-arm diagnostics that add up, counts over replicates, the
figure's boxes and arrows, and flow.png / flow.svg from `crtsim run` and `crtsim draw`."""
from __future__ import annotations

import copy
import csv
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Rectangle

from simulator.cli import main
from simulator.montecarlo.engine import draw_replicate
from simulator.outputs.flow import flow_columns, flow_counts, flow_from_replicates, replicate_flow
from simulator.outputs.flow_plot import layout, plot_flow
from simulator.scenario.counts import intervention_count
from simulator.scenario.files import load_scenario

from conftest import SCENARIOS

SCENARIO = ("name: fl\nreplicates: 10\ntrial: {teams: 10, patients_per_team: {mean: 8, cv: 0.3}}\n"
            "staff_turnover: {annual_rate: 0.5}\n"
            "reconfiguration: {scheduled: [{month: 5, teams: 1}], disband_rate_per_team_year: 0.2,"
            " patient_transfer_probability: 0.6}\n")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.mark.parametrize("replicate", [0, 3, 7])
def test_per_arm_counts_add_up_to_the_totals(replicate):
    scenario = load_scenario(SCENARIOS / "refocus.yaml")
    rep = draw_replicate(scenario, replicate)
    d = rep.diagnostics
    both = lambda k: d[f"{k}_int"] + d[f"{k}_ctl"]  # noqa: E731
    for name in ("patients_randomised", "patients_analysed", "patients_dropout", "patients_lost",
                 "teams_disbanded"):
        assert both(name) == d[name], name
    assert d["teams_randomised_int"] == intervention_count(27, 0.5) == int(rep.arm.sum())
    assert both("patients_transferred_across") == round(d["contamination"] * d["patients_randomised"])
    assert both("staff_left") == round(d["staff_turnover"] * both("staff_baseline"))
    for arm in ("int", "ctl"):
        assert d[f"patients_randomised_{arm}"] == sum(
            d[f"patients_{k}_{arm}"] for k in ("analysed", "dropout", "lost"))
        in_post = d[f"staff_baseline_{arm}"] + d[f"staff_newcomers_{arm}"] - d[f"staff_left_{arm}"]
        assert 0 <= d[f"staff_followup_{arm}"] <= in_post
    joins = sum(1 for e in rep.events() if e.kind == "staff_join")
    assert both("staff_newcomers") == joins


SERVICES = ("name: sv\nseed: 5\ntrial: {teams: 12, sites: {a: 0.5, b: 0.5}, months: 18,"
            " patients_per_team: {mean: 8, cv: 0.3}}\n"
            "staff_turnover: {annual_rate: 0.8, move_share: 0.5, vacancy_months: 2}\n"
            "reconfiguration: {scheduled: [{month: 4, teams: 1}], disband_rate_per_team_year: 0.1,"
            " merges: {within: site, rate_per_team_year: 0.3, scheduled: [{month: 9, pairs: 2}]}}\n")


@pytest.mark.parametrize("replicate", range(6))
def test_staff_are_conserved_per_arm_through_moves_merges_and_disbanding(replicate, tmp_path):
    """Per arm: baseline + newcomers + moved in + pooled in − left − pooled out − follow-up is
    the staff in post when a team disbanded: 0 without disbanding, never negative."""
    path = tmp_path / "s.yaml"
    path.write_text(SERVICES)
    rep = draw_replicate(load_scenario(path), replicate)
    d, h = rep.diagnostics, rep.history
    both = lambda k: d[f"{k}_int"] + d[f"{k}_ctl"]  # noqa: E731
    assert both("staff_moved_out") == d["staff_moves"] == int(h.staff_flow["moved_out"].sum())
    assert both("teams_merged") == d["teams_merged"]
    assert both("staff_merged_across_out") == both("staff_merged_across_in")
    balance = {arm: d[f"staff_baseline_{arm}"] + d[f"staff_newcomers_{arm}"]
               + d[f"staff_moved_in_{arm}"] + d[f"staff_merged_across_in_{arm}"]
               - d[f"staff_left_{arm}"] - d[f"staff_merged_across_out_{arm}"]
               - d[f"staff_followup_{arm}"] for arm in ("int", "ctl")}
    assert min(balance.values()) >= 0
    # movers between teams: arrived, still waiting at follow-up, or removed waiting for a team
    # that disbanded; the rest of the removed were in post at a disbanding
    in_transit = both("staff_moved_out") - both("staff_moved_in")
    waiting = int(h.staff_flow["waiting"].sum())
    assert sum(balance.values()) + in_transit - waiting == int(h.staff_flow["removed"].sum())
    flow = replicate_flow(d)
    staff = {b["key"]: b for b in flow["groups"][2]["boxes"]}
    if both("staff_moved_out"):
        assert staff["moved_out"]["control"]["mean"] == d["staff_moved_out_ctl"]
        assert staff["left"]["control"]["mean"] == d["staff_left_ctl"] - d["staff_moved_out_ctl"]


def test_boxes_for_merges_and_moves_appear_only_when_a_trial_has_them():
    rep = draw_replicate(load_scenario(SCENARIOS / "refocus.yaml"), 0)
    keys = {(g["name"], b["key"]) for g in replicate_flow(rep.diagnostics)["groups"]
            for b in g["boxes"]}
    assert ("teams", "merged") not in keys and ("staff", "moved_out") not in keys
    assert ("staff", "left") in keys and ("teams", "disbanded") in keys


def _columns(n=10):
    """Synthetic per-replicate columns: every count k + replicate (1..n) where k is its index."""
    return {c: np.arange(1, n + 1, dtype=float) + i for i, c in enumerate(flow_columns())}


def test_counts_are_mean_and_observed_centiles_over_replicates():
    cols = _columns()
    counts = flow_counts(cols)
    assert counts["replicates"] == 10 and counts["arms"] == ("intervention", "control")
    assert [g["name"] for g in counts["groups"]] == ["teams", "patients", "staff"]
    patients = {b["key"]: b for b in counts["groups"][1]["boxes"]}
    offset = flow_columns().index("patients_dropout_int")
    assert patients["dropout"]["intervention"] == {"mean": 5.5 + offset, "p10": 1.0 + offset,
                                                   "p90": 9.0 + offset}
    teams = {b["key"]: b for b in counts["groups"][0]["boxes"]}
    gap = flow_columns().index("teams_randomised_ctl") - flow_columns().index("teams_analysed_ctl")
    assert teams["no_patient"]["control"]["mean"] == gap      # derived: randomised - analysed


def _rectangles(fig):
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]


def test_the_figure_has_a_box_per_stage_and_arm_joined_by_arrows():
    counts = flow_counts(_columns())
    boxes = sum(len(g["boxes"]) for g in counts["groups"])
    fig = plot_flow(counts, title="t")
    assert len(_rectangles(fig)) == 2 * boxes + 2                    # + the two arm headers
    arrows = [t for t in fig.axes[0].texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 2 * (boxes - len(counts["groups"]))        # one into each non-first box
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "Transferred to the other arm" in texts and "Intervention arm" in texts
    dashed = [r for r in _rectangles(fig) if r.get_linestyle() == "--"]
    events = sum(b["kind"] == "event" for g in counts["groups"] for b in g["boxes"])
    assert events == 4 and len(dashed) == 2 * events    # disbanded, merged, within, across


def test_a_new_box_needs_no_change_to_the_plot():
    counts = copy.deepcopy(flow_counts(_columns()))
    teams = counts["groups"][0]["boxes"]
    merged = {**copy.deepcopy(teams[1]), "key": "merged", "label": "Merged into another team"}
    teams.insert(2, merged)
    fig = plot_flow(counts)
    assert "Merged into another team" in " ".join(t.get_text() for t in fig.axes[0].texts)
    with pytest.raises(ValueError):
        layout([merged])                                              # must start with a stage


def test_one_replicate_shows_its_counts():
    rep = draw_replicate(load_scenario(SCENARIOS / "refocus.yaml"), 3)
    fig = plot_flow(replicate_flow(rep.diagnostics))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert f"Analysed (followed up)\nn = {rep.diagnostics['patients_analysed_int']}" in texts


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flow")
    (folder / "s.yaml").write_text(SCENARIO)
    out = folder / "out"
    assert main(["run", str(folder / "s.yaml"), "--out", str(out), "--quiet",
                 "--executor", "serial"]) == 0
    return out


def test_run_writes_the_flow_from_its_replicates(run_dir):
    assert (run_dir / "flow.png").stat().st_size > 10_000 and (run_dir / "flow.svg").exists()
    with open(run_dir / "replicates.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["estimator"] == "mixed_ancova"]
    assert len(rows) == 10
    counts = flow_from_replicates(run_dir / "replicates.csv", 0)
    staff = {b["key"]: b for b in counts["groups"][2]["boxes"]}
    left = [float(r["staff_left_ctl"]) for r in rows]
    assert math.isclose(staff["left"]["control"]["mean"], sum(left) / len(left))
    assert staff["left"]["control"]["p90"] in left
    assert "Simulated CONSORT flow" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_draw_writes_the_flow_of_one_trial(tmp_path):
    paths = []
    for name in ("a", "b"):
        assert main(["draw", str(SCENARIOS / "refocus.yaml"), "--replicate", "2",
                     "--out", str(tmp_path / name)]) == 0
        paths.append(tmp_path / name / "flow.svg")
    assert (tmp_path / "a" / "flow.png").exists()
    assert paths[0].read_bytes() == paths[1].read_bytes()            # reproducible


def test_every_run_writes_its_flow_and_statement_even_without_plots(tmp_path):
    from simulator.cli import main

    path = tmp_path / "s.yaml"
    path.write_text("name: f\nreplicates: 6\ntrial: {teams: 8}\n")
    out = tmp_path / "o"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-plots",
                 "--executor", "serial"]) == 0
    assert (out / "flow.png").stat().st_size > 0 and (out / "flow.svg").stat().st_size > 0
    assert "8 teams" in (out / "statement.md").read_text()
    assert not (out / "power_curve.png").exists()
