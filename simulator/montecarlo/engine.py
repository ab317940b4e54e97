"""The Monte Carlo engine: work units (chunks of replicates of one design point) → result columns.

A unit's result depends only on (scenario, replicate numbers) through the seed
tree, so any executor, worker count or chunk size gives identical numbers.

``run_unit`` simulates the chunk's replicates first, then runs each planned analysis over the
whole chunk: the estimator's batched form where it has one (``batch_fit``), else the
per-trial estimator replicate by replicate. A batched trial's answer is bit-for-bit
independent of the other trials in its batch (``analysis.teams`` module docstring), and the
per-trial estimator is the same batch of one, so chunking cannot change a number.
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from simulator.analysis.inference import EstimateArrays
from simulator.analysis.records import Estimate, ObservedTrial, OutcomeTrial
from simulator.analysis.registry import PlannedAnalysis, run_analysis, spec
from simulator.model.fast import simulate_chunk
from simulator.model.outcome_list import outcome_estimators
from simulator.model.replicate import FLOW_COUNTS, Replicate, StageClock, simulate_replicate
from simulator.scenario.schema import Scenario
from simulator.montecarlo.priors import prior_columns, prior_values, replicate_scenario
from simulator.montecarlo.seeds import stream
from simulator.montecarlo.summary import NUMERIC, columns_from_rows
from simulator.outputs.files import csv_text

ESTIMATE_FIELDS = ("estimate", "se", "df", "ci_low", "ci_high", "p_value", "converged")
DIAGNOSTICS = ("teams_analysed_int", "teams_analysed_ctl", "patients_randomised",
               "patients_analysed", "teams_disbanded", "staff_turnover", "mean_fidelity_int",
               "imbalance_max_smd", "contamination")
EXTRA_DIAGNOSTICS = ("patients_dropout", "patients_lost", "team_type_all_in_one_arm",
                     *(f"{k}_{arm}" for k in FLOW_COUNTS for arm in ("int", "ctl")),
                     "mean_fidelity_ctl", "mean_exposure_ctl", "staff_moves", "teams_merged",
                     "final_cluster_size_var", "teams_without_score", "staff_pooled_int")


def draw_replicate(scenario: Scenario, replicate: int, *,
                   clock: StageClock | None = None, engine: str = "simpy") -> Replicate:
    """Replicate r of a design point's scenario from its own seed streams, the same streams at
    every design point (common random numbers; ``seeds`` module docstring). DeclareDesign's
    ``draw_data``: any replicate rebuilt alone.  With priors, under replicate r's drawn
    values (``priors.replicate_scenario``). ``engine="fast"``: the fast engine's replicate r
    (a scenario it covers: ``model.fast.coverage``), with its event log and team paths."""
    if engine == "fast":
        return fast_replicates(scenario, [replicate], detail=True, clock=clock)[0]
    scenario = replicate_scenario(scenario, replicate)
    return simulate_replicate(scenario, lambda stage: stream(scenario.seed, replicate, stage),
                              clock=clock)


def fast_replicates(scenario: Scenario, replicates: Sequence[int], *, detail: bool = False,
                    clock: StageClock | None = None) -> list[Replicate]:
    """The fast engine's replicates, the chunk at once. With priors, each replicate under its
    own drawn values, as a chunk of one: a replicate's numbers do not depend on its chunk
    (``model.fast.chunk``), so this is the same replicate a chunk of many would give."""
    streams = _streams(scenario)
    if not scenario.priors:
        return simulate_chunk(scenario, replicates, streams, detail=detail, clock=clock)
    return [simulate_chunk(replicate_scenario(scenario, r), [r], streams, detail=detail,
                           clock=clock)[0] for r in replicates]


def _streams(scenario: Scenario):
    """(replicate, stage[, label]) -> that stream of the seed tree (``seeds.stream``)."""
    return lambda r, stage, label=None: stream(scenario.seed, r, stage, label)


@dataclass(frozen=True)
class WorkUnit:
    design_point: int
    first: int      # first replicate number
    stop: int       # one past the last
    scenario: Scenario
    engine: str = "simpy"   # simpy | fast (``model.fast.coverage.choose_engine``)


def simulate_unit(unit: WorkUnit) -> list[Replicate]:
    """The unit's replicates, on its engine (the fast engine simulates the chunk at once)."""
    if unit.engine == "fast":
        return fast_replicates(unit.scenario, range(unit.first, unit.stop))
    return [draw_replicate(unit.scenario, r) for r in range(unit.first, unit.stop)]


def type_count_columns(scenario: Scenario) -> list[str]:
    """Teams of each type per arm: n_int_<type>, n_ctl_<type> for the scenario's team types."""
    return [f"n_{arm}_{t}" for t in scenario.trial.team_types for arm in ("int", "ctl")]


def replicate_columns(scenario: Scenario) -> list[str]:
    """Columns of replicates.csv, in order (DESIGN.md contract first, extras after, the drawn
    values of any priors last)."""
    return ["design_point", "replicate", "outcome", "estimator", *ESTIMATE_FIELDS, "true_itt",
            "true_efficacy", *DIAGNOSTICS, *EXTRA_DIAGNOSTICS, *type_count_columns(scenario),
            *prior_columns(scenario)]


BatchFit = Callable[[Sequence[ObservedTrial]], EstimateArrays]


def batch_fit(planned: PlannedAnalysis) -> BatchFit | None:
    """The batched form of ``planned``'s estimator (``registry.EstimatorSpec.batch``: the
    mixed model, cluster summary and cluster means), None if it has none."""
    batch = spec(planned).batch
    if batch is None:
        return None
    return lambda trials: batch(trials, planned.options)


def _run_batch(fit: BatchFit, trials: list[ObservedTrial]) -> list[Estimate]:
    """The batch's records; should a batch raise, each trial alone (the same answers, as a
    trial's answer does not depend on its batch), and a trial that raises alone fails."""
    try:
        return fit(trials).records()
    except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
        out = []
        for trial in trials:
            try:
                out += fit([trial]).records()
            except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
                out.append(Estimate.failed())
        return out


def _estimate_values(est: Estimate) -> list:
    return [est.estimate, est.se, est.df, est.ci_low, est.ci_high, est.p_value, int(est.converged)]


def _tail(rep: Replicate, scenario: Scenario, r: int) -> list:
    """The replicate's columns after the truths: diagnostics, type counts, prior draws."""
    diag = rep.diagnostics
    return [*(diag[k] for k in DIAGNOSTICS), *(diag.get(k, np.nan) for k in EXTRA_DIAGNOSTICS),
            *(diag.get(k, 0) for k in type_count_columns(scenario)),
            *prior_values(scenario, r).values()]


def analysis_stream_label(outcome: int, outcome_label: str, label: str) -> str:
    """A per-trial estimator's stream label: the estimator's own for the primary outcome (as
    before outcomes were a list), "<outcome>/<estimator>" for every other outcome."""
    return label if outcome == 0 else f"{outcome_label}/{label}"


def fit_outcome(scenario: Scenario, plan: list[PlannedAnalysis], trials: list,
                replicates: range, stream_label: Callable[[str], str]) -> list[list[Estimate]]:
    """Each planned analysis over the chunk's trials of one outcome: batched where it can
    be, else trial by trial on the replicate's own analysis stream."""
    fits = [batch_fit(p) for p in plan]
    estimates: list[list[Estimate]] = [
        _run_batch(fit, trials) if fit is not None else [] for fit in fits]
    for i in (i for i, fit in enumerate(fits) if fit is None):
        label = stream_label(plan[i].label)
        estimates[i] = [run_analysis(trial, plan[i], rng=stream(scenario.seed, r, "analysis", label))
                        for r, trial in zip(replicates, trials)]
    return estimates


def run_unit(unit: WorkUnit) -> tuple[list[list], dict[str, float]]:
    """Simulate and analyse one chunk; returns the rows and the seconds spent. Rows run
    replicate by replicate, within a replicate outcome by outcome (the primary first), within
    an outcome analysis by analysis."""
    start = time.perf_counter()
    scenario, d = unit.scenario, unit.design_point
    replicates = range(unit.first, unit.stop)
    outcome_sets: list[tuple[OutcomeTrial, ...]] = []
    tails = []
    for r, rep in zip(replicates, simulate_unit(unit)):
        outcome_sets.append(rep.outcome_trials)
        tails.append(_tail(rep, scenario, r))
    rows: list[list[list]] = [[] for _ in replicates]
    for o, first in enumerate(outcome_sets[0] if outcome_sets else ()):
        plan = outcome_estimators(scenario, first.label, first.kind)
        estimates = fit_outcome(scenario, plan, [s[o].trial for s in outcome_sets], replicates,
                                lambda label: analysis_stream_label(o, first.label, label))
        for k, r in enumerate(replicates):
            out = outcome_sets[k][o]
            rows[k] += [[d, r, out.label, p.label, *_estimate_values(estimates[i][k]),
                         *out.truth(p.estimand), *tails[k]] for i, p in enumerate(plan)]
    return [row for per_replicate in rows for row in per_replicate], \
        {"seconds": time.perf_counter() - start}


CHUNK_COLUMNS = ("design_point", "replicate", "outcome", "estimator", *NUMERIC)  # summary reads


def run_unit_csv(unit: WorkUnit) -> tuple[str, dict[str, np.ndarray]]:
    """``run_unit`` for the executors: the chunk's rows as CSV text (no header) and as the
    arrays the summary reads (parsed from that text, so the same as reading the chunk back).
    Workers format and parse; the parent only writes files."""
    header = replicate_columns(unit.scenario)
    rows, _ = run_unit(unit)
    text = csv_text(header, rows).split("\n", 1)[1]
    return text, columns_from_rows(header, list(csv.reader(io.StringIO(text))), CHUNK_COLUMNS)


def work_units(points, replicates: int, chunk_size: int, engine: str = "simpy") -> list[WorkUnit]:
    return [WorkUnit(p.index, first, min(first + chunk_size, replicates), p.scenario, engine)
            for p in points for first in range(0, replicates, chunk_size)]
