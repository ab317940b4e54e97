"""One model, two engines: the fast engine agrees with the SimPy engine (issue 16).

- Exactly, where the model is deterministic (no turnover, attendance 1, no disbanding): the
  engines share the world, allocation, outcome and dropout streams, so every number matches.
- In distribution elsewhere, on the scenarios the fast engine covers (``AGREEMENT_CASES``):
  each statistic's mean over replicates, SimPy's replicates 0..n-1 against the fast engine's
  n..2n-1 (independent samples), within 4 combined Monte Carlo SEs. The ``bench``-marked
  version runs the same comparison with enough replicates to detect a 2 % difference in mean
  exposure (``make bench``).
- Scenarios using a process the fast engine does not simulate run on SimPy under ``auto``.

To extend after a new process is covered: add its scenario to ``AGREEMENT_CASES`` (and its
fallback entry leaves ``FALLBACK_CASES``).
"""
from __future__ import annotations

import numpy as np
import pytest

from simulator.analysis.registry import analysis_plan, run_analysis
from simulator.model.fast import choose_engine
from simulator.model.outcome_list import outcome_estimators
from simulator.montecarlo.engine import (WorkUnit, _run_batch, batch_fit, fit_outcome, run_unit,
                                         replicate_columns, simulate_unit)
from simulator.scenario.files import design_points, load_scenario, parse_scenario

from conftest import SCENARIOS

# (scenario file, design point): the list, as far as the fast engine covers it.
# REFOCUS as one kind of session (the six-strategy refocus.yaml falls back: components).
AGREEMENT_CASES = [("../tests/reference/refocus_one_component.yaml", 0),
                   ("reconfiguration.yaml", 7), ("dropout_mechanisms.yaml", 2),
                   ("refocus_real_teams.yaml", 0), ("turnover_refreshers.yaml", 6),
                   ("refocus_outcomes.yaml", 0), ("binary_outcome.yaml", 1),
                   ("refocus_assurance.yaml", 0)]
# Not covered yet (components, refreshers for newcomers only, merges, staff moves, priors, the
# stayers-only participation score, the staff outcome): auto must choose SimPy for these.
FALLBACK_CASES = ["refocus.yaml", "turnover_refreshers.yaml", "merges.yaml", "staff_moves.yaml",
                  "implementation_analysis.yaml", "implementation_measurement.yaml"]


def _scenario(name: str, point: int):
    return design_points(load_scenario(SCENARIOS / name))[point].scenario


def _arm_mean(values: np.ndarray, in_arm: np.ndarray) -> float:
    return float(values[in_arm].mean()) if in_arm.any() else float("nan")


def statistics(scenario, engine: str, first: int, n: int) -> dict[str, np.ndarray]:
    """Per replicate: fidelity at follow-up and mean exposure per arm, staff departures, teams
    disbanded, patients analysed, every outcome's true ITT, and the primary outcome's first
    estimator's estimate and rejection (as the engine fits it)."""
    reps = simulate_unit(WorkUnit(0, first, first + n, scenario, engine))
    primary = reps[0].outcome_trials[0]
    planned = outcome_estimators(scenario, primary.label, primary.kind)[:1]
    estimates = fit_outcome(scenario, planned, [r.outcome_trials[0].trial for r in reps],
                            range(first, first + n), lambda label: label)[0]
    out: dict[str, list] = {}
    for rep, est in zip(reps, estimates):
        h, arm = rep.history, rep.arm.astype(int)
        patient_arm = arm[rep.world.patient_team]
        row = {"fidelity_int": rep.diagnostics["mean_fidelity_int"],
               "fidelity_ctl": _arm_mean(h.fidelity_at_followup, arm == 0),
               "exposure_int": _arm_mean(h.exposure, patient_arm == 1),
               "exposure_ctl": _arm_mean(h.exposure, patient_arm == 0),
               "staff_departures": float(h.staff_departures.sum()),
               "teams_disbanded": rep.diagnostics["teams_disbanded"],
               "patients_analysed": rep.diagnostics["patients_analysed"],
               "true_itt": rep.outcomes.true_itt, "estimate": est.estimate,
               "rejected": float(est.p_value < scenario.analysis.alpha),
               **{f"{o.label}_true_itt": o.true_itt for o in rep.outcome_trials}}
        for k, v in row.items():
            out.setdefault(k, []).append(v)
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def disagreements(a: dict, b: dict, z: float = 4.0) -> list[str]:
    """Statistics whose means (and, for the estimates, SDs) differ by more than ``z``
    combined MCSEs; statistics constant in both samples must be equal."""
    bad = []
    for k in a:
        x, y = a[k][np.isfinite(a[k])], b[k][np.isfinite(b[k])]
        se = np.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
        if abs(x.mean() - y.mean()) > z * se or (se == 0 and x.mean() != y.mean()):
            bad.append(f"{k}: fast {x.mean():.4g} vs simpy {y.mean():.4g} (MCSE {se:.2g})")
    sx, sy = np.nanstd(a["estimate"], ddof=1), np.nanstd(b["estimate"], ddof=1)
    se_sd = np.hypot(sx / np.sqrt(2 * (a["estimate"].size - 1)),
                     sy / np.sqrt(2 * (b["estimate"].size - 1)))   # SE of an SD, normal data
    if abs(sx - sy) > z * se_sd:
        bad.append(f"estimate SD: fast {sx:.4g} vs simpy {sy:.4g} (MCSE {se_sd:.2g})")
    return bad


@pytest.mark.parametrize("name,point", AGREEMENT_CASES)
def test_engines_agree_in_distribution(name, point):
    scenario = _scenario(name, point)
    assert choose_engine([scenario], "auto")[0] == "fast"
    n = 120
    fast, simpy = statistics(scenario, "fast", n, n), statistics(scenario, "simpy", 0, n)
    assert disagreements(fast, simpy) == []


@pytest.mark.bench
@pytest.mark.parametrize("name,point", AGREEMENT_CASES)
def test_engines_agree_in_distribution_large(name, point):
    scenario = _scenario(name, point)
    n = 2000
    fast, simpy = statistics(scenario, "fast", n, n), statistics(scenario, "simpy", 0, n)
    detectable = 4 * np.hypot(fast["exposure_int"].std(), simpy["exposure_int"].std()) / np.sqrt(n)
    assert detectable < 0.02 * simpy["exposure_int"].mean()   # the test can see a 2 % difference
    assert disagreements(fast, simpy) == []


@pytest.mark.parametrize("name", FALLBACK_CASES)
def test_auto_falls_back_to_simpy_for_processes_not_covered(name):
    points = design_points(load_scenario(SCENARIOS / name))
    engine, why = choose_engine([p.scenario for p in points], "auto")
    assert engine == "simpy" and "does not cover" in why


DETERMINISTIC = {
    "name": "deterministic", "seed": 5,
    "trial": {"teams": 10, "patients_per_team": {"mean": 9, "cv": 0.5}},
    "intervention": {"attendance": 1.0, "session_months": [0, 2, 5], "sessions_to_train": 2,
                     "effect_lag_months": 1.0},
    "staff_turnover": {"annual_rate": 0.0},
    "dropout": {"attrition": 0.2, "mechanism": "MAR", "strength": 0.5},
    "allocation": {"method": "stratified"},
    "analysis": {"estimators": ["mixed_ancova", "cluster_summary", "implementation_split"]},
}


def test_engines_agree_exactly_where_the_model_is_deterministic():
    scenario = parse_scenario(DETERMINISTIC)
    fast = simulate_unit(WorkUnit(0, 0, 6, scenario, "fast"))
    simpy = simulate_unit(WorkUnit(0, 0, 6, scenario, "simpy"))
    for f, s in zip(fast, simpy):
        assert np.array_equal(f.history.exposure, s.history.exposure)
        assert np.array_equal(f.history.team_dose, s.history.team_dose)
        assert np.array_equal(f.trial.followup, s.trial.followup, equal_nan=True)
        # the participation score needs staff records: SimPy's alone (the fast engine leaves
        # it unrecorded, and auto never gives it a score-based analysis)
        assert np.all(np.isnan(f.trial.participation))
        only_simpy = {"teams_without_score", "staff_pooled_int"}
        assert f.diagnostics == {k: v for k, v in s.diagnostics.items() if k not in only_simpy}
    for planned in analysis_plan(scenario.analysis):
        fit = batch_fit(planned)
        if fit:
            assert _run_batch(fit, [f.trial for f in fast]) == _run_batch(fit, [s.trial for s in simpy])


EVERY_OUTCOME = {
    **DETERMINISTIC, "name": "deterministic_outcomes",
    "analysis": {"estimators": ["mixed_ancova", "cluster_summary"],
                 "multiplicity": [{"outcomes": ["QPR_interpersonal", "readmission"],
                                   "method": "holm"}]},
    "secondary_outcomes": [
        {"name": "QPR_interpersonal", "type": "continuous", "mean": 10, "sd": 3, "icc": 0.05,
         "effect_at_full_implementation": 1.0, "correlation": {"patient": 0.8, "team": 0.5}},
        {"name": "readmission", "type": "binary", "control_proportion": 0.2, "icc": 0.03,
         "odds_ratio_at_full_implementation": 0.7, "correlation": {"patient": -0.2, "team": 0}},
        {"name": "costs", "type": "cost", "mean": 8000, "cv": 1.5, "icc": 0.05,
         "baseline_correlation": 0.5, "effect_at_full_implementation": -1000,
         "correlation": {"patient": -0.2, "team": 0.0}}],
}
BINARY_PRIMARY = {
    **DETERMINISTIC, "name": "deterministic_binary",
    "intervention": {k: v for k, v in DETERMINISTIC["intervention"].items()},
    "outcome": {"name": "readmission", "type": "binary", "control_proportion": 0.3, "icc": 0.05,
                "odds_ratio_at_full_implementation": 2.0},
    "analysis": {"estimators": ["cluster_summary", "gee_robust"]},
}


@pytest.mark.parametrize("spec", [EVERY_OUTCOME, BINARY_PRIMARY], ids=lambda s: s["name"])
def test_engines_agree_exactly_on_every_outcome_where_the_model_is_deterministic(spec):
    """Outcomes after the timeline draw only from their own streams given the exposures, so
    with a deterministic timeline every row of replicates.csv matches, outcome by outcome
    (the participation columns apart: the fast engine keeps no staff records)."""
    scenario = parse_scenario(spec)
    assert choose_engine([scenario], "auto")[0] == "fast"
    columns = replicate_columns(scenario)
    keep = [i for i, c in enumerate(columns) if c not in ("teams_without_score", "staff_pooled_int")]
    fast, _ = run_unit(WorkUnit(0, 0, 6, scenario, "fast"))
    simpy, _ = run_unit(WorkUnit(0, 0, 6, scenario, "simpy"))
    outcomes = {f"patient:{name}" for name in
                [scenario.outcome.name, *(o.name for o in scenario.secondary_outcomes)]}
    assert {row[2] for row in simpy} == outcomes and len(fast) == len(simpy)
    for f, s in zip(fast, simpy):
        assert [f[i] for i in keep] == [s[i] for i in keep] or all(
            f[i] == s[i] or (_is_nan(f[i]) and _is_nan(s[i])) for i in keep), (f, s)


def _is_nan(value) -> bool:
    return isinstance(value, float) and value != value


def test_priors_run_each_replicate_under_its_draw_on_the_fast_engine():
    """With priors, a fast replicate is its own chunk under its drawn values: the same
    replicate whatever the chunk, and the drawn values differ between replicates."""
    scenario = _scenario("refocus_assurance.yaml", 0)
    assert choose_engine([scenario], "auto")[0] == "fast"
    together = simulate_unit(WorkUnit(0, 3, 7, scenario, "fast"))
    alone = [simulate_unit(WorkUnit(0, r, r + 1, scenario, "fast"))[0] for r in range(3, 7)]
    for a, b in zip(together, alone):
        assert np.array_equal(a.history.exposure, b.history.exposure)
        assert np.array_equal(a.trial.followup, b.trial.followup, equal_nan=True)
    rows, _ = run_unit(WorkUnit(0, 3, 7, scenario, "fast"))
    icc = replicate_columns(scenario).index("prior.outcome.icc")
    assert len({row[icc] for row in rows}) == 4
