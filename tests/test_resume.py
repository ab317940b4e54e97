"""Resume: a run killed with SIGKILL and restarted gives the same summary as an uninterrupted run,
and leaves no worker process behind; chunks of a changed scenario or of changed code never mix
with new ones."""
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import simulator
from simulator.cli import main

SCENARIO = "name: res\nreplicates: 160\ntrial: {teams: 10}\n"
PROC = Path("/proc")
needs_proc = pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="needs Linux /proc")


def _cmd(path, out, *extra):
    return [sys.executable, "-m", "simulator", "run", str(path), "--out", str(out), "--quiet",
            "--no-plots", "--executor", "serial", "--chunk-size", "4", *extra]


def _stat(pid):
    """(state, ppid, start time) of a process from /proc/<pid>/stat, or None once it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()      # the command name may hold spaces and ')'
    return fields[0], int(fields[1]), fields[19]


def _children(pid) -> dict[int, str]:
    """Every process whose parent is ``pid``, with its start time (which tells a reused pid)."""
    found = {}
    for entry in PROC.iterdir():
        stat = _stat(entry.name) if entry.name.isdigit() else None
        if stat and stat[1] == pid:
            found[int(entry.name)] = stat[2]
    return found


def _still_running(processes: dict[int, str]) -> list[int]:
    """Those of ``processes`` still running: not gone, not a zombie waiting for init to reap it."""
    return [pid for pid, start in processes.items()
            if (stat := _stat(pid)) and stat[2] == start and stat[0] not in "ZX"]


def _kill_mid_run(cmd, chunks: Path) -> dict[int, str]:
    """Start ``cmd``, SIGKILL it after 5 chunks, and return the children it had just before."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(chunks.glob("d*.csv"))) < 5:
        time.sleep(0.05)
    children = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return children


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    path = folder / "s.yaml"
    path.write_text(SCENARIO)
    assert main(_cmd(path, folder / "o")[3:]) == 0
    return folder / "o"


LOCAL = ["--executor", "local", "--workers", "2"]
DASK = ["--executor", "dask", "--workers", "2"]
no_dask = importlib.util.find_spec("distributed") is None

# (killed run, resumed run): the dask run resumes serially, which is quicker than a second
# cluster and gives the same results (test_engine checks executors agree).
EXECUTORS = [
    pytest.param([], [], id="serial"),
    pytest.param(LOCAL, LOCAL, id="local", marks=needs_proc),
    pytest.param(DASK, [], id="dask",
                 marks=[needs_proc, pytest.mark.skipif(no_dask, reason="needs distributed")]),
]


@pytest.mark.parametrize(("killed_with", "resumed_with"), EXECUTORS)
def test_sigkill_leaves_no_process_and_resume_matches_uninterrupted_run(
        tmp_path, killed_with, resumed_with, uninterrupted):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    killed = tmp_path / "killed"
    children = _kill_mid_run(_cmd(path, killed, *killed_with), killed / "chunks")
    try:
        deadline = time.time() + 10
        while _still_running(children) and time.time() < deadline:
            time.sleep(0.1)
        assert not _still_running(children), "worker processes outlived the killed run"
    finally:
        for pid in _still_running(children):     # never leave them behind, even on failure
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert len(children) >= (2 if killed_with else 0), "the workers were running when killed"
    done_before = len(list((killed / "chunks").glob("d*.csv")))
    assert 5 <= done_before < 40, "the kill should land mid-run"
    assert not (killed / "summary.csv").exists()
    assert main(_cmd(path, killed, *resumed_with)[3:]) == 0
    for name in ("summary.csv", "replicates.csv"):
        assert (killed / name).read_bytes() == (uninterrupted / name).read_bytes()


def test_changed_scenario_is_refused_until_fresh(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: res\nreplicates: 4\ntrial: {teams: 8}\n")
    out = tmp_path / "o"
    assert main(_cmd(path, out)[3:]) == 0
    path.write_text("name: res\nreplicates: 4\ntrial: {teams: 10}\n")
    assert main(_cmd(path, out)[3:]) == 2
    err = capsys.readouterr().err
    assert "different scenario" in err and "crtsim code" not in err and "--fresh" in err
    assert main([*_cmd(path, out)[3:], "--fresh"]) == 0


def test_chunks_of_other_code_are_refused_until_fresh(tmp_path):
    """A copy of the package runs the scenario; one line of its source changes; the same command
    is refused, and --fresh recomputes under the new code's hash."""
    code = tmp_path / "code"
    shutil.copytree(Path(simulator.__file__).parent, code / "simulator",
                    ignore=shutil.ignore_patterns("__pycache__"))
    search = [str(code), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(search)}
    path = tmp_path / "s.yaml"
    path.write_text("name: res\nreplicates: 4\ntrial: {teams: 8}\n")
    out = tmp_path / "o"
    manifest = out / "chunks" / "manifest.json"

    def run(*extra):
        return subprocess.run(_cmd(path, out, *extra), cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)

    assert run().returncode == 0
    before = json.loads(manifest.read_text())
    with open(code / "simulator" / "montecarlo" / "engine.py", "a") as fh:
        fh.write("# an edit that changes no result still changes the code\n")
    refused = run()
    assert refused.returncode == 2, refused.stderr
    assert "different crtsim code" in refused.stderr and "--fresh" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert json.loads(manifest.read_text()) == before, "a refused run must not touch the chunks"
    assert run("--fresh").returncode == 0
    after = json.loads(manifest.read_text())
    assert after["scenario"] == before["scenario"] and after["code"] != before["code"]


def test_more_replicates_extends_a_finished_run(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: res\nreplicates: 8\ntrial: {teams: 8}\n")
    out = tmp_path / "o"
    assert main(_cmd(path, out)[3:]) == 0
    first = (out / "replicates.csv").read_text().splitlines()
    assert main([*_cmd(path, out)[3:], "--replicates", "12"]) == 0
    extended = (out / "replicates.csv").read_text().splitlines()
    assert extended[: len(first)] == first and len(extended) == 1 + 12 * 2
