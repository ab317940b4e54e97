"""`crtsim draw`: one replicate written as tables, byte-identical for the same seed and replicate."""
import csv

from simulator.cli import main

from conftest import SCENARIOS


def _draw(tmp_path, name, replicate=3):
    out = tmp_path / name
    assert main(["draw", str(SCENARIOS / "refocus.yaml"), "--replicate", str(replicate),
                 "--out", str(out)]) == 0
    return {f: (out / f).read_bytes() for f in ("patients.csv", "teams.csv", "events.csv")}


def test_draw_is_byte_identical_for_the_same_replicate(tmp_path):
    assert _draw(tmp_path, "a") == _draw(tmp_path, "b")
    assert _draw(tmp_path, "c", replicate=4) != _draw(tmp_path, "a")


def test_draw_tables_describe_the_replicate(tmp_path):
    _draw(tmp_path, "a")
    patients = list(csv.DictReader(open(tmp_path / "a" / "patients.csv")))
    teams = list(csv.DictReader(open(tmp_path / "a" / "teams.csv")))
    assert len(teams) == 27
    assert sum(int(t["arm"]) for t in teams) == 14
    assert sum(int(t["patients"]) for t in teams) == len(patients)
    assert sum(t["disbanded_month"] != "" for t in teams) == 2
    for p in patients:
        assert (p["followup"] == "") == (p["status"] != "analysed")
        assert (p["why_not_observed"] == "") == (p["status"] == "analysed")
