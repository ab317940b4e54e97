"""The Dask executor: work units on a ``dask.distributed`` cluster (optional extra
``crtsim[distributed]``). Connects to ``--scheduler ADDRESS`` or starts a LocalCluster.

Results are identical to the serial executor: each unit draws only from its own seed streams.

A LocalCluster's worker processes exit when this process dies, whatever the signal: distributed
hands each one the read end of a pipe that only this process holds open, and the worker exits
(``os._exit``) when it closes (``distributed.process.AsyncProcess``). tests/test_resume.py kills a
dask run with SIGKILL and checks that nothing is left. We add no parent-death signal of our own:
distributed starts workers from helper threads, and Linux sends that signal when the starting
thread ends, not only the process. Workers of a cluster given by ``--scheduler`` are not ours and
keep running.
"""
from __future__ import annotations

from .engine import run_unit


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
        futures = {client.submit(run_unit, u, pure=False): u for u in units}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
