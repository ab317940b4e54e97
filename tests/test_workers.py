"""Pool workers exit when the run that started them dies: the kernel's parent-death signal on
Linux, and the portable getppid watchdog on its own (the kill of a whole run is in test_resume)."""
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _running(pid) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in "ZX"    # a zombie has exited


def _python(code, **kwargs):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            text=True, **kwargs)


@needs_proc
def test_linux_worker_asks_for_sigkill_when_its_parent_dies():
    code = """
        import ctypes, os
        from simulator.montecarlo.workers import die_with_parent
        die_with_parent(os.getppid())
        signal = ctypes.c_int()
        ctypes.CDLL(None).prctl(2, ctypes.byref(signal), 0, 0, 0)    # PR_GET_PDEATHSIG
        print(signal.value)
    """
    proc = _python(code)
    assert int(proc.communicate(timeout=60)[0]) == signal.SIGKILL


def test_a_worker_whose_parent_is_already_gone_exits_at_once():
    proc = _python("from simulator.workers import die_with_parent\ndie_with_parent(-1)\n"
                   "import time\ntime.sleep(30)\n")
    assert proc.wait(timeout=30) == 1


@needs_proc
def test_watchdog_alone_ends_an_orphaned_worker():
    """Without prctl, as on macOS: within a poll or two the worker sees it was re-parented."""
    code = """
        import multiprocessing, time
        from simulator.montecarlo import workers

        def worker(parent):
            workers._ask_kernel_to_kill_orphan = lambda: False
            workers.die_with_parent(parent)
            time.sleep(60)

        if __name__ == "__main__":
            import os
            child = multiprocessing.get_context("fork").Process(target=worker, args=(os.getpid(),))
            child.start()
            print(child.pid, flush=True)
            time.sleep(60)
    """
    parent = _python(code)
    child = int(parent.stdout.readline())
    time.sleep(1)                       # the worker is in its sleep, watchdog running
    assert _running(child)
    parent.kill()
    parent.wait()
    deadline = time.time() + 10
    while _running(child) and time.time() < deadline:
        time.sleep(0.1)
    try:
        assert not _running(child)
    finally:
        if _running(child):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
