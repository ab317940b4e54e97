"""One model, two engines: the fast engine agrees with the SimPy engine (issue 16).

- Exactly, where the model is deterministic (no turnover, attendance 1, no disbanding): the
  engines share the world, allocation, outcome and dropout streams, so every number matches.
- In distribution elsewhere, on the scenarios the fast engine covers (``AGREEMENT_CASES``):
  each statistic's mean over replicates, SimPy's replicates 0..n-1 against the fast engine's
  n..2n-1 (independent samples), within 4 combined Monte Carlo SEs. The ``bench``-marked
  version runs the same comparison with enough replicates to detect a 2 % difference in mean
  exposure (``make bench``).
- Scenarios using a process the fast engine does not simulate run on SimPy under ``auto``
  (tests/test_fast_engine.py).

To extend after a new process is covered: add its scenario to ``AGREEMENT_CASES``.
"""
from __future__ import annotations

import numpy as np
import pytest

from simulator.analysis.registry import analysis_plan, run_analysis
from simulator.model.fast import choose_engine
from simulator.model.outcome_list import outcome_estimators
from simulator.montecarlo.engine import (WorkUnit, _run_batch, analysis_stream_label, batch_fit,
                                         fit_outcome, replicate_columns, run_unit, simulate_unit)
from simulator.scenario.files import design_points, load_scenario, parse_scenario

from conftest import SCENARIOS

# (scenario file, design point): the list, as far as the fast engine covers it.
AGREEMENT_CASES = [
    ("refocus.yaml", 0),                                   # six strategies, one for the manager
    ("../tests/reference/refocus_one_component.yaml", 0),  # REFOCUS as one kind of session
    ("reconfiguration.yaml", 7), ("dropout_mechanisms.yaml", 2),
    ("refocus_real_teams.yaml", 0),                        # a team list
    ("turnover_refreshers.yaml", 6), ("turnover_refreshers.yaml", 11),   # 11: newcomers only
    ("implementation_analysis.yaml", 1),                   # median split and CACE on the score
    ("implementation_measurement.yaml", 3),                # coaching dominates, threshold; staff outcome
    ("implementation_measurement.yaml", 4),                # the manager's reflection dominates
    ("merges.yaml", 4), ("merges.yaml", 11),               # 2 per arm; 5 pairs across arms, final
    ("refocus_merging", 0),                                # merges with turnover and components
    ("implementation_merging", 0),                         # merges between teams' own leave rates
    ("refocus_outcomes.yaml", 0), ("binary_outcome.yaml", 1), ("refocus_assurance.yaml", 0),
    ("staff_moves.yaml", 3),                               # half the leavers move, disbanding
    ("refocus_moving", 0),                                 # moves with components, staff outcome
    ("moving_and_merging", 0)]                             # moves with merges and disbanding
# REFOCUS's six strategies with teams merging at random and on schedule, across arms, a team
# disbanding, the staff outcome and the median split: every process a merge touches at once.
MERGES = {"rate_per_team_year": 0.3, "within": "site", "scheduled": [{"month": 6, "pairs": 2}]}
REFOCUS_MERGING = {
    # leadership keeps staff (log-hazard -0.5 per SD): a merged team's posts take the
    # receiving team's leave rate
    "implementation_merging": lambda: design_points(load_scenario(
        SCENARIOS / "implementation_analysis.yaml"))[1].scenario.model_copy(update={
            "reconfiguration": parse_scenario({"name": "m", "reconfiguration": {
                "scheduled": [{"month": 6, "teams": 2}], "merges": MERGES}}).reconfiguration}),
    "refocus_merging": lambda: load_scenario(SCENARIOS / "refocus.yaml").model_copy(update={
        "reconfiguration": parse_scenario({"name": "m", "reconfiguration": {
            "scheduled": [{"month": 4, "teams": 1}],
            "merges": MERGES}}).reconfiguration,
        "staff_outcome": parse_scenario({"name": "m", "staff_outcome": {
            "effect_at_full_dose": 0.4}}).staff_outcome,
        "analysis": parse_scenario({"name": "m", "analysis": {
            "estimators": ["mixed_ancova", "implementation_split"]}}).analysis}),
    # REFOCUS's six strategies (one for the manager post) with 40 % of leavers moving, refreshers
    # for newcomers only (a mover who arrives after a first session is one), the staff outcome
    "refocus_moving": lambda: load_scenario(SCENARIOS / "refocus.yaml").model_copy(update={
        "staff_turnover": parse_scenario({"name": "m", "staff_turnover": {
            "annual_rate": 0.4, "vacancy_months": 2, "move_share": 0.4}}).staff_turnover,
        "intervention": load_scenario(SCENARIOS / "refocus.yaml").intervention.model_copy(
            update={"refresher_every_months": 3, "refresher_for": "newcomers"}),
        "staff_outcome": parse_scenario({"name": "m", "staff_outcome": {
            "effect_at_full_dose": 0.4}}).staff_outcome,
        "analysis": parse_scenario({"name": "m", "analysis": {
            "estimators": ["mixed_ancova", "implementation_split"]}}).analysis}),
    "moving_and_merging": lambda: load_scenario(SCENARIOS / "staff_moves.yaml").model_copy(
        update={"reconfiguration": parse_scenario({"name": "m", "reconfiguration": {
            "merges": MERGES}}).reconfiguration})}


def _scenario(name: str, point: int):
    scenario = REFOCUS_MERGING[name]() if name in REFOCUS_MERGING else \
        load_scenario(SCENARIOS / name)
    return design_points(scenario)[point].scenario


def _arm_mean(values: np.ndarray, in_arm: np.ndarray) -> float:
    return float(values[in_arm].mean()) if in_arm.any() else float("nan")


def _timeline_statistics(rep) -> dict[str, float]:
    """Fidelity at follow-up and mean exposure per arm, staff departures, teams disbanded and
    merged, patients analysed, true ITT, contamination, the variance of the final cluster
    sizes; with staff records, the participation score per arm, the intervention teams without
    one, the spells by how they ended, moved spells, stayers and the managers' completions."""
    h, arm = rep.history, rep.arm.astype(int)
    patient_arm = arm[rep.world.patient_team]
    row = {"fidelity_int": rep.diagnostics["mean_fidelity_int"],
           "fidelity_ctl": _arm_mean(h.fidelity_at_followup, arm == 0),
           "exposure_int": _arm_mean(h.exposure, patient_arm == 1),
           "exposure_ctl": _arm_mean(h.exposure, patient_arm == 0),
           "staff_departures": float(h.staff_departures.sum()),
           "teams_disbanded": rep.diagnostics["teams_disbanded"],
           "patients_analysed": rep.diagnostics["patients_analysed"],
           "true_itt": rep.outcomes.true_itt,
           **{f"staff {k}": float(h.staff_flow[k].sum()) for k in (
               "joined", "moved_out", "moved_in", "waiting", "removed")},
           **{k: rep.diagnostics[k] for k in ("teams_merged", "final_cluster_size_var",
                                               "contamination")}}
    if h.staff is not None:
        score = rep.trial.participation
        row["score_int"] = _arm_mean(score, (arm == 1) & ~np.isnan(score))
        row["score_ctl"] = _arm_mean(score, arm == 0)
        row["teams_without_score"] = rep.diagnostics["teams_without_score"]
        staff = h.staff
        row.update({f"spells {why}": float(np.count_nonzero(staff.why_ended == why))
                    for why in ("left", "moved", "merged", "disbanded", "followup")})
        row.update({"spells moved": float(staff.moved.sum()),
                    "stayers": float(staff.stayer.sum()),
                    "managers completing": float(staff.completed[staff.role == "manager"].sum())})
    return row


def statistics(scenario, engine: str, first: int, n: int) -> dict[str, np.ndarray]:
    """Per replicate: the timeline's statistics (``_timeline_statistics``) and, for every
    outcome (the primary, the staff outcome) and each of its planned analyses, the estimate
    and whether it rejected at alpha; the staff outcome's true ITT."""
    reps = simulate_unit(WorkUnit(0, first, first + n, scenario, engine))
    out: dict[str, list] = {}
    for rep in reps:
        for k, v in _timeline_statistics(rep).items():
            out.setdefault(k, []).append(v)
    replicates = range(first, first + n)
    for o, outcome in enumerate(reps[0].outcome_trials):
        plan = outcome_estimators(scenario, outcome.label, outcome.kind)
        trials = [r.outcome_trials[o].trial for r in reps]
        fits = fit_outcome(scenario, plan, trials, replicates,
                           lambda label: analysis_stream_label(o, outcome.label, label))
        for planned, estimates in zip(plan, fits):
            key = f"{outcome.label}/{planned.label}"
            out[f"estimate {key}"] = [e.estimate for e in estimates]
            out[f"rejected {key}"] = [float(e.p_value < scenario.analysis.alpha)
                                      if np.isfinite(e.p_value) else np.nan for e in estimates]
        if o > 0:
            out[f"true_itt {outcome.label}"] = [r.outcome_trials[o].true_itt for r in reps]
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def disagreements(a: dict, b: dict, z: float = 4.0) -> list[str]:
    """Statistics whose means (and, for the estimates, SDs) differ by more than ``z``
    combined MCSEs; statistics constant in both samples must be equal."""
    return [line for k in a for line in _mean_and_sd(k, a[k], b[k], z)]


def _mean_and_sd(k: str, a: np.ndarray, b: np.ndarray, z: float) -> list[str]:
    x, y = a[np.isfinite(a)], b[np.isfinite(b)]
    bad = []
    se = np.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    if abs(x.mean() - y.mean()) > z * se or (se == 0 and x.mean() != y.mean()):
        bad.append(f"{k}: fast {x.mean():.4g} vs simpy {y.mean():.4g} (MCSE {se:.2g})")
    if k.startswith("estimate"):
        sx, sy = x.std(ddof=1), y.std(ddof=1)
        se_sd = np.hypot(sx / np.sqrt(2 * (x.size - 1)),
                         sy / np.sqrt(2 * (y.size - 1)))   # SE of an SD, normal data
        if abs(sx - sy) > z * se_sd:
            bad.append(f"{k} SD: fast {sx:.4g} vs simpy {sy:.4g} (MCSE {se_sd:.2g})")
    return bad


@pytest.mark.parametrize("name,point", AGREEMENT_CASES)
def test_engines_agree_in_distribution(name, point):
    scenario = _scenario(name, point)
    assert choose_engine([scenario], "auto")[0] == "fast"
    n = 120
    fast, simpy = statistics(scenario, "fast", n, n), statistics(scenario, "simpy", 0, n)
    assert disagreements(fast, simpy) == []


LARGE, LARGEST = 2000, 8000   # replicates per engine: at least, and at most


@pytest.mark.bench
@pytest.mark.parametrize("name,point", AGREEMENT_CASES)
def test_engines_agree_in_distribution_large(name, point):
    """On enough replicates to see a 2 % difference in mean exposure (4 combined MCSEs): at
    least 2,000 per engine, more where replicates vary more (priors: each draws its own inputs),
    as many as the first 2,000 say are needed (10 % spare), up to 8,000."""
    scenario = _scenario(name, point)
    n = LARGE
    while True:
        fast, simpy = statistics(scenario, "fast", n, n), statistics(scenario, "simpy", 0, n)
        detectable = 4 * np.hypot(fast["exposure_int"].std(),
                                  simpy["exposure_int"].std()) / np.sqrt(n)
        wanted = 0.02 * simpy["exposure_int"].mean()
        needed = int(np.ceil(1.1 * n * (detectable / wanted) ** 2))
        if detectable < wanted or n >= LARGEST:
            break
        n = min(LARGEST, needed)
    assert detectable < wanted   # the test can see a 2 % difference
    assert disagreements(fast, simpy) == []


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
# Several components (one for the manager post, one nobody attends), unequal weights,
# refreshers, a staff outcome.
DETERMINISTIC_COMPONENTS = {
    **DETERMINISTIC, "name": "deterministic_components",
    "intervention": {"effect_lag_months": 1.0, "refresher_every_months": 4,
                     "participation_weights": {"coaching": 2.0}, "components": [
                         {"name": "information", "session_months": [0], "attendance": 1.0,
                          "weight": 0.3},
                         {"name": "coaching", "session_months": [1, 2, 3], "attendance": 1.0,
                          "sessions_to_complete": 2, "weight": 1.7},
                         {"name": "reflection", "session_months": [2, 5], "attendance": 1.0,
                          "sessions_to_complete": 2, "audience": "manager", "weight": 0.9},
                         {"name": "supervision", "session_months": [4], "attendance": 0.0,
                          "weight": 0.6}]},
    "staff_outcome": {"name": "behaviour", "effect_at_full_dose": 0.5},
    "analysis": {"estimators": ["mixed_ancova", "implementation_split", "cace_iv"]},
}


def _same_staff(f, s) -> bool:
    a, b = f.history.staff, s.history.staff
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in (
        "components", "to_complete", "manager_only", "staff_id", "team", "role", "origin",
        "start", "end", "why_ended", "attended", "moved"))


@pytest.mark.parametrize("spec", [DETERMINISTIC, DETERMINISTIC_COMPONENTS],
                         ids=["one_component", "components"])
def test_engines_agree_exactly_where_the_model_is_deterministic(spec):
    scenario = parse_scenario(spec)
    fast = simulate_unit(WorkUnit(0, 0, 6, scenario, "fast"))
    simpy = simulate_unit(WorkUnit(0, 0, 6, scenario, "simpy"))
    for f, s in zip(fast, simpy):
        assert np.array_equal(f.history.exposure, s.history.exposure)
        assert np.array_equal(f.history.team_dose, s.history.team_dose)
        assert np.array_equal(f.history.fidelity_at_followup, s.history.fidelity_at_followup)
        assert np.array_equal(f.trial.followup, s.trial.followup, equal_nan=True)
        assert _same_staff(f, s)   # the staff records, row for row
        assert np.array_equal(f.trial.participation, s.trial.participation, equal_nan=True)
        assert f.diagnostics == s.diagnostics
        for a, b in zip(f.outcome_trials, s.outcome_trials):   # the staff outcome too
            assert a.label == b.label and a.true_itt == b.true_itt
            assert np.array_equal(a.trial.followup, b.trial.followup, equal_nan=True)
    for planned in analysis_plan(scenario.analysis):
        fit = batch_fit(planned)
        if fit:
            assert _run_batch(fit, [f.trial for f in fast]) == _run_batch(fit, [s.trial for s in simpy])
        else:
            fit_one = lambda t: repr(run_analysis(t, planned, rng=np.random.default_rng(0)))  # noqa: E731
            assert [fit_one(f.trial) for f in fast] == [fit_one(s.trial) for s in simpy]


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
    (the participation columns too: both engines keep staff records)."""
    scenario = parse_scenario(spec)
    assert choose_engine([scenario], "auto")[0] == "fast"
    keep = range(len(replicate_columns(scenario)))
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
