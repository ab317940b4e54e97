"""Priors: the distributions (exact moments, point masses), their validation (every problem
reported together), and the per-replicate draws (own stream; a scenario without priors is
unchanged, a point prior gives exactly the fixed-parameter results)."""
import csv
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from conftest import ROOT, SCENARIOS
from simulator.cli import main
from simulator.montecarlo.engine import WorkUnit, draw_replicate, replicate_columns, run_unit
from simulator.montecarlo.priors import prior_values
from simulator.scenario.files import ScenarioError, design_points, parse_scenario
from simulator.scenario.prior_keys import with_values
from simulator.scenario.priors import Prior, beta_parameters, quantile

REFERENCE = ROOT / "tests" / "reference"
SMALL = {"name": "pri", "seed": 5, "replicates": 6, "trial": {"teams": 10},
         "analysis": {"estimators": ["mixed_ancova", "cluster_summary", "permutation"],
                      "permutations": 39}}


def _moments(prior: Prior) -> tuple[float, float]:
    """Mean and SD of Q(U), U uniform, by adaptive quadrature over u."""
    def q(u):
        return float(quantile(prior, u))

    mean = integrate.quad(q, 0, 1, limit=200)[0]
    var = integrate.quad(lambda u: (q(u) - mean) ** 2, 0, 1, limit=200)[0]
    return mean, math.sqrt(var)


@pytest.mark.parametrize("distribution,mean,sd", [
    ("normal", 3.0, 1.5), ("lognormal", 0.2, 0.1), ("gamma", 0.2, 0.1), ("beta", 0.05, 0.03),
    ("beta", 0.6, 0.15)])
def test_mean_and_sd_are_the_ones_given(distribution, mean, sd):
    got = _moments(Prior(distribution=distribution, mean=mean, sd=sd))
    assert got == pytest.approx((mean, sd), rel=1e-6)


def test_uniform_and_truncated_normal_moments():
    assert _moments(Prior(distribution="uniform", lower=0.2, upper=0.8)) == pytest.approx(
        (0.5, 0.6 / math.sqrt(12)), rel=1e-6)
    # N(0.1, 0.1) on [0, inf): mean mu + sd phi(a)/(1 - Phi(a)), a = -1
    from scipy import stats
    lam = stats.norm.pdf(-1) / stats.norm.sf(-1)
    mean, _ = _moments(Prior(distribution="truncated_normal", mean=0.1, sd=0.1, lower=0.0))
    assert mean == pytest.approx(0.1 + 0.1 * lam, rel=1e-6)


def test_beta_parameters_by_moments():
    a, b = beta_parameters(0.05, 0.03)
    assert a / (a + b) == pytest.approx(0.05)
    assert math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))) == pytest.approx(0.03)


@pytest.mark.parametrize("prior", [
    Prior(distribution="uniform", lower=0.3, upper=0.3), Prior(distribution="beta", mean=0.3, sd=0),
    Prior(distribution="gamma", mean=0.3, sd=0), Prior(distribution="normal", mean=0.3, sd=0),
    Prior(distribution="truncated_normal", mean=0.3, sd=0, lower=0, upper=1)])
def test_a_point_prior_is_exactly_its_value(prior):
    assert (quantile(prior, np.linspace(1e-9, 1 - 1e-9, 101)) == 0.3).all()


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 0.99), st.floats(0.01, 0.99), st.lists(st.floats(1e-6, 1 - 1e-6), min_size=2))
def test_beta_quantiles_are_monotone_and_inside_the_unit_interval(mean, share, u):
    sd = share * math.sqrt(mean * (1 - mean))
    x = quantile(Prior(distribution="beta", mean=mean, sd=sd), np.sort(u))
    assert ((x >= 0) & (x <= 1)).all() and (np.diff(x) >= 0).all()


def test_all_problems_of_the_priors_are_reported_together():
    bad = {**SMALL, "sweep": {"trial.teams": [10, 12]}, "priors": {
        "outcome.iccc": {"distribution": "beta", "mean": 0.05, "sd": 0.03},
        "outcome.icc": {"distribution": "normal", "mean": 0.05, "sd": 0.03},
        "intervention.attendance": {"distribution": "beta", "mean": 0.6, "sd": 0.6},
        "trial.teams": {"distribution": "uniform", "lower": 10, "upper": 20},
        "analysis.alpha": {"distribution": "uniform", "lower": 0.01, "upper": 0.05},
        "trial.sites": {"distribution": "uniform", "lower": 0.1, "upper": 0.2},
        "staff_turnover.annual_rate": {"distribution": "gamma", "mean": 0.2, "sd": 0.1, "lower": 0},
        "trial.months": {"distribution": "uniform", "lower": 2, "upper": 12},
        "dropout.attrition": {"distribution": "uniform", "lower": 0.3, "upper": 0.2}}}
    with pytest.raises(ScenarioError) as err:
        parse_scenario(bad)
    text = "\n".join(err.value.problems)
    for key, words in [("outcome.iccc", "unknown parameter"), ("outcome.icc", "below the allowed"),
                       ("intervention.attendance", "no beta has mean 0.6"),
                       ("trial.teams", "also swept"), ("analysis.alpha", "a choice"),
                       ("trial.sites", "not a number"),
                       ("staff_turnover.annual_rate", "lower: not a parameter of gamma"),
                       ("trial.months", "a draw of 2 gives an invalid scenario"),
                       ("dropout.attrition", "above upper")]:
        assert f"priors.{key}: " in text and words in text, (key, text)


def test_a_prior_with_an_unknown_parameter_names_the_allowed_ones():
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**SMALL, "priors": {"outcome.icc": {"distribution": "beta", "shape": 2}}})
    assert "allowed here: distribution, mean, sd, lower, upper" in err.value.problems[0]


def test_each_replicate_draws_from_its_own_stream():
    s = parse_scenario({**SMALL, "priors": {
        "outcome.icc": {"distribution": "beta", "mean": 0.05, "sd": 0.03},
        "trial.staff_per_team.min": {"distribution": "uniform", "lower": 2, "upper": 6}}})
    draws = [prior_values(s, r) for r in range(50)]
    assert draws[3] == prior_values(s, 3)                       # rebuilt alone
    alone = parse_scenario({**SMALL, "priors": {"outcome.icc": s.priors["outcome.icc"].model_dump()}})
    assert [prior_values(alone, r)["outcome.icc"] for r in range(50)] == \
        [d["outcome.icc"] for d in draws]                       # a key's draws are its own
    assert len({d["outcome.icc"] for d in draws}) == 50
    assert all(isinstance(d["trial.staff_per_team.min"], int) for d in draws)
    rep = draw_replicate(s, 3)                                  # crtsim draw: the same trial
    fixed = draw_replicate(with_values(s, draws[3]), 3)
    assert np.array_equal(rep.world.baseline, fixed.world.baseline)
    assert np.array_equal(rep.trial.followup, fixed.trial.followup, equal_nan=True)
    rows, _ = run_unit(WorkUnit(0, 3, 4, design_points(s)[0].scenario))
    header = replicate_columns(s)
    assert header[-2:] == ["prior.outcome.icc", "prior.trial.staff_per_team.min"]
    assert rows[0][-2:] == [draws[3]["outcome.icc"], draws[3]["trial.staff_per_team.min"]]


def _run(tmp_path, data, name, *extra):
    path = tmp_path / f"{name}.yaml"
    import yaml
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / name
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-plots", *extra]) == 0
    return [list(csv.reader(open(out / f))) for f in ("replicates.csv", "summary.csv")]


def test_priors_results_do_not_depend_on_workers_or_chunks(tmp_path):
    data = {**SMALL, "replicates": 8, "priors": {
        "intervention.attendance": {"distribution": "beta", "mean": 0.6, "sd": 0.2}}}
    one = _run(tmp_path, data, "a", "--executor", "serial", "--chunk-size", "3")
    two = _run(tmp_path, data, "b", "--executor", "local", "--workers", "2", "--chunk-size", "5")
    assert one == two


@pytest.mark.parametrize("engine", ["simpy", "fast"])
def test_a_point_prior_gives_exactly_the_fixed_parameter_results(tmp_path, engine):
    """Degenerate priors put every draw exactly on the value, so each replicate is simulated
    under the same scenario and from the same streams as without priors: every estimate,
    truth and diagnostic is identical, and the assurance is the power (all trials)."""
    fixed = {**SMALL, "outcome": {"icc": 0.08}, "intervention": {"attendance": 0.6}}
    point = {**fixed, "priors": {
        "outcome.icc": {"distribution": "uniform", "lower": 0.08, "upper": 0.08},
        "intervention.attendance": {"distribution": "beta", "mean": 0.6, "sd": 0}}}
    # on each engine, against the same engine's fixed-parameter run
    (rep_f, sum_f) = _run(tmp_path, fixed, "f", "--engine", engine)
    (rep_p, sum_p) = _run(tmp_path, point, "p", "--engine", engine)
    width = len(rep_f[0])
    assert [r[:width] for r in rep_p] == rep_f
    assert rep_p[0][width:] == ["prior.outcome.icc", "prior.intervention.attendance"]
    assert {tuple(r[width:]) for r in rep_p[1:]} == {("0.08", "0.6")}
    head = sum_f[0]
    cut = head.index("assurance")
    assert [r[:cut] for r in sum_p] == [r[:cut] for r in sum_f]
    for row in sum_p[1:]:
        assert row[cut] == row[head.index("rejection_all")] != ""
        assert row[cut + 1] == row[head.index("rejection_all_mcse")]
    assert all(r[cut:] == ["", ""] for r in sum_f[1:])       # no priors: no assurance


def _cells(path):
    return list(csv.reader(open(path, encoding="utf-8")))


def _by_name(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_library_scenario_without_priors_gives_the_same_results_as_before(tmp_path):
    """scenarios/refocus.yaml run by this code and by the code before priors existed
    (tests/reference/README.md): every cell of every column the reference has is the same
    text (floats are written with repr, so equal text is equal bits), in replicates.csv and
    summary.csv; no prior.* columns appear and assurance is empty.  Columns are compared by
    name, so diagnostics that later work appends do not break the comparison."""
    out = tmp_path / "o"
    assert main(["run", str(REFERENCE / "refocus_one_component.yaml"), "--replicates", "6",
                 "--out", str(out), "--executor", "serial", "--quiet", "--no-plots",
                 "--engine", "simpy"]) == 0
    for name in ("replicates", "summary"):   # the reference is the SimPy engine's
        before = _by_name(REFERENCE / f"no_priors_refocus_{name}.csv")
        now = _by_name(out / f"{name}.csv")
        assert len(now) == len(before)
        for old, new in zip(before, now):
            assert {k: new[k] for k in old} == old
        assert not any(k.startswith("prior.") for k in now[0])
    assert all(row["assurance"] == row["assurance_mcse"] == "" for row in now)
