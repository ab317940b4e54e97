"""``crtsim run``: every design point × replicate, chunked, persisted, resumable, then summarised."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from simulator.analysis.registry import spec
from simulator.model.fast import choose_engine
from simulator.model.outcome_list import outcome_estimators, outcome_kinds
from simulator.montecarlo.engine import CHUNK_COLUMNS, replicate_columns, work_units
from simulator.scenario.schema import Scenario
from simulator.scenario.files import design_points
from simulator.montecarlo.store import ChunkStore
from simulator.montecarlo.comparisons import compare_points
from simulator.montecarlo.families import families
from simulator.montecarlo.summary import columns_from_rows, primary_data, summarise
from simulator.montecarlo.executors import results

DEFAULT_CHUNK = 25
FAST_CHUNK = 200   # the fast engine's arrays pay off over larger chunks (numbers do not change)


@dataclass(frozen=True)
class RunSettings:
    out_dir: Path
    executor: str = "local"          # serial | local | dask
    workers: int | None = None       # default: all cores
    chunk_size: int | None = None    # default: DEFAULT_CHUNK (SimPy), FAST_CHUNK (fast)
    fresh: bool = False
    quiet: bool = False
    scheduler: str | None = None
    engine: str = "simpy"            # simpy | fast | auto (``model.fast.coverage``); the CLI: auto


@dataclass(frozen=True)
class RunResult:
    summary: list[dict]
    swept_keys: list[str]
    data: dict
    seconds: float
    computed_replicates: int
    total_replicates: int
    comparisons: list[dict] = field(default_factory=list)   # comparisons.csv rows
    families: list[dict] = field(default_factory=list)      # families.csv rows
    family_p_values: list[list] = field(default_factory=list)   # family_p_values.csv rows
    engine: str = "simpy"            # the engine that ran
    engine_reason: str = ""          # why (``choose_engine``)
    chunk_size: int = DEFAULT_CHUNK


def _key(unit) -> tuple[int, int, int]:
    return unit.design_point, unit.first, unit.stop


class _Columns:
    """The summary's columns of every unit, written in place as the units arrive (in any order)
    into arrays laid out unit by unit: memory holds each number once, never a chunk's copy
    beside the joined array (a run of a million replicates stays small)."""

    def __init__(self, units, points):
        per = {p.index: sum(len(outcome_estimators(p.scenario, label, kind))
                            for label, kind in outcome_kinds(p.scenario)) for p in points}
        sizes = [(u.stop - u.first) * per[u.design_point] for u in units]
        starts = np.cumsum([0] + sizes)
        self.rows = {_key(u): (int(starts[i]), sizes[i]) for i, u in enumerate(units)}
        self.total, self.data = int(starts[-1]), {}

    def put(self, unit, columns: dict) -> None:
        at, n = self.rows[_key(unit)]
        for name, values in columns.items():
            if len(values) != n:   # the plan and the rows disagree: a bug, not bad input
                raise RuntimeError(f"chunk {_key(unit)}: {len(values)} rows, expected {n}")
            if name not in self.data:
                self.data[name] = np.empty(self.total, dtype=values.dtype)
            self.data[name][at:at + n] = values


def point_plan(scenario: Scenario, label: str, kind: str):
    """The planned analyses of one outcome (``outcome_list.outcome_estimators``)."""
    return outcome_estimators(scenario, label, kind)


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
    engine, why = choose_engine([p.scenario for p in points], settings.engine)
    chunk = settings.chunk_size or (FAST_CHUNK if engine == "fast" else DEFAULT_CHUNK)
    store = ChunkStore(settings.out_dir, scenario, chunk, fresh=settings.fresh, engine=engine)
    units = work_units(points, scenario.replicates, chunk, engine)
    pending = [u for u in units if not store.has(u)]
    pending_keys = {_key(u) for u in pending}
    total = sum(u.stop - u.first for u in pending)
    bar = tqdm(total=total, unit="rep", disable=settings.quiet or total == 0, file=sys.stderr,
               desc=scenario.name, smoothing=0.1)
    columns = _Columns(units, points)
    with bar:
        for unit, (text, arrays) in results(settings.executor, settings.workers,
                                            settings.scheduler, pending):
            store.save_text(unit, text)
            columns.put(unit, arrays)
            bar.update(unit.stop - unit.first)
    for unit in units:   # the chunks a previous run computed, read back
        if _key(unit) in pending_keys or not columns.rows[_key(unit)][1]:
            continue
        columns.put(unit, columns_from_rows(header, store.read(unit), CHUNK_COLUMNS))
    data = columns.data or columns_from_rows(header, [], CHUNK_COLUMNS)
    store.concatenate(units, header, Path(settings.out_dir) / "replicates.csv")
    alpha_of = {p.index: p.scenario.analysis.alpha for p in points}
    plan = outcome_plan(points)
    targets = {p.label: spec(p).target for point in points
               for label, kind in outcome_kinds(point.scenario)
               for p in outcome_estimators(point.scenario, label, kind)}
    summary = summarise(data, points, plan, alpha_of, targets)
    comparisons = compare_points(primary_data(data), points, scenario.sweep, plan[0][1], alpha_of)
    family_rows, p_rows = families(data, points, plan)
    return RunResult(summary, list(points[0].swept), data, time.perf_counter() - start,
                     total, len(points) * scenario.replicates, comparisons, family_rows, p_rows,
                     engine, why, chunk)
