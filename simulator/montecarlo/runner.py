"""``crtsim run``: every design point × replicate, chunked, persisted, resumable, then summarised."""
from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
from simulator.montecarlo.summary import columns_from_rows, summarise
from simulator.montecarlo.columns import ColumnStore
from simulator.montecarlo.executors import results

DEFAULT_CHUNK = 25
FAST_CHUNK = 200   # the fast engine's arrays pay off over larger chunks (numbers do not change)
FAST_CHUNK_TEAMS = 6_000   # teams in a fast chunk at most: a worker's memory stays flat in big trials


def fast_chunk(points) -> int:
    """The fast engine's default chunk: FAST_CHUNK replicates, fewer where trials are big (a
    chunk's arrays grow with its teams: 200 replicates of 327 teams took 1.1 GB in a worker),
    never fewer than DEFAULT_CHUNK. Numbers do not depend on the chunk."""
    teams = max(p.scenario.trial.teams for p in points)
    return max(DEFAULT_CHUNK, min(FAST_CHUNK, FAST_CHUNK_TEAMS // teams))


@dataclass(frozen=True)
class RunSettings:
    out_dir: Path
    executor: str = "local"          # serial | local | dask
    workers: int | None = None       # default: all cores
    chunk_size: int | None = None    # default: DEFAULT_CHUNK (SimPy), ``fast_chunk`` (fast)
    fresh: bool = False
    quiet: bool = False
    scheduler: str | None = None
    engine: str = "simpy"            # simpy | fast | auto (``model.fast.coverage``); the CLI: auto


@dataclass(frozen=True)
class RunResult:
    summary: list[dict]
    swept_keys: list[str]
    data: Mapping    # the replicate columns the summary read (``columns.StoredColumns``)
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


def _column_store(units, points, folder: Path) -> ColumnStore:
    """The summary's columns of every unit, on disk (``columns``), rows laid out unit by unit."""
    per = {p.index: sum(len(outcome_estimators(p.scenario, label, kind))
                        for label, kind in outcome_kinds(p.scenario)) for p in points}
    return ColumnStore([_key(u) for u in units], [(u.stop - u.first) * per[u.design_point]
                                                  for u in units],
                       [u.design_point for u in units], CHUNK_COLUMNS, folder)


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


def _summaries(columns: ColumnStore, points, sweep) -> tuple[list, list, list, list]:
    """summary, comparisons, families and family p-value rows, one design point at a time:
    memory holds only that point's columns (rows in the order of all points at once)."""
    alpha_of = {p.index: p.scenario.analysis.alpha for p in points}
    plan = outcome_plan(points)
    targets = {p.label: spec(p).target for point in points
               for label, kind in outcome_kinds(point.scenario)
               for p in outcome_estimators(point.scenario, label, kind)}
    summary = [row for p in points for row in summarise(columns.point(p.index), [p], plan,
                                                         alpha_of, targets)]
    comparisons = compare_points(columns.point, points, sweep, plan[0][0], plan[0][1], alpha_of)
    family_rows, p_rows = [], []
    for p in points:
        rows, p_values = families(columns.point(p.index), [p], plan)
        family_rows.extend(rows)
        p_rows.extend(p_values)
    return summary, comparisons, family_rows, p_rows


def run_scenario(scenario: Scenario, settings: RunSettings) -> RunResult:
    """Simulate what is missing, then read every chunk back and summarise."""
    start = time.perf_counter()
    points = design_points(scenario)
    header = replicate_columns(scenario)
    engine, why = choose_engine([p.scenario for p in points], settings.engine)
    chunk = settings.chunk_size or (fast_chunk(points) if engine == "fast" else DEFAULT_CHUNK)
    store = ChunkStore(settings.out_dir, scenario, chunk, fresh=settings.fresh, engine=engine)
    units = work_units(points, scenario.replicates, chunk, engine)
    pending = [u for u in units if not store.has(u)]
    pending_keys = {_key(u) for u in pending}
    total = sum(u.stop - u.first for u in pending)
    bar = tqdm(total=total, unit="rep", disable=settings.quiet or total == 0, file=sys.stderr,
               desc=scenario.name, smoothing=0.1)
    columns = _column_store(units, points, Path(settings.out_dir))
    with bar:
        for unit, (text, arrays) in results(settings.executor, settings.workers,
                                            settings.scheduler, pending):
            store.save_text(unit, text)
            columns.put(_key(unit), arrays)
            bar.update(unit.stop - unit.first)
    for unit in units:   # the chunks a previous run computed, read back
        if _key(unit) in pending_keys or not columns.rows[_key(unit)][1]:
            continue
        columns.put(_key(unit), columns_from_rows(header, store.read(unit), CHUNK_COLUMNS))
    store.concatenate(units, header, Path(settings.out_dir) / "replicates.csv")
    summary, comparisons, family_rows, p_rows = _summaries(columns, points, scenario.sweep)
    return RunResult(summary, list(points[0].swept), columns.whole(), time.perf_counter() - start,
                     total, len(points) * scenario.replicates, comparisons, family_rows, p_rows,
                     engine, why, chunk)
