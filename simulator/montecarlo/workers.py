"""Worker processes exit when the run that started them dies, whatever the signal.

A ``kill -9`` of ``crtsim run`` gives its process pool no chance to shut down, so each worker
looks after itself, from the pool's initializer:

- on Linux the kernel is asked to SIGKILL the worker when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``). The kernel means the parent *thread*: the pool is started
  from the thread that runs ``crtsim run``, which lives as long as the run;
- everywhere, a daemon thread polls ``os.getppid()`` and exits the worker once it has been
  re-parented (to init or a subreaper), in case ``prctl`` is unavailable or refused.

If the parent died before either was in place, ``getppid()`` already differs: the worker exits.
A worker has nothing to clean up: chunks are written by the parent only.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1      # <linux/prctl.h>
POLL_SECONDS = 0.5


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: make this worker exit when ``parent_pid`` (its parent) dies."""
    _ask_kernel_to_kill_orphan()
    if os.getppid() != parent_pid:      # already orphaned, before the request took effect
        os._exit(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True,
                     name="crtsim-parent-watch").start()


def _ask_kernel_to_kill_orphan() -> bool:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux; False where it is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    prctl.restype = ctypes.c_int
    return prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os._exit(1)
