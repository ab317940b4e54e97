"""`crtsim solve`: integer search, closed-form start, and the simulated answer with no dynamics."""
from __future__ import annotations

import json
import math

import pytest
from scipy import stats

from simulator.cli import main
from simulator.planning.closed_form import closed_form_power
from simulator.scenario.files import parse_scenario
from simulator.planning.solver import closed_form_value, smallest_integer, solve, with_value
from test_engine import cluster_t_power

Z = stats.norm.isf(0.0005)   # one-sided 0.05 % per bound

NO_DYNAMICS = ("name: solve\nseed: 3\nreplicates: 100\n"
               "trial: {teams: 10, team_types: {cmht: 1.0},\n"
               "        patients_per_team: {mean: 10, cv: 0.0}}\n"
               "outcome: {team_type_effects: {}, sd: 1.0, icc: 0.05}\n"
               "intervention: {attendance: 1.0, session_months: [0], sessions_to_train: 1,\n"
               "               effect_at_full_implementation: 0.6}\n"
               "staff_turnover: {annual_rate: 0.0}\ndropout: {attrition: 0.0}\n"
               "analysis: {estimators: [cluster_means]}\n")


@pytest.mark.parametrize("answer", [4, 5, 17, 63, 64, 200])
@pytest.mark.parametrize("start", [4, 16, 100])
def test_smallest_integer_finds_the_threshold(answer, start):
    calls = []

    def ok(v):
        calls.append(v)
        return v >= answer

    assert smallest_integer(ok, start, 4, 1000) == answer
    assert len(calls) < 30


def test_smallest_integer_out_of_reach():
    assert smallest_integer(lambda v: False, 10, 4, 50) is None


def test_closed_form_value_is_the_first_integer_reaching_the_target():
    import yaml
    s = parse_scenario(yaml.safe_load(NO_DYNAMICS))
    v = closed_form_value(s, "trial.teams", 0.8, "cluster_means")
    power = lambda k: closed_form_power(with_value(s, "trial.teams", k),   # noqa: E731
                                        estimator="cluster_means")["closed_form_power"]
    assert power(v) >= 0.8 > power(v - 1)
    assert 10 <= v <= 20


def test_solver_matches_closed_form_without_dynamics(tmp_path):
    import yaml
    s = parse_scenario(yaml.safe_load(NO_DYNAMICS))
    lines = []
    sol = solve(s, "trial.teams", 0.8, estimator="cluster_means", max_replicates=1000,
                start_replicates=250, out_dir=tmp_path / "solve", executor="serial",
                log=lines.append)
    assert sol.closed_form_value is not None and sol.value is not None
    # No dynamics: the simulated trial is the cluster-means t test, whose power is the
    # noncentral t (exact for any K, odd ones too). Every simulated power the search used
    # must match it within z = 3.29 MCSE (0.05 % per side), and the answer must be one that
    # exact power allows: its power reaches 0.8 and the value below falls short, each up to
    # that same z MCSE (one team either way of the closed-form answer when the power moves
    # by more than that per team).
    exact = lambda k: cluster_t_power(k, 10, 0.6, 0.05)  # noqa: E731
    band = lambda k, n: Z * math.sqrt(exact(k) * (1 - exact(k)) / n)  # noqa: E731
    for e in sol.evaluations:
        assert abs(e.power - exact(e.value)) <= band(e.value, e.replicates), e
    assert exact(sol.value) >= 0.8 - band(sol.value, sol.replicates), sol.message
    assert exact(sol.value - 1) < 0.8 + band(sol.value - 1, sol.replicates), sol.message
    assert sol.simulated_power >= 0.8
    below = [e for e in sol.evaluations
             if e.value == sol.value - 1 and e.replicates == sol.replicates]
    assert below and below[0].power < 0.8
    assert sol.ambiguous == (not (sol.simulated_power - 2 * sol.mcse > 0.8
                                  and below[0].power + 2 * below[0].mcse < 0.8))
    assert lines and all("power (all trials)" in line for line in lines)


def test_solve_cli_json_and_sweep_refusal(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(NO_DYNAMICS.replace("effect_at_full_implementation: 0.6",
                                        "effect_at_full_implementation: 1.2"))
    assert main(["solve", str(path), "--target-power", "0.8", "--json", "--quiet",
                 "--max-replicates", "200", "--executor", "serial",
                 "--out", str(tmp_path / "o")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"parameter", "value", "simulated_power", "mcse", "closed_form_value",
                        "n_failed"}
    assert out["parameter"] == "trial.teams" and isinstance(out["value"], int)
    swept = tmp_path / "w.yaml"
    swept.write_text(NO_DYNAMICS + "sweep: {trial.teams: [8, 10]}\n")
    assert main(["solve", str(swept), "--target-power", "0.8"]) == 2
    assert "sweep" in capsys.readouterr().err
