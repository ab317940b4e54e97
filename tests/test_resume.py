"""Resume: a run killed with SIGKILL and restarted gives the same summary as an uninterrupted run;
a changed scenario never mixes with old chunks."""
import os
import signal
import subprocess
import sys
import time

from simulator.cli import main

SCENARIO = "name: res\nreplicates: 160\ntrial: {teams: 10}\n"


def _cmd(path, out, *extra):
    return [sys.executable, "-m", "simulator", "run", str(path), "--out", str(out), "--quiet",
            "--no-plots", "--executor", "serial", "--chunk-size", "4", *extra]


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(path, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((killed / "chunks").glob("d*.csv"))) < 5:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list((killed / "chunks").glob("d*.csv")))
    assert 5 <= done_before < 40, "the kill should land mid-run"
    assert not (killed / "summary.csv").exists()
    assert main(_cmd(path, killed)[3:]) == 0
    clean = tmp_path / "clean"
    assert main(_cmd(path, clean)[3:]) == 0
    assert (killed / "summary.csv").read_bytes() == (clean / "summary.csv").read_bytes()
    assert (killed / "replicates.csv").read_bytes() == (clean / "replicates.csv").read_bytes()


def test_changed_scenario_is_refused_until_fresh(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: res\nreplicates: 4\ntrial: {teams: 8}\n")
    out = tmp_path / "o"
    assert main(_cmd(path, out)[3:]) == 0
    path.write_text("name: res\nreplicates: 4\ntrial: {teams: 10}\n")
    assert main(_cmd(path, out)[3:]) == 2
    assert "--fresh" in capsys.readouterr().err
    assert main([*_cmd(path, out)[3:], "--fresh"]) == 0


def test_more_replicates_extends_a_finished_run(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: res\nreplicates: 8\ntrial: {teams: 8}\n")
    out = tmp_path / "o"
    assert main(_cmd(path, out)[3:]) == 0
    first = (out / "replicates.csv").read_text().splitlines()
    assert main([*_cmd(path, out)[3:], "--replicates", "12"]) == 0
    extended = (out / "replicates.csv").read_text().splitlines()
    assert extended[: len(first)] == first and len(extended) == 1 + 12 * 2
