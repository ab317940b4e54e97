"""Assurance: the closed form (quadrature against independent integration, point priors), the
simulated assurance against it within 3 MCSE, and the command line (power, solve, run outputs)."""
import json
import math

import pytest
import yaml
from scipy import integrate, stats

from simulator.cli import main
from simulator.montecarlo.runner import RunSettings, run_scenario
from simulator.planning.assurance import closed_form_assurance, power_at
from simulator.planning.closed_form import closed_form_power
from simulator.scenario.files import parse_scenario
from simulator.scenario.priors import beta_parameters

# No dynamics (tests/test_engine.py): exposure 1, no losses, equal team sizes, one team type;
# cluster_means is then the two-sample t-test of equal-size cluster means, whose power the
# closed form gives exactly (noncentral t on 2(k - 1) df), at every ICC.
NO_DYNAMICS = {
    "trial": {"teams": 20, "team_types": {"cmht": 1.0}, "patients_per_team": {"mean": 10, "cv": 0.0}},
    "outcome": {"team_type_effects": {}, "icc": 0.05},
    "intervention": {"attendance": 1.0, "session_months": [0], "sessions_to_train": 1,
                     "effect_at_full_implementation": 4.0},
    "staff_turnover": {"annual_rate": 0.0},
    "dropout": {"attrition": 0.0},
    "analysis": {"estimators": ["cluster_means"]},
}
ICC_PRIOR = {"outcome.icc": {"distribution": "beta", "mean": 0.05, "sd": 0.04}}
WIDE_ICC = {"outcome.icc": {"distribution": "beta", "mean": 0.05, "sd": 0.05}}


def _scenario(name="nd", replicates=10, seed=7, priors=ICC_PRIOR, **more):
    return parse_scenario({"name": name, "seed": seed, "replicates": replicates, **NO_DYNAMICS,
                           "priors": priors, **more})


def test_closed_form_assurance_agrees_with_integration_over_the_beta_density():
    s = _scenario()
    a, b = beta_parameters(0.05, 0.04)
    direct = integrate.quad(lambda icc: power_at(s, {"outcome.icc": icc}) *
                            stats.beta.pdf(icc, a, b), 0, 1, epsabs=1e-7, limit=100)[0]
    got = closed_form_assurance(s)
    assert got.method.startswith("Gauss-Legendre")
    assert abs(got.assurance - direct) < max(got.error, 1e-6)
    assert got.power_at_point == closed_form_power(s)["closed_form_power"]


def test_a_point_prior_gives_the_power_at_that_value():
    point = {"outcome.icc": {"distribution": "uniform", "lower": 0.08, "upper": 0.08}}
    got = closed_form_assurance(_scenario(priors=point))
    fixed = closed_form_power(_scenario(priors={}, outcome={"team_type_effects": {}, "icc": 0.08}))
    assert got.evaluations == 1
    assert got.assurance == pytest.approx(fixed["closed_form_power"], rel=1e-14)


def test_three_priors_use_reproducible_randomised_qmc_with_a_stated_error():
    priors = {**ICC_PRIOR,
              "intervention.attendance": {"distribution": "beta", "mean": 0.8, "sd": 0.1},
              "staff_turnover.annual_rate": {"distribution": "gamma", "mean": 0.2, "sd": 0.1}}
    s = _scenario(priors=priors)
    first, again = closed_form_assurance(s), closed_form_assurance(s)
    assert first == again and first.method.startswith("randomised QMC")
    assert 0 < first.error < 0.01 and first.evaluations == 256
    assert 0 < first.assurance < 1


def test_simulated_assurance_agrees_with_the_closed_form_within_3_mcse(tmp_path):
    """Both sides: |simulated - closed form| < 3 sqrt(MCSE² + quadrature error²).  The design
    (30 patients per team, a wide ICC prior) makes the assurance (0.658) differ from the power
    at the point guess (0.594) by over 5 MCSE, so a simulation ignoring the prior would fail."""
    s = _scenario(replicates=1500, seed=11, priors=WIDE_ICC,
                  trial={**NO_DYNAMICS["trial"], "patients_per_team": {"mean": 30, "cv": 0.0}},
                  intervention={**NO_DYNAMICS["intervention"], "effect_at_full_implementation": 3.0})
    result = run_scenario(s, RunSettings(out_dir=tmp_path / "nd", executor="serial", quiet=True))
    row = next(r for r in result.summary if r["estimand"] == "itt")
    cf = closed_form_assurance(s)
    assert row["n_failed"] == 0 and row["assurance"] == row["rejection_all"]
    tolerance = 3 * math.hypot(row["assurance_mcse"], cf.error)
    assert abs(cf.assurance - cf.power_at_point) > 5 * row["assurance_mcse"]
    assert abs(row["assurance"] - cf.assurance) < tolerance, (row["assurance"], cf)


def _write(tmp_path, scenario_data):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario_data, sort_keys=False))
    return path


def test_power_prints_and_jsons_the_closed_form_assurance(tmp_path, capsys):
    path = _write(tmp_path, {"name": "p", **NO_DYNAMICS, "priors": ICC_PRIOR})
    assert main(["power", str(path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["closed_form_assurance"] == pytest.approx(
        closed_form_assurance(_scenario()).assurance, rel=1e-12)
    assert row["closed_form_power"] == row["closed_form_power_at_point"]
    assert main(["power", str(path)]) == 0
    text = capsys.readouterr().out
    assert "closed-form assurance" in text and "prior outcome.icc ~ beta" in text


def test_solve_for_assurance_needs_priors_and_a_free_variable(tmp_path, capsys):
    path = _write(tmp_path, {"name": "p", **NO_DYNAMICS})
    assert main(["solve", str(path), "--target-assurance", "0.8"]) == 2
    assert "needs a priors: section" in capsys.readouterr().err
    priors = {"trial.teams": {"distribution": "uniform", "lower": 18, "upper": 22}}
    path = _write(tmp_path, {"name": "p", **NO_DYNAMICS, "priors": priors})
    assert main(["solve", str(path), "--target-assurance", "0.8"]) == 2
    assert "has a prior, so solve cannot vary it" in capsys.readouterr().err


def test_solve_finds_the_teams_for_an_assurance_target(tmp_path, capsys):
    path = _write(tmp_path, {"name": "p", "seed": 3, **NO_DYNAMICS, "priors": ICC_PRIOR})
    assert main(["solve", str(path), "--target-assurance", "0.8", "--max-replicates", "100",
                 "--executor", "serial", "--out", str(tmp_path / "solve"), "--json",
                 "--quiet"]) == 0
    answer = json.loads(capsys.readouterr().out.splitlines()[0])
    from simulator.planning.solver import closed_form_value
    s = _scenario()
    expected = closed_form_value(s, "trial.teams", 0.8, measure=lambda x, e: (
        closed_form_assurance(x, estimator=e).assurance))
    assert answer["closed_form_value"] == expected
    assert closed_form_assurance(parse_scenario({**s.model_dump(mode="json"), "trial": {
        **s.model_dump(mode="json")["trial"], "teams": expected}})).assurance >= 0.8
    assert answer["value"] is not None and answer["simulated_power"] >= 0.8


def test_a_run_with_priors_writes_the_assurance_plot(tmp_path):
    path = _write(tmp_path, {"name": "p", "replicates": 16, **NO_DYNAMICS, "priors": ICC_PRIOR})
    out = tmp_path / "o"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--executor", "serial"]) == 0
    assert (out / "assurance.png").stat().st_size > 10_000
    html = (out / "report.html").read_text()
    assert "alt=\"assurance\"" in html and "is the <strong>assurance</strong>" in html
    statement = (out / "statement.md").read_text()
    assert "`outcome.icc` ~ beta(a = 1.43, b = 27.3): mean 0.05, sd 0.04" in statement
    assert "is therefore the assurance" in statement
