"""A chunk's outcomes, dropout and patient status at once: for every replicate the records
``replicate.observe_replicate`` returns, bit for bit.

Each replicate still draws from its own streams, the same draws in the same order as
``model.outcomes.draw_outcomes`` (stream "outcomes": the team follow-up effects v, the patient
terms e, the participation noise) and ``model.dropout.draw_dropout`` (stream "dropout": the
unit exponentials, none when no one can drop out); only the arithmetic around the draws runs
over the chunk's teams and patients laid end to end. Element-wise arithmetic gives each element
the number it has alone, the means come from ``segments`` (numpy's pairwise sums), and λ0 is
``dropout.baseline_rate``'s closed form where every patient of a replicate is at equal risk,
else ``baseline_rate`` itself on the replicate's patients.
"""
from __future__ import annotations

import numpy as np

from simulator.model.dropout import _exposure_months, _linear_predictor, baseline_rate
from simulator.model.fast.batch_world import chunk_shift, stage_streams
from simulator.model.fast.segments import masked_means
from simulator.model.outcome_list import latent_intervention
from simulator.model.outcomes import Latent, Outcomes, dose_response
from simulator.model.fast.batch_participation import chunk_participation
from simulator.model.replicate import (Observed, analysed_team, observed_trial, patient_status)


def _cat(items, name: str) -> np.ndarray:
    return np.concatenate([getattr(x, name) for x in items])


def _cuts(sizes: list[int]) -> list[slice]:
    """Each replicate's slice of an array laid end to end."""
    ends = np.cumsum(sizes).tolist()
    return [slice(e - n, e) for e, n in zip(ends, sizes)]


def _outcome_draws(scenario, worlds, streams, replicates):
    """(v (G,), e (N,), participation noise (G,)): each replicate's draws from its own
    "outcomes" stream, in ``draw_outcomes``' order."""
    o = scenario.outcome
    team_sd, patient_sd = np.sqrt(o.icc) * o.sd, np.sqrt(1.0 - o.icc) * o.sd
    noise_sd = scenario.intervention.measurement_noise_sd
    v, e, noise = [], [], []
    for rng, world in zip(stage_streams(streams, replicates, "outcomes"), worlds):
        v.append(rng.normal(0.0, team_sd, size=world.n_teams))
        e.append(rng.normal(0.0, patient_sd, size=world.patient_team.shape[0]))
        noise.append(rng.normal(0.0, noise_sd, size=world.n_teams))
    return np.concatenate(v), np.concatenate(e), np.concatenate(noise)


def _untreated(scenario, worlds, v, e, own):
    """(y0 (N,), team latent (G,) or None, patient latent (N,)): ``untreated_parts`` (the
    covariates, when there are any, are the team list's, the same in every world)."""
    o = scenario.outcome
    rho, sd = o.icc, o.sd
    c, r = o.cluster_autocorrelation, o.individual_autocorrelation
    team_followup = c * _cat(worlds, "team_effect") + np.sqrt(1.0 - c**2) * v
    shift = chunk_shift(_cat(worlds, "team_type"), worlds[0].team_covariates, o, len(worlds))
    team_mean = o.mean + shift + o.leadership_effect * _cat(worlds, "leadership") + team_followup
    deviation = _cat(worlds, "patient_deviation")
    y0 = team_mean[own] + r * deviation + np.sqrt(1.0 - r**2) * e
    patient = (r * deviation + np.sqrt(1.0 - r**2) * e) / (np.sqrt(1.0 - rho) * sd)
    team = team_followup / (np.sqrt(rho) * sd) if rho > 0 else None
    return y0, team, patient


def chunk_outcomes(scenario, worlds, arms, histories, streams, replicates):
    """Each replicate's ``Outcomes`` (``draw_outcomes``), and the chunk-wide (N,) patient
    arm, follow-up and owner replicate the dropout needs."""
    iv = latent_intervention(scenario)
    k = [w.n_teams for w in worlds]
    n = [w.patient_team.size for w in worlds]
    first = np.repeat(np.cumsum([0] + k[:-1]), n)
    own = _cat(worlds, "patient_team") + first
    rep = np.repeat(np.arange(len(worlds)), n)
    v, e, noise = _outcome_draws(scenario, worlds, streams, replicates)
    y0, team, patient = _untreated(scenario, worlds, v, e, own)
    arm = np.concatenate(arms)
    effect = iv.effect_at_full_implementation * dose_response(
        _cat(histories, "exposure"), iv.dose_response, iv.dose_threshold)
    participation = np.where(arm == 1, np.clip(_cat(histories, "team_dose") + noise, 0.0, 1.0),
                             0.0)
    followup = y0 + effect
    patient_arm = arm[own]
    itt = (masked_means(effect, rep, patient_arm == 1, len(worlds))
           - masked_means(effect, rep, patient_arm == 0, len(worlds))).tolist()
    delta = float(iv.effect_at_full_implementation)
    out = [Outcomes(y0[p], effect[p], followup[p], participation[t], itt[i], delta,
                    Latent(None if team is None else team[t], patient[p]))
           for i, (t, p) in enumerate(zip(_cuts(k), _cuts(n)))]
    return out, patient_arm, followup, rep


def _baseline_rates(target: float, weight: np.ndarray, cuts: list[slice]) -> list[float]:
    """λ0 of each replicate (``dropout.baseline_rate`` on its patients' weights)."""
    if target <= 0:
        return [0.0] * len(cuts)
    starts = np.array([c.start for c in cuts])
    equal = np.minimum.reduceat(weight, starts) == np.maximum.reduceat(weight, starts)
    closed = (-np.log1p(-target) / weight[starts]).tolist()
    return [closed[i] if equal[i] else baseline_rate(target, weight[c])
            for i, c in enumerate(cuts)]


def chunk_dropout(scenario, worlds, histories, patient_arm, followup, rep, streams,
                  replicates) -> np.ndarray:
    """(N,) month of dropout of every patient of the chunk (``draw_dropout``), each
    replicate's unit exponentials from its own "dropout" stream."""
    spec, months, o = scenario.dropout, scenario.trial.months, scenario.outcome
    score = followup if spec.mechanism == "MNAR" else _cat(worlds, "baseline")
    z = (score - o.mean) / o.sd
    kappa = spec.disruption_effect if spec.mechanism == "MAR" else 0.0
    disrupted = _cat(histories, "disrupted_month")
    rel = np.exp(_linear_predictor(spec, z, patient_arm))
    cuts = _cuts([w.patient_team.size for w in worlds])
    lam0 = _baseline_rates(spec.attrition, rel * _exposure_months(months, disrupted, kappa), cuts)
    drawing = [r for r, lam in zip(replicates, lam0) if lam]
    rngs = iter(stage_streams(streams, drawing, "dropout") if drawing else [])
    unit = np.concatenate([next(rngs).exponential(1.0, size=c.stop - c.start)
                           if lam else np.zeros(c.stop - c.start) for c, lam in zip(cuts, lam0)])
    drops = np.array(lam0) != 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        target = unit / (np.array(lam0)[rep] * rel)
        d = np.where(np.isnan(disrupted), months, disrupted)
        when = np.where(target < d, target, d + (target - d) * np.exp(-kappa))
    return np.where(drops[rep] & (when < months), when, np.inf)


def chunk_observe(scenario, bases, histories, streams, replicates) -> list[Observed]:
    """``replicate.observe_replicate`` of every replicate of the chunk; participation ratings,
    where a history has staff records, for the chunk at once (``batch_participation``), each
    replicate's noise from its own stream "outcomes/participation" (a stream of its own, so
    its place in the order changes nothing)."""
    worlds = [w for w, _ in bases]
    arms = [a.arm.astype(int) for _, a in bases]
    outcomes, patient_arm, followup, rep = chunk_outcomes(scenario, worlds, arms, histories,
                                                          streams, replicates)
    dropout = chunk_dropout(scenario, worlds, histories, patient_arm, followup, rep, streams,
                            replicates)
    status = patient_status(dropout, _cat(histories, "lost_month"))
    noise = _noise_streams(scenario, histories, streams, replicates)
    out, ratings = [], chunk_participation(scenario, histories, arms, noise)
    for rated, (world, allocation), history, o, p in zip(
            ratings, bases, histories, outcomes, _cuts([w.patient_team.size for w in worlds])):
        trial = observed_trial(scenario, world, allocation, o, status[p],
                               analysed_team(scenario, world, history),
                               np.full(world.n_teams, np.nan) if rated is None else rated.score)
        out.append(Observed(o, dropout[p], status[p], rated, trial))
    return out


def _noise_streams(scenario, histories, streams, replicates) -> list:
    """Each replicate's stream "outcomes/participation" where its ratings draw noise (staff
    records and a noise SD), made for the chunk at once; None elsewhere (nothing is drawn)."""
    noisy = [r for r, h in zip(replicates, histories) if h.staff is not None]
    if scenario.intervention.measurement_noise_sd <= 0 or not noisy:
        return [None] * len(histories)
    made = dict(zip(noisy, stage_streams(streams, noisy, "outcomes/participation")))
    return [made.get(r) for r in replicates]
