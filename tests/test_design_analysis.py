"""Analyses that match the allocation (issue 12, item 2): adjust_for names numeric team
covariates; "strata" is the design's own restriction (stratum codes, constrained
randomisation's balance covariates, matched pairs: pair fixed effects in the mixed model,
pair differences with P - 1 df at the cluster level); warnings when a planned analysis
cannot be computed for the design."""
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from simulator.analysis.cluster import cluster_summary
from simulator.analysis.gee import gee_robust
from simulator.analysis.mixed import fit_random_intercept, mixed_ancova
from simulator.cli import main
from simulator.montecarlo.engine import draw_replicate
from simulator.scenario.files import ScenarioError, parse_scenario

from test_cluster import make_trial
from test_teams import TEAMS


def _with_covariates(trial, seed=0):
    rng = np.random.default_rng(seed)
    k = trial.n_teams
    return replace(trial, covariates={"size": rng.normal(10, 3, k),
                                      "area": np.array(["n", "s"])[np.arange(k) % 2]})


def _design(trial, team_columns):
    keep = trial.observed & np.isfinite(trial.baseline)
    teams, groups = np.unique(trial.team[keep], return_inverse=True)
    cols = [np.ones(groups.size), trial.arm[teams][groups].astype(float), trial.baseline[keep]]
    cols += [c[teams][groups] for c in team_columns]
    return trial.followup[keep], np.column_stack(cols), groups, teams.size


def test_a_numeric_team_covariate_is_one_team_level_column():
    trial = _with_covariates(make_trial(3, teams=16))
    y, X, groups, k = _design(trial, [trial.covariates["size"]])
    est = mixed_ancova(trial, adjust_for=("baseline", "size"))
    assert est.converged and est.df == k - 3
    assert est.estimate == pytest.approx(fit_random_intercept(y, X, groups).beta[1], rel=1e-10)
    cs = cluster_summary(trial, adjust_for=("baseline", "size"))
    assert cs.converged and cs.df == k - 3
    assert gee_robust(trial, adjust_for=("baseline", "size")).converged


def test_strata_after_constrained_randomisation_are_its_balance_covariates():
    trial = replace(_with_covariates(make_trial(4, teams=14)), strata_terms=("size", "area"))
    for fit in (mixed_ancova, cluster_summary):
        assert fit(trial, adjust_for=("baseline", "strata")) == \
            fit(trial, adjust_for=("baseline", "size", "area"))
    plain = replace(trial, strata_terms=())
    assert mixed_ancova(plain, adjust_for=("baseline", "strata")).df == \
        mixed_ancova(plain, adjust_for=("baseline",)).df


def _paired(seed, teams=16):
    trial = make_trial(seed, teams=teams, dropout=0.1)
    pairs = np.arange(teams) // 2
    arm = np.zeros(teams, int)
    rng = np.random.default_rng(seed)
    arm[2 * np.arange(teams // 2) + rng.integers(2, size=teams // 2)] = 1
    return replace(trial, arm=arm, strata=pairs, paired=True)


def test_matched_pairs_cluster_level_is_the_paired_t_on_pair_differences():
    trial = _paired(5)
    keep = trial.observed
    means = np.array([trial.followup[keep & (trial.team == j)].mean() for j in range(16)])
    d = np.array([means[2 * p + (trial.arm[2 * p] == 0)] - means[2 * p + (trial.arm[2 * p] == 1)]
                  for p in range(8)])
    ref = stats.ttest_1samp(d, 0.0)
    est = cluster_summary(trial, adjust_for=("strata",))
    assert est.converged and est.df == 7
    assert est.estimate == pytest.approx(d.mean(), rel=1e-12)
    assert est.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    adjusted = cluster_summary(trial, adjust_for=("baseline", "strata"))
    assert adjusted.converged and adjusted.df == 7
    assert cluster_summary(replace(trial, paired=False), adjust_for=("strata",)).df == 16 - 2 - 7


def test_matched_pairs_mixed_model_has_pair_fixed_effects():
    trial = _paired(6)
    pairs = [(trial.strata == p).astype(float) for p in range(1, 8)]
    y, X, groups, k = _design(trial, pairs)
    est = mixed_ancova(trial, adjust_for=("baseline", "strata"))
    assert est.converged and est.df == k - 2 - 7
    assert est.estimate == pytest.approx(fit_random_intercept(y, X, groups).beta[1], rel=1e-10)


@pytest.mark.parametrize("method, expect", [
    ("matched_pairs", "paired"), ("constrained", "terms"), ("stratified", "codes"),
    ("simple", "none")])
def test_the_simulated_trial_carries_the_designs_restriction(method, expect):
    s = parse_scenario({"name": "t", "trial": {"team_list": TEAMS},
                        "allocation": {"method": method, "strata": ["site"],
                                       "balance_on": ["deprivation", "borough"]}})
    trial = draw_replicate(s, 0).trial
    assert trial.paired == (expect == "paired")
    assert trial.strata_terms == (("deprivation", "borough") if expect == "terms" else ())
    if expect == "paired":
        for p in range(3):
            assert sorted(trial.arm[trial.strata == p].tolist()) == [0, 1]
    if expect == "codes":
        assert sorted(set(trial.strata.tolist())) == [0, 1]
    assert trial.covariates["deprivation"].dtype.kind == "f" and "staff" in trial.covariates


def test_adjust_for_names_are_checked_against_the_team_list():
    s = parse_scenario({"name": "t", "trial": {"team_list": TEAMS},
                        "analysis": {"adjust_for": ["baseline", "deprivation", "patients"]}})
    assert s.analysis.adjust_for == ("baseline", "deprivation", "patients")
    with pytest.raises(ScenarioError) as err:
        parse_scenario({"name": "t", "analysis": {
            "adjust_for": ["baseline", "deprivation"],
            "variants": {"v": {"estimator": "mixed_ancova", "adjust_for": ["ward"]}},
            "estimators": ["v"]}})
    text = "\n".join(err.value.problems)
    assert "analysis.adjust_for[1]: 'deprivation' -- unknown" in text
    assert "analysis.variants.v.adjust_for[0]: 'ward' -- unknown" in text


def test_validate_warns_when_a_planned_analysis_cannot_be_computed(write_yaml, capsys):
    path = write_yaml(
        "name: w\ntrial: {teams: 12, team_types: {cmht: 0.9, recovery: 0.1}}\n"
        "allocation: {method: stratified, strata: [team_type]}\n"
        "analysis: {estimators: [gee_robust, mixed_ancova, crowded],\n"
        "  variants: {crowded: {estimator: cluster_summary,\n"
        "    adjust_for: [baseline, strata, site, patients, staff]}}}\n")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "gee_robust: cannot be computed: 1 stratum/strata hold one team" in out
    assert "mixed_ancova: 1 stratum/strata hold one team" in out
    assert "allocation: 1 stratum/strata of the stratified allocation hold one team" in out
    few = write_yaml("name: f\ntrial: {teams: 4}\nanalysis: {estimators: [crowded], variants: "
                     "{crowded: {estimator: mixed_ancova, adjust_for: [baseline, site, "
                     "patients, staff]}}}\n", name="f.yaml")
    assert main(["validate", str(few)]) == 0
    assert "crowded: cannot be computed: 4 teams leave" in capsys.readouterr().out


def test_run_json_records_the_design_warnings_and_constrained_space(tmp_path, write_yaml):
    import json

    path = write_yaml("name: r\nreplicates: 2\ntrial: {teams: 8}\nallocation: {method: "
                      "constrained}\nanalysis: {estimators: [cluster_summary]}\n")
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet", "--no-plots",
                 "--executor", "serial"]) == 0
    design = json.loads((tmp_path / "o" / "run.json").read_text())["design"]
    space = design["constrained_spaces"][0]
    assert space["n_candidates"] == 70 and space["enumerated"] == 1 and space["n_kept"] >= 7
    assert "pairs_always_together" in space and isinstance(design["warnings"], list)
