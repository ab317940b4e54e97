"""Team merges (issue 14, item 1): Corrigan et al. 2014's deterministic cluster-size variance,
pooled rosters, exposure that follows each patient's team, analysis by final cluster, disbanding
confined to a site, and the invariants with merges, moves and disbanding together."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from simulator.montecarlo.engine import draw_replicate
from simulator.model.timeline import run_timeline
from simulator.model.world import build_world
from simulator.scenario.files import ScenarioError, parse_scenario

from test_staff_moves import check_staff


def _corrigan(per_arm, seed=2014):
    """Corrigan et al. 2014 (Trials 15:184) Table 1: 80 clusters of 20, merges within arm."""
    return parse_scenario({
        "name": "corrigan", "seed": seed,
        "trial": {"teams": 80, "sites": {"all": 1.0}, "patients_per_team": {"mean": 20, "cv": 0}},
        "reconfiguration": {"merges": {"scheduled": [{"month": 6, "pairs": 2 * per_arm}],
                                       "within": "arm"}},
        "dropout": {"attrition": 0.0}})


@pytest.mark.parametrize("per_arm, variance", [(1, 10.12), (2, 20.21), (5, 49.69), (10, 90.40)])
def test_scheduled_within_arm_merges_give_corrigans_cluster_size_variance(per_arm, variance):
    """Equal clusters, m disjoint merges per arm: 80 − 2m clusters, 2m of 40 and 80 − 4m of 20.
    Table 1's figures are the sample variance (divisor n − 1) over both arms together: for one
    merge per arm, 78 clusters, (2·40² + 76·20² − 1600²/78)/77 = 10.12 (the population
    variance gives 9.99, the variance within one arm of 39 clusters 10.26)."""
    for r in range(3):   # deterministic: the same whichever teams merge
        rep = draw_replicate(_corrigan(per_arm), r)
        d, h = rep.diagnostics, rep.history
        assert round(d["final_cluster_size_var"], 2) == variance
        merged = np.flatnonzero(h.merged_into >= 0)
        assert d["teams_merged"] == 2 * per_arm
        assert np.bincount(rep.arm[merged], minlength=2).tolist() == [per_arm, per_arm]
        assert np.all(rep.arm[h.merged_into[merged]] == rep.arm[merged])
        assert np.all(h.merged_into[h.merged_into[merged]] == -1)   # disjoint pairs
        assert np.all(h.merge_month[merged] == 6.0)


def _full_fidelity(within, **extra):
    return parse_scenario({
        "name": "pool", "trial": {"teams": 6, "sites": {"one": 1.0},
                                  "staff_per_team": {"mean": 8, "sd": 3, "min": 2}},
        "intervention": {"attendance": 1.0, "session_months": [0], "sessions_to_train": 1},
        "staff_turnover": {"annual_rate": 0.0},
        "reconfiguration": {"merges": {"scheduled": [{"month": 6, "pairs": 1}], "within": within}},
        "dropout": {"attrition": 0.0}, **extra})


def test_pooled_roster_keeps_training_and_exposure_follows_each_patient_team():
    """No turnover, everyone in intervention teams trained at month 0: after team b merges into
    team a at month m the pooled fidelity is the trained share of s_a + s_b staff, and each
    patient's exposure is their own team's fidelity until m and the pooled one after."""
    seen_across = False
    for r in range(12):
        rep = draw_replicate(_full_fidelity("site"), r)
        h, w, arm = rep.history, rep.world, rep.arm
        (b,) = np.flatnonzero(h.merged_into >= 0)
        a, m, T = h.merged_into[b], h.merge_month[b], rep.history.months
        pooled = (w.staff[a] * arm[a] + w.staff[b] * arm[b]) / (w.staff[a] + w.staff[b])
        assert h.fidelity_at_followup[a] == pytest.approx(pooled, rel=1e-12)
        assert h.paths[a].in_post[-1] == w.staff[a] + w.staff[b] and h.paths[b].in_post[-1] == 0
        for team in (a, b):
            mine = w.patient_team == team
            expect = (arm[team] * m + pooled * (T - m)) / T
            assert np.allclose(h.exposure[mine], expect, rtol=1e-12)
            assert np.all(h.final_team[mine] == a)
        seen_across |= arm[a] != arm[b]
        if arm[a] != arm[b]:
            assert rep.diagnostics["mean_exposure_ctl"] > 0 and rep.diagnostics["contamination"] > 0
    assert seen_across


def test_within_arm_merges_never_cross_arms_and_keep_control_unexposed():
    for r in range(6):
        rep = draw_replicate(_full_fidelity("arm"), r)
        (b,) = np.flatnonzero(rep.history.merged_into >= 0)
        assert rep.arm[rep.history.merged_into[b]] == rep.arm[b]
        assert rep.diagnostics["mean_exposure_ctl"] == 0.0 and rep.diagnostics["contamination"] == 0.0


def test_analysis_by_final_cluster_uses_the_merged_team_and_by_default_the_randomised_one():
    by_final = _corrigan(5).model_copy(update={"analysis": _corrigan(5).analysis.model_copy(
        update={"cluster": "final"})})
    rand, final = draw_replicate(_corrigan(5), 0), draw_replicate(by_final, 0)
    assert np.array_equal(rand.trial.team, rand.world.patient_team)
    assert np.array_equal(final.trial.team, final.history.final_team)
    assert np.unique(final.trial.team).size == 70 and np.unique(rand.trial.team).size == 80
    assert rand.outcomes.true_itt == final.outcomes.true_itt   # the estimand stays ITT


def test_scheduled_disbanding_can_be_confined_to_one_site():
    s = parse_scenario({"name": "x", "trial": {"teams": 20},
                        "reconfiguration": {"scheduled": [{"month": 3, "teams": 3, "site": "trust_b"}]}})
    for r in range(5):
        rep = draw_replicate(s, r)
        gone = ~np.isnan(rep.history.disband_month)
        assert gone.sum() == 3 and np.all(rep.world.site[gone] == "trust_b")


@pytest.mark.parametrize("reconfiguration, message", [
    ({"merges": {"scheduled": [{"month": 12, "pairs": 1}]}}, r"merges.scheduled\[0\].month: 12.0 -- not before"),
    ({"merges": {"scheduled": [{"month": 2, "pairs": 27}]}}, r"merges.scheduled: 27 -- 27 merges could leave"),
    ({"merges": {"scheduled": [{"month": 2, "site": "nowhere"}]}}, r"scheduled\[0\].site: 'nowhere' -- not a site"),
    ({"scheduled": [{"month": 2, "site": "nowhere"}]}, r"reconfiguration.scheduled\[0\].site: 'nowhere'"),
    ({"merges": {"within": "trust"}}, r"merges.within"),
])
def test_merge_keys_are_checked(reconfiguration, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario({"name": "x", "reconfiguration": reconfiguration})


def check_membership(world, h):
    """Every patient is in exactly one team at a time: each move leaves the patient's current
    team as it disbands or merges, into a team still running then."""
    ended = np.fmin(h.disband_month, h.merge_month)   # nan-aware: the month a team stopped
    current = world.patient_team.copy()
    for month, i, origin, to in h.moves:
        assert current[i] == origin and ended[origin] == month
        if to >= 0:
            assert to != origin and not ended[to] <= month - 1e-12
            assert np.isnan(ended[to]) or ended[to] >= month
        current[i] = to
    assert np.array_equal(current, h.final_team)
    alive = np.isnan(ended)
    assert np.all(alive[h.final_team[h.final_team >= 0]])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), teams=st.integers(6, 16), rate=st.floats(0, 2),
       merge_rate=st.floats(0, 2), pairs=st.integers(0, 2), share=st.sampled_from([0.0, 0.4, 1.0]),
       within=st.sampled_from(["arm", "site"]), disband=st.floats(0, 1),
       vacancy=st.sampled_from([0.0, 2.0]))
def test_invariants_hold_with_merges_moves_and_disbanding(seed, teams, rate, merge_rate, pairs,
                                                         share, within, disband, vacancy):
    s = parse_scenario({"name": "t", "trial": {"teams": teams, "staff_per_team": {"mean": 5, "min": 1},
                                               "patients_per_team": {"mean": 4}},
                        "staff_turnover": {"annual_rate": rate, "vacancy_months": vacancy,
                                           "move_share": share},
                        "intervention": {"session_months": [0, 2, 5], "sessions_to_train": 2},
                        "reconfiguration": {"disband_rate_per_team_year": disband, "merges": {
                            "rate_per_team_year": merge_rate, "within": within,
                            "scheduled": [{"month": 5, "pairs": pairs}] if pairs else []}}})
    rng = np.random.default_rng(seed)
    world = build_world(s.trial, s.outcome, rng=rng)
    arm = (np.arange(world.n_teams) % 2).astype(int)
    h = run_timeline(world, arm, s, rng=rng)
    months = [e.month for e in h.events]
    assert months == sorted(months) and all(0 <= m < s.trial.months for m in months)
    check_membership(world, h)
    check_staff(world, h)
    assert np.all((h.exposure >= 0) & (h.exposure <= 1))
    assert np.all((h.team_dose >= 0) & (h.team_dose <= 1 + 1e-12))
    assert world.staff.sum() == h.staff_flow["posts"][np.isnan(h.disband_month)
                                                     & (h.merged_into < 0)].sum() + \
        h.staff_flow["posts"][~np.isnan(h.disband_month)].sum()   # posts pool, never vanish
    if within == "arm":
        merged = np.flatnonzero(h.merged_into >= 0)
        assert np.all(arm[h.merged_into[merged]] == arm[merged])


def test_a_sweep_over_merge_schedules_runs_with_plots_and_report(tmp_path, write_yaml):
    """A list-valued swept key (reconfiguration.merges.scheduled) labels plots, the statement
    and the report, in the run and when the report is rebuilt from the files."""
    from simulator.cli import main

    path = write_yaml("""name: merge_sweep
trial: {teams: 12, patients_per_team: {mean: 6}}
analysis: {estimators: [cluster_means]}
sweep:
  reconfiguration.merges.scheduled: [[{month: 3, pairs: 2}], [{month: 3, pairs: 4}]]
""")
    out = tmp_path / "out"
    assert main(["run", str(path), "--replicates", "4", "--out", str(out), "--quiet",
                 "--executor", "serial"]) == 0
    assert (out / "power_curve.png").exists() and (out / "report.html").exists()
    assert main(["report", str(out)]) == 0
    assert "pairs" in (out / "report.html").read_text(encoding="utf-8")
