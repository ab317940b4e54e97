"""The Monte Carlo engine: work units (chunks of replicates of one design point) → result columns.

A unit's result depends only on (scenario, design point, replicate numbers) through the seed
tree, so any executor, worker count or chunk size gives identical numbers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .analysis.records import Estimate
from .analysis.registry import analysis_plan, run_analysis
from .replicate import simulate_replicate
from .scenario import Scenario
from .seeds import stream

ESTIMATE_FIELDS = ("estimate", "se", "df", "ci_low", "ci_high", "p_value", "converged")
DIAGNOSTICS = ("teams_analysed_int", "teams_analysed_ctl", "patients_randomised",
               "patients_analysed", "teams_disbanded", "staff_turnover", "mean_fidelity_int",
               "imbalance_max_smd", "contamination")
EXTRA_DIAGNOSTICS = ("patients_dropout", "patients_lost", "team_type_all_in_one_arm")


@dataclass(frozen=True)
class WorkUnit:
    design_point: int
    first: int      # first replicate number
    stop: int       # one past the last
    scenario: Scenario


def replicate_columns(scenario: Scenario) -> list[str]:
    """Columns of replicates.csv, in order (DESIGN.md contract first, extras after)."""
    return ["design_point", "replicate", "estimator", *ESTIMATE_FIELDS, "true_itt",
            "true_efficacy", *DIAGNOSTICS, *EXTRA_DIAGNOSTICS]


def _rows_for_replicate(scenario: Scenario, d: int, r: int, plan) -> list[list]:
    rep = simulate_replicate(scenario, d, r)
    rng = stream(scenario.seed, d, r, "analysis")
    estimates = [run_analysis(rep.trial, planned, rng=rng) for planned in plan]
    diag = rep.diagnostics
    tail = [rep.outcomes.true_itt, rep.outcomes.true_efficacy,
            *(diag[k] for k in DIAGNOSTICS), *(diag.get(k, np.nan) for k in EXTRA_DIAGNOSTICS)]
    return [[d, r, p.label, *_estimate_values(est), *tail] for p, est in zip(plan, estimates)]


def _estimate_values(est: Estimate) -> list:
    return [est.estimate, est.se, est.df, est.ci_low, est.ci_high, est.p_value, int(est.converged)]


def run_unit(unit: WorkUnit) -> tuple[list[list], dict[str, float]]:
    """Simulate and analyse one chunk; returns the rows and the seconds spent."""
    start = time.perf_counter()
    plan = analysis_plan(unit.scenario.analysis)
    rows = []
    for r in range(unit.first, unit.stop):
        rows += _rows_for_replicate(unit.scenario, unit.design_point, r, plan)
    return rows, {"seconds": time.perf_counter() - start}


def work_units(points, replicates: int, chunk_size: int) -> list[WorkUnit]:
    return [WorkUnit(p.index, first, min(first + chunk_size, replicates), p.scenario)
            for p in points for first in range(0, replicates, chunk_size)]
