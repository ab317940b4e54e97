"""``crtsim run``: every design point × replicate, chunked, persisted, resumable, then summarised."""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .analysis.registry import ESTIMATORS, analysis_plan
from .engine import replicate_columns, run_unit, work_units
from .scenario import Scenario
from .scenario_file import design_points
from .store import ChunkStore
from .summary import columns_from_rows, summarise
from .workers import die_with_parent

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


def _serial(units):
    for unit in units:
        yield unit, run_unit(unit)


def _pool_context():
    """The default start method, except that workers must be this process's own children (so
    they can tell when it dies): a forkserver would stand between, so spawn instead."""
    context = multiprocessing.get_context()
    if context.get_start_method() == "forkserver":
        return multiprocessing.get_context("spawn")
    return context


def _local(units, workers):
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(),
                                initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(run_unit, u): u for u in units}
        try:
            for fut in cf.as_completed(futures):
                yield futures[fut], fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def _executor(settings: RunSettings, units):
    workers = settings.workers or os.cpu_count() or 1
    if settings.executor == "serial" or (settings.executor == "local" and workers == 1) or len(units) <= 1:
        return _serial(units)
    if settings.executor == "local":
        return _local(units, workers)
    from .distributed import dask_results
    return dask_results(units, workers, settings.scheduler)


def _read_all(store: ChunkStore, units, header) -> dict:
    """Parse chunk by chunk into arrays, so memory holds numbers, not text rows."""
    parts = [columns_from_rows(header, store.read(u)) for u in units]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


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
        for unit, (rows, _) in _executor(settings, pending):
            store.save(unit, header, rows)
            bar.update(unit.stop - unit.first)
    data = _read_all(store, units, header)
    store.concatenate(units, header, Path(settings.out_dir) / "replicates.csv")
    alpha_of = {p.index: p.scenario.analysis.alpha for p in points}
    estimators = list(dict.fromkeys(n for p in points for n in p.scenario.analysis.estimators))
    targets = {p.label: ESTIMATORS[p.estimator].target
               for point in points for p in analysis_plan(point.scenario.analysis)}
    summary = summarise(data, points, estimators, alpha_of, targets)
    return RunResult(summary, list(points[0].swept), data, time.perf_counter() - start,
                     total, len(points) * scenario.replicates)
