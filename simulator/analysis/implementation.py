"""Analyses that use the recorded implementation (team participation) score.

``implementation_split`` is REFOCUS's post-hoc analysis (high-implementing intervention teams
against control). It compares teams selected on a post-randomisation variable, so it is not a
randomised comparison: whatever drives implementation (leadership, stability) and also the
outcome confounds it, and it estimates neither the ITT effect nor the efficacy.

``cace_iv`` uses randomisation as an instrument for implementation (Angrist, Imbens & Rubin
1996, JASA 91:444; for cluster trials, a team-level 2SLS), which keeps the comparison
randomised and targets the efficacy (the effect of full implementation) under stated
assumptions.
"""
from __future__ import annotations

import numpy as np

from simulator.analysis.cluster import stage_one
from simulator.analysis.inference import t_estimate
from simulator.analysis.mixed import mixed_ancova
from simulator.analysis.records import Estimate, ObservedTrial

_WEAK = 1e-8  # |difference in mean participation| below this: no first stage, no estimate


def analysed_teams(trial: ObservedTrial) -> np.ndarray:
    """(K,) bool: teams with at least one complete case (follow-up and baseline recorded)."""
    keep = trial.observed & np.isfinite(trial.baseline)
    return np.bincount(trial.team[keep], minlength=trial.n_teams) > 0


def high_implementers(trial: ObservedTrial) -> np.ndarray:
    """(K,) bool: analysed intervention teams whose participation is strictly above the median
    participation of the analysed intervention teams (finite scores).

    Tie rule: teams at the median are not "high" (with an odd count the middle team is
    never high; ties at the median can make the high group smaller than half).
    """
    eligible = analysed_teams(trial) & (trial.arm == 1) & np.isfinite(trial.participation)
    if not eligible.any():
        return eligible
    median = np.median(trial.participation[eligible])
    return eligible & (trial.participation > median)


def subtrial(trial: ObservedTrial, teams: np.ndarray) -> ObservedTrial:
    """The trial restricted to the teams where ``teams`` (K,) bool is True, re-indexed
    0..K'-1 in the original order; no allocation scheme (the subset was not randomised)."""
    code = np.cumsum(teams) - 1
    patients = teams[trial.team]
    return ObservedTrial(team=code[trial.team[patients]], arm=trial.arm[teams],
                         baseline=trial.baseline[patients], followup=trial.followup[patients],
                         strata=trial.strata[teams], participation=trial.participation[teams],
                         covariates={k: np.asarray(v)[teams] for k, v in trial.covariates.items()},
                         scheme=None, strata_terms=trial.strata_terms)


def implementation_split(trial: ObservedTrial, *, alpha: float = 0.05,
                         adjust_for_strata: bool = True, df_method: str = "between_within",
                         adjust_for=None) -> Estimate:
    """High-implementing intervention teams against control (REFOCUS secondary analysis).

    Intervention teams are split at the median recorded participation (``high_implementers``:
    strictly above the median is high); the "low" teams are dropped and ``mixed_ancova`` is
    run on control + high teams. Its estimand is E[effect | high] plus any difference in
    prognosis between high implementers and controls: biased for both ITT and efficacy when
    implementation shares causes with the outcome. Failure gives ``Estimate.failed()``.
    """
    keep = (trial.arm == 0) | high_implementers(trial)
    if not (keep & (trial.arm == 1)).any():
        return Estimate.failed()
    return mixed_ancova(subtrial(trial, keep), alpha=alpha, adjust_for_strata=adjust_for_strata,
                        df_method=df_method, adjust_for=adjust_for)


def participation_high_low(trial: ObservedTrial, *, alpha: float = 0.05,
                           adjust_for_strata: bool = False, df_method: str = "between_within",
                           adjust_for=None) -> Estimate:
    """High against low implementation within the intervention arm: REFOCUS's comparison of
    its staff outcome (Slade et al. 2015: staff in high-participation teams reported more
    recovery-promoting behaviour). Intervention teams with a score are split at the median
    (``high_implementers``); ``mixed_ancova`` compares high (as "arm" 1) with low teams. Not a
    randomised comparison: confounded by whatever drives both participation and outcome."""
    high = high_implementers(trial)
    keep = (trial.arm == 1) & analysed_teams(trial) & np.isfinite(trial.participation)
    if not (high & keep).any() or not (keep & ~high).any():
        return Estimate.failed()
    sub = subtrial(trial, keep)
    split = ObservedTrial(team=sub.team, arm=high[keep].astype(int), baseline=sub.baseline,
                          followup=sub.followup, strata=sub.strata,
                          participation=sub.participation, covariates=sub.covariates,
                          strata_terms=sub.strata_terms)
    return mixed_ancova(split, alpha=alpha, adjust_for_strata=adjust_for_strata,
                        df_method=df_method, adjust_for=adjust_for)


def wald_2sls(r: np.ndarray, dose: np.ndarray, z: np.ndarray, alpha: float,
              df_lost: int = 0) -> Estimate:
    """Team-level 2SLS of r on dose with the binary instrument z (one row per team).

    δ̂ = (r̄₁ − r̄₀) / (d̄₁ − d̄₀), the Wald ratio. SE by the standard 2SLS formula,
    σ̂ / (|d̄₁ − d̄₀| √(n₁n₀/K)) with σ̂² = Σ e_j² / (K − 2) from the structural residuals
    e_j = r_j − â − δ̂ dose_j (actual, not fitted, dose); it equals the delta-method SE of the
    ratio with the pooled within-arm variance of r − δ̂ dose. t with K − 2 − df_lost df.
    """
    n1, n0 = int((z == 1).sum()), int((z == 0).sum())
    df = n1 + n0 - 2 - df_lost
    if n1 < 1 or n0 < 1 or df < 1:
        return Estimate.failed()
    d_dose = dose[z == 1].mean() - dose[z == 0].mean()
    if not abs(d_dose) > _WEAK:
        return Estimate.failed()
    delta = (r[z == 1].mean() - r[z == 0].mean()) / d_dose
    e = r - delta * dose
    e = e - e.mean()  # = r − â − δ̂ dose with â = r̄ − δ̂ d̄
    sigma2 = float(e @ e) / (n1 + n0 - 2)
    se = np.sqrt(sigma2 / (n1 * n0 / (n1 + n0))) / abs(d_dose)
    return t_estimate(float(delta), float(se), df, alpha)


def cace_iv(trial: ObservedTrial, *, alpha: float = 0.05,
            adjust_for_strata: bool = True) -> Estimate:
    """Efficacy (effect of full implementation) by instrumental variables: randomised arm as
    the instrument for the recorded team participation (Angrist, Imbens & Rubin 1996).

    Stage 1: OLS of y on [1, baseline, stratum dummies] over all complete cases, arm ignored
    (``cluster.stage_one``, as ``cluster_summary``); r_j = team mean residual. Then ``wald_2sls`` of r_j on
    participation_j with arm_j as instrument, over analysed teams with a score (a team whose
    score is nan, having no stayers to pool, is left out); df = K − 2 − (strata − 1).

    Assumptions: (1) exclusion restriction — the arm changes the outcome only through the
    implementation the score measures; (2) linear dose-response — effect δ·P_j, so δ is the
    effect of full implementation (P = 1); (3) control teams receive none (participation 0:
    one-sided noncompliance); (4) randomisation makes the arm independent of the team's
    prognosis. Leadership that drives both implementation and outcome does not bias it: it is
    balanced between arms by randomisation. Classical measurement error in participation
    (recorded = true + noise independent of the arm) does not bias the Wald ratio either: the
    noise averages out of the arm difference in mean participation (the instrument is
    independent of it), unlike in a regression of outcome on recorded participation, where it
    attenuates the slope. It widens the SE.
    """
    with np.errstate(all="ignore"):
        a, means, n_dummies = stage_one([trial], ("baseline", "strata") if adjust_for_strata
                                        else ("baseline",))
    if a.team.size == 0:
        return Estimate.failed()
    dose = trial.participation[a.team].astype(float)
    scored = np.isfinite(dose)   # a team without a score (no stayers) is left out
    return wald_2sls(means[scored, 0], dose[scored], trial.arm[a.team][scored], alpha,
                     int(n_dummies[0]))
