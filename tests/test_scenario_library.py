"""Examples run as tests (STYLE.md principle 10): every scenarios/*.yaml runs with 20 replicates."""
import csv

import pytest

from simulator.cli import main

from conftest import SCENARIOS

FILES = sorted(p.name for p in SCENARIOS.glob("*.yaml"))


def test_the_library_is_not_empty():
    assert {"refocus.yaml", "null_refocus.yaml", "implementation_levels.yaml"} <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_every_scenario_runs_with_20_replicates(name, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(SCENARIOS / name), "--replicates", "20", "--out", str(out), "--quiet",
                 "--no-plots", "--executor", "serial"]) == 0
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert rows and all(int(r["n_sim"]) + int(r["n_failed"]) == 20 for r in rows)
