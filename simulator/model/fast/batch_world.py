"""A chunk's baseline worlds at once: for every replicate the ``World`` that
``model.world.build_world`` draws from its "world" stream, bit for bit.

Each replicate makes the same draws in the same order as ``build_world`` (sites and types
permuted, team sizes, staff, leadership — each only where no team list gives it — the team
effects, then one deviation per patient); the rounding of sizes and staff, the patients'
teams and the baseline scores are computed over the chunk's teams and patients laid end to
end (element by element, so each number is the one it has alone). Then each replicate's
allocation from its own "allocation" stream (``replicate.draw_baseline``'s second step).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from simulator.model.replicate import allocation_settings
from simulator.allocation import Allocation, SimpleScheme, allocate, intervention_count
from simulator.allocation.covariates import check_covariates
from simulator.allocation.schemes import check_count
from simulator.model.world import World, type_effects
from simulator.scenario.counts import category_counts


def stage_streams(streams, replicates: Sequence[int], stage: str, label: str | None = None
                  ) -> list[np.random.Generator]:
    """Each replicate's stream of ``stage``: ``streams.many`` where the seed tree makes a
    chunk's at once (``montecarlo.seed_batch``), else one by one (the same generators)."""
    many = getattr(streams, "many", None)
    if many is not None:
        return many(replicates, stage, label)
    return [streams(r, stage, label) if label else streams(r, stage) for r in replicates]


def _labels(n: int, shares) -> np.ndarray:
    """The labels ``world._labels`` permutes (before the permutation)."""
    counts = category_counts(n, shares)
    return np.repeat(np.array(list(counts), dtype=str), list(counts.values()))


def _plan(trial, outcome) -> dict:
    """What every replicate's world shares: the listed columns (None where drawn), the labels
    to permute, fixed team sizes (CV 0) or the gamma's shape and scale, the SDs."""
    k, t, sizes = trial.teams, trial.team_table, trial.patients_per_team
    listed = (lambda name: getattr(t, name) if t is not None else None)
    plan = {name: listed(name) for name in ("site", "team_type", "staff", "leadership")}
    plan["labels"] = {"site": _labels(k, trial.sites), "team_type": _labels(k, trial.team_types)}
    expected = listed("patients") if listed("patients") is not None else sizes.mean
    plan["sizes"] = np.broadcast_to(expected, (k,)) if sizes.cv == 0 else None
    if sizes.cv != 0:
        shape = 1.0 / sizes.cv**2
        plan["gamma"] = (shape, np.asarray(expected, dtype=float) / shape)
    plan["team_sd"] = np.sqrt(outcome.icc * outcome.sd**2)
    return plan


def _team_draws(trial, plan: dict, rng) -> dict:
    """One replicate's team-level draws, in ``build_world``'s order (listed columns as they
    are; staff not yet rounded)."""
    k, spec = trial.teams, trial.staff_per_team
    out = dict(plan)
    for name in ("site", "team_type"):
        if plan[name] is None:
            out[name] = rng.permutation(plan["labels"][name])
    out["patients"] = plan["sizes"] if plan["sizes"] is not None \
        else rng.gamma(*plan["gamma"], size=k)
    if plan["staff"] is None:
        out["staff"] = rng.normal(spec.mean, spec.sd, size=k)
    if plan["leadership"] is None:
        out["leadership"] = rng.standard_normal(k)
    out["team_effect"] = rng.normal(0.0, plan["team_sd"], size=k)
    return out


def chunk_shift(team_type: np.ndarray, covariates, outcome, replicates: int) -> np.ndarray:
    """(R·K,) ``world.prognostic_effects`` of each replicate's teams laid end to end (the
    covariates are the team list's, the same in every replicate)."""
    shift = type_effects(team_type, outcome)
    for name, beta in outcome.covariate_effects.items():
        values = np.asarray(covariates[name], dtype=float)
        shift = shift + np.tile(beta * (values - values.mean()), replicates)
    return shift


def chunk_worlds(trial, outcome, rngs: Sequence[np.random.Generator]) -> list[World]:
    """The world of each replicate, ``rngs`` their "world" streams (``build_world``)."""
    k, table, r = trial.teams, trial.team_table, len(rngs)
    plan = _plan(trial, outcome)
    draws = [_team_draws(trial, plan, rng) for rng in rngs]
    cat = (lambda name: np.concatenate([d[name] for d in draws]))
    patients = np.maximum(1, np.round(cat("patients"))).astype(int)
    staff = cat("staff") if plan["staff"] is not None else np.maximum(
        trial.staff_per_team.min, np.round(cat("staff"))).astype(int)
    counts = patients.reshape(r, k).sum(axis=1).tolist()
    sd = np.sqrt(outcome.sd**2 - outcome.icc * outcome.sd**2)
    deviation = np.concatenate([rng.normal(0.0, sd, size=n) for rng, n in zip(rngs, counts)])
    local = np.repeat(np.tile(np.arange(k), r), patients)          # (N,) team within replicate
    chunk_team = local + np.repeat(np.arange(r) * k, counts)        # (N,) team within chunk
    covariates = table.complete_covariates() if table is not None else {}
    types, effect = cat("team_type"), cat("team_effect")
    shift = chunk_shift(types, covariates, outcome, r)
    baseline = outcome.mean + shift[chunk_team] + effect[chunk_team] + deviation
    ends = np.cumsum(counts).tolist()
    names = table.names if table is not None else None
    out = []
    for i, d in enumerate(draws):
        t, p = slice(i * k, (i + 1) * k), slice(ends[i] - counts[i], ends[i])
        out.append(World(d["site"], d["team_type"], patients[t], staff[t], d["leadership"],
                         d["team_effect"], local[p], deviation[p], baseline[p], names=names,
                         team_covariates=dict(covariates)))
    return out


def chunk_baselines(scenario, replicates: Sequence[int], streams, timed) -> list[tuple]:
    """(world, allocation) of each replicate (``replicate.draw_baseline``)."""
    with timed("world"):
        worlds = chunk_worlds(scenario.trial, scenario.outcome,
                              stage_streams(streams, replicates, "world"))
    settings = allocation_settings(scenario)
    n_int = intervention_count(scenario.trial.teams, scenario.trial.intervention_share)
    with timed("allocation"):
        rngs = stage_streams(streams, replicates, "allocation")
        if settings.method == "simple" and worlds:
            allocations = simple_allocations(settings, worlds, n_int, rngs)
        else:
            allocations = [allocate(settings, w.covariates(), n_int, rng=rng)
                           for w, rng in zip(worlds, rngs)]
    return list(zip(worlds, allocations))


def simple_allocations(settings, worlds, n_int: int, rngs) -> list[Allocation]:
    """``allocate`` for complete randomisation, the chunk at once: each replicate's K uniform
    keys from its own stream (``space.random_subsets``), the n smallest of each row to the
    intervention (a set that does not depend on the rows beside it). The covariates are
    checked on the first world: every world of a chunk has the same columns, and their values
    (sizes, staff, a team list's) are finite by construction."""
    k = worlds[0].n_teams
    check_covariates(worlds[0].covariates(), (*settings.strata, *settings.balance_on))
    check_count(k, n_int)
    keys = np.concatenate([rng.random((1, k)) for rng in rngs])        # (R, K)
    smallest = np.argpartition(keys, n_int - 1, axis=1)[:, :n_int]
    arms = np.zeros(keys.shape, dtype=np.int8)
    arms[np.arange(len(rngs))[:, None], smallest] = 1
    out = []
    for arm in arms:
        scheme = SimpleScheme(k, n_int, settings.max_enumerate)
        out.append(Allocation(arm=arm, scheme=scheme, info=scheme.describe(arm)))
    return out
