"""``crtsim allocate``: the real trial randomised by the simulated scheme, recorded, refused a
second time, and re-derived by --verify; the Dickinson example of cvcrand through the CLI."""
import csv
import json

import numpy as np
import pytest

from simulator.cli import main
from simulator.montecarlo.engine import draw_replicate
from simulator.scenario.files import load_scenario

from conftest import ROOT
from test_teams import TEAMS, _write_csv

REF = ROOT / "tests" / "reference"
DICKINSON = ("location", "inciis", "uptodateonimmunizations", "hispanic", "incomecat")


def _reference(version: str) -> dict:
    with open(REF / "cvcrand_reference.csv", newline="") as fh:
        return {r["quantity"]: (r["value"], int(r["decimals"] or 0)) for r in csv.DictReader(fh)
                if r["example"] == "cvrall_l2" and r["cvcrand_version"] == version}


@pytest.fixture
def dickinson(tmp_path):
    """cvcrand's Dickinson_design as a team list (county -> team) and a scenario doing what
    cvrall(balancemetric = "l2", cutoff = 0.1, 8 of 16 treated, location and incomecat
    categorical) does."""
    with open(REF / "cvcrand_dickinson_design.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = ["team", *DICKINSON]
    _write_csv(tmp_path / "counties.csv", [[r["county"], *(r[c] for c in DICKINSON)]
                                           for r in rows], header)
    path = tmp_path / "dickinson.yaml"
    path.write_text("name: dickinson\ntrial: {teams_file: counties.csv}\n"
                    "allocation: {method: constrained, balance_metric: cvcrand_l2, "
                    f"balance_on: [{', '.join(DICKINSON)}], constrained_fraction: 0.1, "
                    "max_enumerate: 20000}\n")
    return path


@pytest.mark.parametrize("version", ["0.1.1", "0.0.4"])
def test_allocate_reproduces_the_published_cvcrand_dickinson_space(dickinson, tmp_path, version):
    out = tmp_path / "alloc"
    assert main(["allocate", str(dickinson), "--seed", "12345", "--out", str(out)]) == 0
    space = json.loads((out / "space.json").read_text())
    printed = {k: v for k, v in _reference(version).items() if k in space}
    assert len(printed) >= 13          # cutoff, mean, sd, min, 8 quantiles, max (+ n_kept)
    for key, (value, decimals) in printed.items():
        assert f"{space[key]:.{decimals}f}" == value, key
    assert space["n_allocations"] == 12870 and space["n_kept"] == 1287 and space["enumerated"]
    assert space["metric"] == "cvcrand_l2" and space["chosen_score"] <= space["cutoff_score"]
    assert "round(q * M)" in space["tie_rule"]
    allocation = list(csv.DictReader(open(out / "allocation.csv")))
    assert [r["team"] for r in allocation] == [str(i) for i in range(1, 17)]
    assert sum(r["arm"] == "intervention" for r in allocation) == 8
    record = json.loads((out / "allocation.json").read_text())
    assert record["seed"] == 12345 and record["method"] == "constrained"
    assert {"scenario_hash", "inputs_hash", "crtsim_version", "created"} <= set(record)


def test_allocate_refuses_to_overwrite_and_verify_re_derives(dickinson, tmp_path, capsys):
    out = tmp_path / "alloc"
    assert main(["allocate", str(dickinson), "--seed", "3", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["allocate", str(dickinson), "--seed", "4", "--out", str(out)]) == 2
    assert "already holds an allocation" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(["allocate", str(dickinson), "--verify", str(out)]) == 0
    assert "verified" in capsys.readouterr().out
    text = (out / "allocation.csv").read_text()
    flipped = text.replace("intervention", "XX").replace("control", "intervention")
    (out / "allocation.csv").write_text(flipped.replace("XX", "control"))
    assert main(["allocate", str(dickinson), "--verify", str(out)]) == 1
    assert "allocation.csv: DOES NOT MATCH" in capsys.readouterr().out
    counties = tmp_path / "counties.csv"
    counties.write_text(counties.read_text().replace("Rural", "Remote", 1))
    assert main(["allocate", str(dickinson), "--verify", str(out)]) == 1
    assert "inputs" in capsys.readouterr().out


def _team_scenario(tmp_path, allocation: str):
    _write_csv(tmp_path / "teams.csv", [list(t.values()) for t in TEAMS], list(TEAMS[0]))
    path = tmp_path / "s.yaml"
    path.write_text(f"name: t\nseed: 99\ntrial: {{teams_file: teams.csv}}\nallocation: {allocation}\n")
    return path


@pytest.mark.parametrize("allocation", ["{method: stratified, strata: [borough]}",
                                        "{method: constrained, balance_on: [deprivation, site]}",
                                        "{method: matched_pairs, strata: [site]}"])
def test_the_real_allocation_is_the_simulated_scheme_of_replicate_0(tmp_path, allocation):
    path = _team_scenario(tmp_path, allocation)
    assert main(["allocate", str(path), "--seed", "99", "--out", str(tmp_path / "a")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "a" / "allocation.csv")))
    arm = np.array([r["arm"] == "intervention" for r in rows], dtype=int)
    assert np.array_equal(arm, draw_replicate(load_scenario(path), 0).arm)
    if "stratified" in allocation:
        assert {r["stratum"] for r in rows} == {"borough=x", "borough=y"}
    if "matched_pairs" in allocation:
        pairs = {}
        for r in rows:
            pairs.setdefault(r["pair"], []).append(r["arm"])
        assert sorted(pairs) == ["1", "2", "3"]
        assert all(sorted(arms) == ["control", "intervention"] for arms in pairs.values())


def test_allocate_needs_the_listed_columns_and_a_team_list(tmp_path, write_yaml, capsys):
    path = _team_scenario(tmp_path, "{method: constrained, balance_on: [deprivation, leadership_x]}")
    assert main(["validate", str(path)]) == 2     # unknown column: a scenario error
    path = _team_scenario(tmp_path, "{method: constrained, balance_on: [deprivation]}")
    text = path.read_text().replace("teams.csv", "few.csv")
    _write_csv(tmp_path / "few.csv", [[t["team"], t["deprivation"]] for t in TEAMS],
               ["team", "deprivation"])
    path.write_text(text.replace("[deprivation]", "[deprivation, patients]"))
    assert main(["allocate", str(path), "--seed", "1", "--out", str(tmp_path / "b")]) == 2
    assert "patients, which the team list does not give" in capsys.readouterr().err
    plain = write_yaml("name: x\n")
    assert main(["allocate", str(plain), "--seed", "1", "--out", str(tmp_path / "c")]) == 2
    assert "trial.teams_file or trial.team_list" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_the_simulated_cvcrand_scheme_keeps_cvcrands_space(dickinson):
    from simulator.allocation import AllocationSettings, build_scheme
    from simulator.allocation.scoring import balance_design_matrix, cvcrand_l2_scores, kept_space
    from simulator.allocation.space import all_subsets

    s = load_scenario(dickinson)
    covariates = s.trial.team_table.complete_covariates()
    settings = AllocationSettings(method="constrained", strata=(), balance_on=DICKINSON,
                                  balance_metric="cvcrand_l2", max_enumerate=20_000)
    scheme = build_scheme(settings, covariates, 8, rng=np.random.default_rng(1))
    everything = all_subsets(16, 8)
    scores = cvcrand_l2_scores(balance_design_matrix(covariates, DICKINSON).z, everything)
    assert np.array_equal(scheme.kept, everything[kept_space(scores, 0.1).indices])
    draws = scheme.resample(np.random.default_rng(2), 50)
    assert np.all(scheme.score(draws) <= scheme.cutoff)
