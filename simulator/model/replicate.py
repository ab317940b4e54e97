"""One simulated trial, stage by stage: world → allocation → timeline → outcomes → dropout.

This is the only module that knows every stage (STYLE.md principle 1). ``draw_replicate`` is the
DeclareDesign ``draw_data``: rebuild any replicate alone for inspection.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np

from simulator.allocation import (Allocation, AllocationSettings, allocate, balance_diagnostics,
                         intervention_count, strata_codes)
from simulator.analysis.records import ObservedTrial, OutcomeTrial
from simulator.model.dropout import draw_dropout
from simulator.model.flow_counts import ANALYSED, DROPPED, FLOW_COUNTS, LOST, arm_flow_counts
from simulator.model.outcomes import Outcomes, draw_outcomes
from simulator.model.participation import Participation, measure_participation
from simulator.model.outcome_list import latent_intervention, outcome_trials
from simulator.scenario.schema import Scenario
from simulator.scenario.team_checks import used_columns
from simulator.model.timeline import Event, TimelineHistory, run_timeline
from simulator.model.world import World, build_world



@dataclass(frozen=True)
class Replicate:
    world: World
    allocation: Allocation
    history: TimelineHistory
    outcomes: Outcomes
    dropout_month: np.ndarray   # (n,) inf if none before follow-up
    status: np.ndarray          # (n,) "analysed" | "dropout" | "lost"
    trial: ObservedTrial        # what the analysis may see
    diagnostics: dict
    outcome_trials: tuple[OutcomeTrial, ...] = ()   # every outcome, the primary first
    participation: Participation | None = None   # ratings and the stayers-only team score

    @property
    def arm(self) -> np.ndarray:
        return self.allocation.arm

    def events(self) -> list[Event]:
        """The timeline's event log with dropout events merged in, in time order."""
        dropped = np.flatnonzero(self.status == DROPPED)
        h = self.history
        moved_before = (h.disrupted_month <= self.dropout_month) & (h.final_team >= 0)
        team_then = np.where(moved_before, h.final_team, self.world.patient_team)
        extra = [Event(float(self.dropout_month[i]), "dropout", int(team_then[i]), int(i), -1)
                 for i in dropped]
        return sorted(list(self.history.events) + extra, key=lambda e: e.month)


def allocation_settings(scenario: Scenario) -> AllocationSettings:
    a = scenario.allocation
    return AllocationSettings(method=a.method, strata=tuple(a.strata), balance_on=tuple(a.balance_on),
                              constrained_fraction=a.constrained_fraction,
                              max_enumerate=a.max_enumerate,
                              minimisation_probability=a.minimisation_probability,
                              balance_metric=a.balance_metric)


def patient_status(dropout_month: np.ndarray, lost_month: np.ndarray) -> np.ndarray:
    lost = ~np.isnan(lost_month) & ~(dropout_month < np.nan_to_num(lost_month, nan=np.inf))
    dropped = np.isfinite(dropout_month) & ~lost
    return np.where(lost, LOST, np.where(dropped, DROPPED, ANALYSED))


def _standardised_driver(scenario: Scenario, world: World, outcomes: Outcomes) -> np.ndarray:
    score = outcomes.followup if scenario.dropout.mechanism == "MNAR" else world.baseline
    return (score - scenario.outcome.mean) / scenario.outcome.sd


def design_restriction(scenario, world, allocation) -> tuple[np.ndarray, tuple[str, ...], bool]:
    """What "strata" means in the analysis (issue 12): (stratum codes, covariates standing
    for the strata, paired). Stratified and minimisation: the strata factors' combinations;
    matched pairs: the pairs of the draw (the odd team out in a code of its own), paired;
    constrained: the balance covariates; simple: none."""
    a, k = scenario.allocation, world.n_teams
    if a.method in ("stratified", "minimisation"):
        return strata_codes(world.covariates(), tuple(a.strata)), (), False
    if a.method == "matched_pairs":
        labels = allocation.scheme.pair_labels(allocation.arm)
        return np.where(labels >= 0, labels, k).astype(np.int64), (), True
    terms = tuple(a.balance_on) if a.method == "constrained" else ()
    return np.zeros(k, dtype=int), terms, False


def analysed_team(scenario, world, history) -> np.ndarray:
    """(n,) team index of each patient in the analysis: as randomised (ITT, the default), or
    with ``analysis.cluster: final`` the team at follow-up (after merges and transfers; patients
    lost with a disbanded team keep their own, as they are not observed). The arm is the
    team's: a patient merged across arms is analysed in the receiving team's arm."""
    if scenario.analysis.cluster == "randomised":
        return world.patient_team
    return np.where(history.final_team >= 0, history.final_team, world.patient_team)


def observed_trial(scenario, world, allocation, outcomes, status, team=None,
                   participation=None) -> ObservedTrial:
    """What the analysis sees; ``participation`` (K,) the recorded score (default: the
    outcomes' true dose plus noise)."""
    strata, strata_terms, paired = design_restriction(scenario, world, allocation)
    followup = np.where(status == ANALYSED, outcomes.followup, np.nan)
    return ObservedTrial(team=world.patient_team if team is None else team,
                         arm=allocation.arm.astype(int),
                         baseline=world.baseline, followup=followup, strata=strata,
                         participation=outcomes.participation if participation is None
                         else participation, covariates=world.covariates(),
                         scheme=allocation.scheme, strata_terms=strata_terms, paired=paired)


def _count(flags: np.ndarray) -> int:
    """True entries: the same int as ``int(flags.sum())``, without a ufunc reduction."""
    return int(np.count_nonzero(flags))


def diagnostics(world, allocation, history, status, outcomes, used=frozenset()) -> dict:
    # Contamination as count / size: the same IEEE division as bool .mean().
    arm = allocation.arm
    analysed = status == ANALYSED
    has_analysed = np.bincount(world.patient_team[analysed], minlength=world.n_teams) > 0
    final = history.final_team
    moved = final >= 0
    crossed = moved & (arm[np.maximum(final, 0)] != arm[world.patient_team])
    disbanded = ~np.isnan(history.disband_month)
    surviving_int = (arm == 1) & ~disbanded & ~(history.merged_into >= 0)
    count = _count
    out = {
        "teams_analysed_int": count(has_analysed & (arm == 1)),
        "teams_analysed_ctl": count(has_analysed & (arm == 0)),
        "patients_randomised": int(status.size),
        "patients_analysed": count(analysed),
        "patients_dropout": count(status == DROPPED),
        "patients_lost": count(status == LOST),
        "teams_disbanded": count(disbanded),
        "staff_turnover": float(history.staff_departures.sum() / world.staff.sum()),
        "mean_fidelity_int": float(history.fidelity_at_followup[surviving_int].mean())
        if surviving_int.any() else float("nan"),
        "contamination": count(crossed) / crossed.size if crossed.size else float(crossed.mean()),
    }
    out.update(balance_diagnostics(balance_covariates(world, used), arm))
    out.update(arm_flow_counts(world, arm, history, status))
    out.update(services_diagnostics(world, arm, history))
    return out


def balance_covariates(world: World, used: frozenset[str]) -> dict[str, np.ndarray]:
    """Site, type, patients, staff and the team covariates the scenario uses: the columns
    whose chance imbalance the diagnostics report."""
    return {k: v for k, v in world.covariates().items()
            if k in ("site", "team_type", "patients", "staff") or k in used}


def services_diagnostics(world, arm, history) -> dict:
    """Services that change (issue 14): fidelity at follow-up of the control teams still
    running, mean exposure of the patients randomised to control, staff moves, teams merged
    into another, and the sample variance (n − 1) of the number of patients per team at
    follow-up, over the teams holding any (Corrigan et al. 2014's cluster-size variance)."""
    running_ctl = (arm == 0) & np.isnan(history.disband_month) & (history.merged_into < 0)
    control_patients = arm[world.patient_team] == 0
    held = history.final_team[history.final_team >= 0]
    sizes = np.bincount(held, minlength=world.n_teams)
    sizes = sizes[sizes > 0]
    return {
        "mean_fidelity_ctl": float(history.fidelity_at_followup[running_ctl].mean())
        if running_ctl.any() else float("nan"),
        "mean_exposure_ctl": float(history.exposure[control_patients].mean())
        if control_patients.any() else float("nan"),
        "staff_moves": int(history.staff_flow["moved_out"].sum()),
        "teams_merged": int(np.count_nonzero(history.merged_into >= 0)),
        "final_cluster_size_var": float(np.var(sizes, ddof=1)) if sizes.size > 1 else float("nan"),
    }


class StageClock:
    """Accumulates wall seconds per stage (for ``make bench``); a no-op when not given."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        yield
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


@contextmanager
def _untimed(stage: str):
    yield


Streams = Callable[[str], np.random.Generator]   # stage name -> that stage's Generator


def simulate_replicate(scenario: Scenario, rng: Streams, *,
                       clock: StageClock | None = None) -> Replicate:
    """One simulated trial of ``scenario``, each stage drawing from ``rng(stage)`` (the Monte
    Carlo engine hands in replicate r's seed streams: ``montecarlo.engine.draw_replicate``)."""
    timed = clock or _untimed
    world, allocation = draw_baseline(scenario, rng, timed)
    with timed("timeline"):
        history = run_timeline(world, allocation.arm.astype(int), scenario, rng=rng("timeline"),
                               who=rng("timeline/staff"))
    return finish_replicate(scenario, world, allocation, history, rng, timed)


def draw_baseline(scenario: Scenario, rng: Streams, timed=_untimed) -> tuple[World, Allocation]:
    """The world and its allocation (stages "world" and "allocation"); both engines share it."""
    with timed("world"):
        world = build_world(scenario.trial, scenario.outcome, rng=rng("world"))
    with timed("allocation"):
        n_int = intervention_count(world.n_teams, scenario.trial.intervention_share)
        allocation = allocate(allocation_settings(scenario), world.covariates(), n_int,
                              rng=rng("allocation"))
    return world, allocation


def finish_replicate(scenario: Scenario, world: World, allocation: Allocation,
                     history: TimelineHistory, rng: Streams, timed=_untimed) -> Replicate:
    """Outcomes, dropout, what the trial observes and the diagnostics, after either engine's
    timeline (stages "outcomes" and "dropout")."""
    seen = observe_replicate(scenario, world, allocation, history, rng, timed)
    with timed("diagnostics"):
        diag = diagnostics(world, allocation, history, seen.status, seen.outcomes,
                           used_columns(scenario))
    return complete_replicate(scenario, world, allocation, history, seen, diag, rng, timed)


@dataclass(frozen=True)
class Observed:
    """A replicate's outcomes, dropout, status, ratings and observed trial (before the
    diagnostics and the secondary outcomes)."""
    outcomes: Outcomes
    dropout_month: np.ndarray
    status: np.ndarray
    rated: Participation | None
    trial: ObservedTrial


def observe_replicate(scenario: Scenario, world: World, allocation: Allocation,
                      history: TimelineHistory, rng: Streams, timed=_untimed) -> Observed:
    """Outcomes, dropout, participation ratings and the observed trial (streams "outcomes",
    "dropout", "outcomes/participation")."""
    arm = allocation.arm.astype(int)
    with timed("outcomes"):
        outcomes = draw_outcomes(world, arm, history.exposure, history.team_dose,
                                 scenario.outcome, latent_intervention(scenario),
                                 rng=rng("outcomes"))
        dropout_month = draw_dropout(scenario.dropout, scenario.trial.months,
                                     _standardised_driver(scenario, world, outcomes),
                                     arm[world.patient_team], history.disrupted_month,
                                     rng=rng("dropout"))
        status = patient_status(dropout_month, history.lost_month)
        iv = scenario.intervention
        # without staff records there are no ratings (no score, no score-based analysis)
        rated = None if history.staff is None else measure_participation(
            history.staff, arm, iv.rating_weights(), iv.measurement_noise_sd,
            rng=rng("outcomes/participation"))
        score = np.full(world.n_teams, np.nan) if rated is None else rated.score
        trial = observed_trial(scenario, world, allocation, outcomes, status,
                               analysed_team(scenario, world, history), score)
    return Observed(outcomes, dropout_month, status, rated, trial)


def complete_replicate(scenario: Scenario, world: World, allocation: Allocation,
                       history: TimelineHistory, seen: Observed, diag: dict, rng: Streams,
                       timed=_untimed) -> Replicate:
    """The replicate record: ``diag`` (``diagnostics``) with the score diagnostics added, and
    every outcome (stream "secondary_outcomes")."""
    arm = allocation.arm.astype(int)
    with timed("diagnostics"):
        diag.update(score_diagnostics(seen.rated, arm))
    with timed("secondary_outcomes"):
        every = outcome_trials(scenario, world, arm, history, seen.outcomes, seen.status,
                               seen.trial, rng=rng)
    return Replicate(world, allocation, history, seen.outcomes, seen.dropout_month,
                     seen.status, seen.trial, diag, every, seen.rated)


def score_diagnostics(rated: Participation | None, arm: np.ndarray) -> dict:
    """Intervention teams without a participation score (no stayers), and the mean number of
    stayers the intervention teams' scores pool (none without staff records: their columns
    are then empty)."""
    if rated is None:
        return {}
    return {"teams_without_score": rated.without_score(arm),
            "staff_pooled_int": float(rated.pooled[arm == 1].mean()) if (arm == 1).any()
            else float("nan")}
