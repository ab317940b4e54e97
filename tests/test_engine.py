"""The Monte Carlo engine: validity against closed forms (tolerances from the MCSE), determinism."""
import math

import pytest
from scipy import stats

from simulator.cli import main
from simulator.montecarlo.runner import RunSettings, run_scenario
from simulator.scenario.files import parse_scenario

NO_DYNAMICS = {
    "trial": {"team_types": {"cmht": 1.0}, "patients_per_team": {"mean": 10, "cv": 0.0}},
    "outcome": {"team_type_effects": {}, "sd": 1.0},
    "intervention": {"attendance": 1.0, "session_months": [0], "sessions_to_train": 1},
    "staff_turnover": {"annual_rate": 0.0},
    "dropout": {"attrition": 0.0},
}


def _scenario(name, teams, effect, icc, replicates, estimators, m=10, seed=1):
    data = {"name": name, "seed": seed, "replicates": replicates, **NO_DYNAMICS}
    data = {**data, "trial": {**NO_DYNAMICS["trial"], "teams": teams,
                              "patients_per_team": {"mean": m, "cv": 0.0}},
            "outcome": {**NO_DYNAMICS["outcome"], "icc": icc},
            "intervention": {**NO_DYNAMICS["intervention"], "effect_at_full_implementation": effect},
            "analysis": {"estimators": estimators}}
    return parse_scenario(data)


def _run(scenario, tmp_path):
    return run_scenario(scenario, RunSettings(out_dir=tmp_path / scenario.name, executor="serial",
                                              quiet=True))


def _row(result, estimator, estimand="itt"):
    return next(r for r in result.summary if r["estimator"] == estimator and r["estimand"] == estimand)


def cluster_t_power(teams, m, effect, icc, sd=1.0, alpha=0.05):
    """Two-sided power of the two-sample t-test on equal-size cluster means (noncentral t)."""
    k1 = (teams + 1) // 2
    k0 = teams - k1
    var_mean = icc * sd**2 + (1 - icc) * sd**2 / m
    ncp = effect / math.sqrt(var_mean * (1 / k1 + 1 / k0))
    df = teams - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    return stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)


@pytest.mark.parametrize("teams,effect,icc", [(12, 0.6, 0.05), (20, 0.35, 0.05), (30, 0.5, 0.2)])
def test_cluster_means_power_matches_closed_form(teams, effect, icc, tmp_path):
    result = _run(_scenario(f"p{teams}", teams, effect, icc, 1500, ["cluster_means"]), tmp_path)
    row = _row(result, "cluster_means")
    truth = cluster_t_power(teams, 10, effect, icc)
    assert row["n_failed"] == 0
    assert abs(row["rejection"] - truth) < 3 * math.sqrt(truth * (1 - truth) / row["n_sim"])
    assert row["true_value"] == pytest.approx(effect)


def test_type_one_error_and_coverage_under_the_null(tmp_path):
    result = _run(_scenario("null", 20, 0.0, 0.05, 2000, ["mixed_ancova", "cluster_summary"]),
                  tmp_path)
    for name in ("mixed_ancova", "cluster_summary"):
        row = _row(result, name)
        n = row["n_sim"]
        assert n >= 1990
        assert abs(row["rejection"] - 0.05) < 3 * math.sqrt(0.05 * 0.95 / n), (name, row["rejection"])
        assert abs(row["coverage"] - 0.95) < 3 * math.sqrt(0.05 * 0.95 / n), (name, row["coverage"])
        assert abs(row["bias"]) < 3 * row["bias_mcse"]


def test_same_seed_gives_identical_summary_and_different_seed_does_not(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("name: det\nreplicates: 12\ntrial: {teams: 10}\n"
                    "reconfiguration: {scheduled: [{month: 6, teams: 1}]}\n")
    outs = []
    for i, extra in enumerate(([], [], ["--seed", "7"])):
        out = tmp_path / f"o{i}"
        assert main(["run", str(path), "--out", str(out), "--quiet", "--no-plots",
                     "--executor", "serial", "--chunk-size", "5", *extra]) == 0
        outs.append(((out / "summary.csv").read_bytes(), (out / "replicates.csv").read_bytes()))
    assert outs[0] == outs[1]
    assert outs[0][0] != outs[2][0]


def test_results_do_not_depend_on_executor_workers_or_chunk_size(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: par\nreplicates: 10\ntrial: {teams: 8}\n"
                    "sweep: {intervention.attendance: [0.3, 0.9]}\n")
    variants = [["--executor", "serial", "--chunk-size", "3"],
                ["--executor", "local", "--workers", "2", "--chunk-size", "4"]]
    outs = []
    for i, extra in enumerate(variants):
        out = tmp_path / f"o{i}"
        assert main(["run", str(path), "--out", str(out), "--quiet", "--no-plots", *extra]) == 0
        outs.append((out / "replicates.csv").read_bytes())
    assert outs[0] == outs[1]


def test_run_writes_the_contract_outputs(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: out\nreplicates: 6\ntrial: {teams: 8}\n"
                    "sweep: {trial.teams: [8, 10]}\n")
    out = tmp_path / "o"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--executor", "serial"]) == 0
    header = (out / "summary.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["trial.teams", "outcome", "estimator", "estimand"]
    for col in ("true_value", "n_sim", "n_failed", "bias", "bias_mcse", "empse", "empse_mcse", "modse",
                "relerr_modse", "rmse", "coverage", "coverage_mcse", "rejection", "rejection_mcse"):
        assert col in header
    rep_header = (out / "replicates.csv").read_text().splitlines()[0].split(",")
    assert rep_header[2:4] == ["outcome", "estimator"]
    assert {line.split(",")[2] for line in (out / "replicates.csv").read_text().splitlines()[1:]} \
        == {"patient:QPR"}
    for col in ("design_point", "replicate", "estimator", "estimate", "se", "df", "ci_low", "ci_high",
                "p_value", "converged", "true_itt", "true_efficacy", "teams_analysed_int",
                "teams_analysed_ctl", "patients_randomised", "patients_analysed", "teams_disbanded",
                "staff_turnover", "mean_fidelity_int", "imbalance_max_smd", "contamination"):
        assert col in rep_header
    assert len((out / "replicates.csv").read_text().splitlines()) == 1 + 2 * 6 * 2
    assert (out / "run.json").exists() and (out / "power_curve.png").stat().st_size > 1000
    assert not list(out.glob(".*tmp*"))


def test_dask_local_cluster_gives_the_same_replicates(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: dk\nreplicates: 6\ntrial: {teams: 8}\n")
    outs = []
    for i, extra in enumerate((["--executor", "serial"], ["--executor", "dask", "--workers", "2"])):
        out = tmp_path / f"o{i}"
        assert main(["run", str(path), "--out", str(out), "--quiet", "--no-plots",
                     "--chunk-size", "2", *extra]) == 0
        outs.append((out / "replicates.csv").read_bytes())
    assert outs[0] == outs[1]


def test_replicates_carry_team_type_counts_per_arm(tmp_path):
    import csv
    path = tmp_path / "s.yaml"
    path.write_text("name: tc\nreplicates: 5\ntrial: {teams: 11}\n")
    out = tmp_path / "o"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-plots",
                 "--executor", "serial"]) == 0
    for row in csv.DictReader(open(out / "replicates.csv")):
        ints = sum(int(v) for k, v in row.items() if k.startswith("n_int_"))
        ctls = sum(int(v) for k, v in row.items() if k.startswith("n_ctl_"))
        assert (ints, ctls) == (6, 5)
        by_type = {k[6:]: int(row[k]) + int(row["n_ctl_" + k[6:]]) for k in row if k.startswith("n_int_")}
        all_in_one = any(n >= 2 and min(int(row["n_int_" + t]), int(row["n_ctl_" + t])) == 0
                         for t, n in by_type.items())
        assert int(row["team_type_all_in_one_arm"]) == int(all_in_one)
