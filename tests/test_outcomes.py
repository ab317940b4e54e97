"""Several outcomes per trial (issue 15): the copula, costs and binary outcomes as the model
draws them, their streams, and the scenario keys' errors."""
from __future__ import annotations

import numpy as np
import pytest

from simulator.analysis.binary_model import true_estimands
from simulator.analysis.records import ObservedTrial
from simulator.cli import main
from simulator.model.binary_outcome import binary_parameters, binary_truths
from simulator.model.costs import cost_scales
from simulator.model.outcome_list import outcome_stream
from simulator.model.outcomes import untreated_parts
from simulator.model.secondary_outcomes import secondary_trial
from simulator.model.world import build_world
from simulator.montecarlo.engine import WorkUnit, replicate_columns, run_unit
from simulator.montecarlo.seeds import stream
from simulator.scenario.files import ScenarioError, design_points, parse_scenario

TEAMS, M = 4000, 10


def _world(icc=0.2, seed=5):
    s = parse_scenario({"name": "x", "trial": {"teams": TEAMS, "team_types": {"cmht": 1.0},
                                               "patients_per_team": {"mean": M, "cv": 0}},
                        "outcome": {"icc": icc, "team_type_effects": {}}})
    rng = np.random.default_rng(seed)
    world = build_world(s.trial, s.outcome, rng=rng)
    y0, latent = untreated_parts(world, s.outcome, rng)
    return s, world, y0, latent


def _secondary(entry, world, latent, arm=None, dose=None, seed=9):
    arm = (np.arange(world.n_teams) >= world.n_teams // 2).astype(int) if arm is None else arm
    n = world.patient_team.size
    dose = np.zeros(n) if dose is None else dose
    trial = ObservedTrial(world.patient_team, arm, world.baseline, np.zeros(n),
                          np.zeros(world.n_teams, int), np.zeros(world.n_teams))
    o = parse_scenario({"name": "x", "trial": {"team_types": {"cmht": 1.0}},
                        "secondary_outcomes": [entry]}).secondary_outcomes[0]
    return secondary_trial(o, "patient:" + o.name, world, arm, dose, np.ones(n, bool), trial,
                           latent, np.random.default_rng(seed))


def _fisher_within(r_hat, r, n):
    """|Fisher z difference| in units of its SE 1/√(n − 3)."""
    return abs(np.arctanh(r_hat) - np.arctanh(r)) * np.sqrt(n - 3)


def test_copula_gives_the_stated_patient_and_team_correlations():
    """Within-team deviations correlate r_patient (Fisher z, n = K(m − 1)); team means
    correlate (√ρ1ρ2 r_team + √((1−ρ1)(1−ρ2)) r_patient / m) / √(v1 v2), v = ρ + (1 − ρ)/m."""
    _, world, y1, latent = _world(icc=0.2)
    rho2, rp, rt = 0.1, 0.6, 0.4
    out = _secondary({"name": "f", "type": "continuous", "icc": rho2, "sd": 7.0,
                      "correlation": {"patient": rp, "team": rt}}, world, latent)
    y2, team = out.trial.followup, world.patient_team
    means = [np.bincount(team, y) / M for y in (y1, y2)]
    within = [y - mean[team] for y, mean in zip((y1, y2), means)]
    assert _fisher_within(np.corrcoef(*within)[0, 1], rp, TEAMS * (M - 1)) < 3
    v1, v2 = 0.2 + 0.8 / M, rho2 + (1 - rho2) / M
    r_team = (np.sqrt(0.2 * rho2) * rt + np.sqrt(0.8 * (1 - rho2)) * rp / M) / np.sqrt(v1 * v2)
    assert _fisher_within(np.corrcoef(*means)[0, 1], r_team, TEAMS) < 3


def _batched(stat, groups=20):
    """(mean, SE) of ``stat`` over independent batches of teams."""
    values = np.array([stat(np.arange(g, TEAMS, groups)) for g in range(groups)])
    return values.mean(), values.std(ddof=1) / np.sqrt(groups)


def test_costs_have_the_stated_mean_cv_and_icc():
    """Unbiased batch statistics (20 batches of 200 teams) against the model's moments: mean
    m, within-team variance m²(1 + s_T²)s_G², variance of team means m²(s_T² + (1 + s_T²)s_G²/M)
    with s_T² = ρc², s_G² = (1 + c²)/(1 + s_T²) − 1 (``model/costs.py``)."""
    _, world, _, latent = _world()
    m, cv, icc = 3000.0, 1.5, 0.1
    out = _secondary({"name": "cost", "type": "cost", "mean": m, "cv": cv, "icc": icc}, world, latent)
    y = out.trial.followup.reshape(TEAMS, M)
    s_t = icc * cv**2
    s_g = (1 + cv**2) / (1 + s_t) - 1
    checks = [(lambda t: y[t].mean(), m),
              (lambda t: y[t].var(axis=1, ddof=1).mean(), m**2 * (1 + s_t) * s_g),
              (lambda t: y[t].mean(axis=1).var(ddof=1), m**2 * (s_t + (1 + s_t) * s_g / M))]
    for stat, want in checks:
        got, se = _batched(stat)
        assert abs(got - want) < 3 * se, (got, want, se)
    assert (out.trial.baseline > 0).all() and cost_scales(m, cv, 0.0)[0] == 0.0


def test_binary_outcome_has_the_stated_proportions_and_icc():
    """Control teams: proportion p and proportion-scale ICC (ANOVA, equal sizes) as given;
    teams with full dose: the intervention proportion of ``true_estimands``."""
    _, world, _, latent = _world()
    arm = (np.arange(TEAMS) >= TEAMS // 2).astype(int)    # both arms in every batch
    dose = arm[world.patient_team].astype(float)
    out = _secondary({"name": "r", "type": "binary", "control_proportion": 0.3, "icc": 0.05,
                      "odds_ratio_at_full_implementation": 2.0}, world, latent, arm, dose)
    y = np.asarray(out.trial.y).reshape(TEAMS, M)
    par = binary_parameters(0.3, 0.05, 2.0)
    p1 = true_estimands(par.intercept, par.sigma_u, par.log_or).proportion_int

    def icc(t):
        t = t[arm[t] == 0]
        msb = M * y[t].mean(axis=1).var(ddof=1)
        msw = y[t].var(axis=1, ddof=1).mean()
        return (msb - msw) / (msb + (M - 1) * msw)
    for stat, want in ((lambda t: y[t][arm[t] == 0].mean(), 0.3),
                       (lambda t: y[t][arm[t] == 1].mean(), p1), (icc, 0.05)):
        got, se = _batched(stat)
        assert abs(got - want) < 3 * se, (got, want, se)


def test_binary_truths_with_one_dose_are_the_model_parameters():
    par = binary_parameters(0.3, 0.05, 2.0)
    arm = np.repeat([0, 1], 50)
    truths = binary_truths(par, 0.5 * arm, arm)
    assert truths["conditional_log_or"][0] == pytest.approx(0.5 * np.log(2.0), abs=1e-10)
    full = true_estimands(par.intercept, par.sigma_u, par.log_or)
    assert truths["risk_difference"][1] == full.risk_difference
    assert truths["marginal_log_or"][1] == full.marginal_log_or < np.log(2.0)
    assert binary_truths(par, np.ones(100) * arm, arm)["risk_difference"][0] == \
        pytest.approx(full.risk_difference, abs=1e-14)


def test_each_secondary_has_its_own_labelled_stream():
    base = stream(7, 3, "secondary_outcomes")
    assert outcome_stream(base, "cost").random(4).tolist() == \
        stream(7, 3, "secondary_outcomes", "cost").random(4).tolist()


SMALL = {"name": "s", "replicates": 3, "trial": {"teams": 8}}


def _rows(data):
    scenario = parse_scenario(data)
    rows, _ = run_unit(WorkUnit(0, 0, 3, scenario))
    return replicate_columns(scenario), rows


def test_secondaries_leave_the_primary_rows_unchanged():
    header, alone = _rows(SMALL)
    more = {**SMALL, "secondary_outcomes": [
        {"name": "cost", "type": "cost", "mean": 900}, {"name": "r", "type": "binary"}]}
    header2, rows = _rows(more)
    assert header2 == header
    outcome = header.index("outcome")
    assert [r for r in rows if r[outcome] == "patient:QPR"] == alone
    labels = [r[outcome] for r in rows]
    assert labels[:7] == ["patient:QPR"] * 2 + ["patient:cost"] * 2 + ["patient:r"] * 3


def _problems(tmp_path, text, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\n" + text)
    assert main(["validate", str(path)]) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("outcome: {type: binary, control_proportion: 0.3, odds_ratio_at_full_implementation: 2}\n"
     "intervention: {effect_at_full_implementation: 2}\n",
     "intervention.effect_at_full_implementation: 2.0 -- not with outcome.type: binary"),
    ("outcome: {type: binary, control_proportion: 0.3}\n",
     "outcome.odds_ratio_at_full_implementation: None -- required for outcome.type: binary"),
    ("outcome: {control_proportion: 0.3}\n", "outcome.control_proportion: 0.3 -- only for"),
    ("secondary_outcomes: [{name: c, type: cost, mean: 5, colour: red}]\n",
     "secondary_outcomes[0].cost.colour: unknown key; allowed here: name, type, mean"),
    ("secondary_outcomes: [{name: c, type: cost, mean: 5, effect_at_full_implementation: -6}]\n",
     "must be above -mean"),
    ("secondary_outcomes: [{name: QPR, type: binary}]\n", "must not repeat"),
    ("analysis: {multiplicity: [{outcomes: [QPR, x], method: holm}]}\n",
     "analysis.multiplicity[0].outcomes: 'x' -- unknown outcome; use one of QPR"),
    ("analysis: {multiplicity: [{outcomes: [QPR], method: sidak}]}\n", "sidak"),
    ("analysis: {estimators: [glmm]}\n", "glmm analyses a binary outcome only"),
    ("outcome: {type: binary, control_proportion: 0.3, odds_ratio_at_full_implementation: 2}\n"
     "analysis: {estimators: [mixed_ancova]}\n", "analysis.estimators[0]: 'mixed_ancova' -- not for"),
])
def test_bad_outcome_keys_are_clear_errors(tmp_path, capsys, text, message):
    assert message in _problems(tmp_path, text, capsys)


def test_a_binary_primary_round_trips_through_its_dump_and_sweeps():
    s = parse_scenario({"name": "b", "outcome": {"type": "binary", "control_proportion": 0.3,
                                                 "odds_ratio_at_full_implementation": 1.8},
                        "sweep": {"trial.teams": [12, 20]}})
    assert s.analysis.estimators == ("cluster_summary", "gee_robust", "glmm")
    assert "effect_at_full_implementation" not in s.model_dump()["intervention"]
    assert [p.scenario.trial.teams for p in design_points(s)] == [12, 20]
    with pytest.raises(ScenarioError):
        parse_scenario({**s.model_dump(mode="json"),
                        "intervention": {"effect_at_full_implementation": 1.0}})


def test_every_outcome_is_the_same_whatever_the_chunking():
    """A binary primary (cluster-level, GEE, GLMM) and secondaries: replicates 0-5 in one
    chunk or two give the same rows, bit for bit."""
    scenario = parse_scenario({
        "name": "chunks", "trial": {"teams": 8},
        "outcome": {"type": "binary", "control_proportion": 0.3, "odds_ratio_at_full_implementation": 2},
        "secondary_outcomes": [{"name": "cost", "type": "cost", "mean": 900},
                               {"name": "r", "type": "binary", "icc": 0.1}]})
    whole, _ = run_unit(WorkUnit(0, 0, 6, scenario))
    parts = run_unit(WorkUnit(0, 0, 2, scenario))[0] + run_unit(WorkUnit(0, 2, 6, scenario))[0]
    assert len(whole) == 6 * (3 + 2 + 3)
    np.testing.assert_array_equal(np.array(whole, dtype=object), np.array(parts, dtype=object))
