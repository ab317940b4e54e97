"""Executors: where work units run. ``serial`` in this process; ``local``, a process pool whose
workers exit when this process dies (``workers`` module); ``dask``, a ``dask.distributed``
cluster (optional extra ``crtsim[distributed]``) at ``--scheduler ADDRESS`` or a LocalCluster.

Results are identical whatever the executor: each unit draws only from its own seed streams.

A LocalCluster's worker processes exit when this process dies, whatever the signal: distributed
hands each one the read end of a pipe that only this process holds open, and the worker exits
(``os._exit``) when it closes (``distributed.process.AsyncProcess``). tests/test_resume.py kills a
dask run with SIGKILL and checks that nothing is left. We add no parent-death signal of our own:
distributed starts workers from helper threads, and Linux sends that signal when the starting
thread ends, not only the process. Workers of a cluster given by ``--scheduler`` are not ours and
keep running.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os

from simulator.montecarlo.engine import run_unit_csv
from simulator.montecarlo.workers import die_with_parent


class DaskUnavailable(Exception):
    pass


def _client(workers: int, scheduler: str | None):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise DaskUnavailable("the dask executor needs the optional extra: "
                              "pip install 'crtsim[distributed]'") from err
    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def dask_results(units, workers: int, scheduler: str | None):
    """Yield (unit, result) as units complete on the cluster."""
    from dask.distributed import as_completed

    client, cluster = _client(workers, scheduler)
    try:
        queue, pending = iter(units), {}
        _top_up(pending, queue, IN_FLIGHT * workers, lambda u: client.submit(run_unit_csv, u,
                                                                           pure=False))
        running = as_completed(list(pending))
        for fut in running:
            unit = pending.pop(fut)
            yield unit, fut.result()
            for new in _top_up(pending, queue, IN_FLIGHT * workers,
                               lambda u: client.submit(run_unit_csv, u, pure=False)):
                running.add(new)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _serial(units):
    for unit in units:
        yield unit, run_unit_csv(unit)


def _pool_context():
    """The default start method, except that workers must be this process's own children (so
    they can tell when it dies): a forkserver would stand between, so spawn instead."""
    context = multiprocessing.get_context()
    if context.get_start_method() == "forkserver":
        return multiprocessing.get_context("spawn")
    return context


# Units submitted ahead per worker: enough that no worker waits, few enough that the results
# not yet collected (each a chunk's CSV text) stay few: memory does not grow with the run.
IN_FLIGHT = 2


def _top_up(pending: dict, queue, size: int, submit) -> list:
    """Submit units from ``queue`` until ``size`` are pending (future -> unit); the new futures."""
    new = []
    while len(pending) < size:
        unit = next(queue, None)
        if unit is None:
            break
        future = submit(unit)
        pending[future] = unit
        new.append(future)
    return new


def _local(units, workers):
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(),
                                initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        queue, pending = iter(units), {}
        submit = lambda u: pool.submit(run_unit_csv, u)  # noqa: E731
        try:
            _top_up(pending, queue, IN_FLIGHT * workers, submit)
            while pending:
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    unit = pending.pop(fut)   # collected once: the text is not kept
                    yield unit, fut.result()
                _top_up(pending, queue, IN_FLIGHT * workers, submit)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def results(executor: str, workers: int | None, scheduler: str | None, units):
    """(unit, (CSV text, arrays): ``engine.run_unit_csv``) pairs as units complete on ``executor`` (serial | local | dask); one
    worker or one unit runs serially. Every executor gives the same results (module docstring)."""
    workers = workers or os.cpu_count() or 1
    if executor == "serial" or (executor == "local" and workers == 1) or len(units) <= 1:
        return _serial(units)
    if executor == "local":
        return _local(units, workers)
    return dask_results(units, workers, scheduler)
