"""``crtsim run``: every design point × replicate, chunked, persisted, resumable, then summarised."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from simulator.analysis.registry import spec
from simulator.model.outcome_list import outcome_estimators, outcome_kinds
from simulator.montecarlo.engine import replicate_columns, run_unit, work_units
from simulator.scenario.schema import Scenario
from simulator.scenario.files import design_points
from simulator.montecarlo.store import ChunkStore
from simulator.montecarlo.comparisons import compare_points
from simulator.montecarlo.summary import NUMERIC, columns_from_rows, primary_data, summarise
from simulator.montecarlo.executors import results

DEFAULT_CHUNK = 25


@dataclass(frozen=True)
class RunSettings:
    out_dir: Path
    executor: str = "local"          # serial | local | dask
    workers: int | None = None       # default: all cores
    chunk_size: int = DEFAULT_CHUNK
    fresh: bool = False
    quiet: bool = False
    scheduler: str | None = None


@dataclass(frozen=True)
class RunResult:
    summary: list[dict]
    swept_keys: list[str]
    data: dict
    seconds: float
    computed_replicates: int
    total_replicates: int
    comparisons: list[dict] = field(default_factory=list)   # comparisons.csv rows


def _read_all(store: ChunkStore, units, header) -> dict:
    """Parse chunk by chunk into arrays, so memory holds numbers, not text rows."""
    names = ("design_point", "replicate", "outcome", "estimator", *NUMERIC)
    parts = [columns_from_rows(header, store.read(u), names) for u in units]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def outcome_plan(points) -> list[tuple[str, list[str]]]:
    """(outcome label, estimator labels) for every outcome of the design points, the primary
    first, estimators in the order the analysis names them."""
    plan: dict[str, dict[str, None]] = {}
    for point in points:
        for label, kind in outcome_kinds(point.scenario):
            names = plan.setdefault(label, {})
            names.update(dict.fromkeys(p.label for p in outcome_estimators(point.scenario, label, kind)))
    return [(label, list(names)) for label, names in plan.items()]


def run_scenario(scenario: Scenario, settings: RunSettings) -> RunResult:
    """Simulate what is missing, then read every chunk back and summarise."""
    start = time.perf_counter()
    points = design_points(scenario)
    header = replicate_columns(scenario)
    store = ChunkStore(settings.out_dir, scenario, settings.chunk_size, fresh=settings.fresh)
    units = work_units(points, scenario.replicates, settings.chunk_size)
    pending = [u for u in units if not store.has(u)]
    total = sum(u.stop - u.first for u in pending)
    bar = tqdm(total=total, unit="rep", disable=settings.quiet or total == 0, file=sys.stderr,
               desc=scenario.name, smoothing=0.1)
    with bar:
        for unit, (rows, _) in results(settings.executor, settings.workers, settings.scheduler, pending):
            store.save(unit, header, rows)
            bar.update(unit.stop - unit.first)
    data = _read_all(store, units, header)
    store.concatenate(units, header, Path(settings.out_dir) / "replicates.csv")
    alpha_of = {p.index: p.scenario.analysis.alpha for p in points}
    plan = outcome_plan(points)
    targets = {p.label: spec(p).target for point in points
               for label, kind in outcome_kinds(point.scenario)
               for p in outcome_estimators(point.scenario, label, kind)}
    summary = summarise(data, points, plan, alpha_of, targets)
    comparisons = compare_points(primary_data(data), points, scenario.sweep, plan[0][1], alpha_of)
    return RunResult(summary, list(points[0].swept), data, time.perf_counter() - start,
                     total, len(points) * scenario.replicates, comparisons)
