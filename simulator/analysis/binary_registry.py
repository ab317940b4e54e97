"""The binary estimators as the engine runs them: batches of one-trial ``BinaryTrials``
(one design point, so the same K), each naming the estimand it targets
(``model/binary_outcome.py`` computes their true values).

  cluster_summary: team proportions, two-sample t with K − 2 df    -> risk difference
  gee_robust:      exchangeable logit GEE, corrected sandwich, t K − 2 -> marginal log OR
  glmm:            random-intercept logistic by AGQ, between-within df -> conditional log OR

No covariates are adjusted for (the binary outcome has no baseline score). The cluster-level
test is fitted across the chunk at once (each trial's answer bit-for-bit its own); GEE and
GLMM trial by trial (``trial_by_trial``).
"""
from __future__ import annotations

from dataclasses import fields
from typing import Callable, Sequence

import numpy as np

from .binary_cluster import cluster_summary_binary
from .binary_data import BinaryTrials, EstimateArrays
from .binary_gee import gee_binary
from .binary_glmm import glmm_binary

ESTIMAND = {"cluster_summary": "risk_difference", "gee_robust": "marginal_log_or",
            "glmm": "conditional_log_or"}
GLMM_NODES = 10   # adaptive Gauss–Hermite nodes (lme4's nAGQ)


def concatenate(trials: Sequence[BinaryTrials]) -> BinaryTrials:
    """One batch from one-trial records with the same number of teams."""
    sizes = [np.asarray(t.y).size for t in trials]
    trial = np.repeat(np.arange(len(trials)), sizes)
    return BinaryTrials(trial, np.concatenate([np.asarray(t.team, np.intp) for t in trials]),
                        np.concatenate([np.asarray(t.arm) for t in trials]),
                        np.concatenate([np.asarray(t.y, float) for t in trials]))


def cluster_batch(trials: Sequence[BinaryTrials], options) -> EstimateArrays:
    return cluster_summary_binary(concatenate(trials), alpha=options.alpha)


def trial_by_trial(fit: Callable[[BinaryTrials], EstimateArrays],
                   trials: Sequence[BinaryTrials]) -> EstimateArrays:
    """``fit`` on each trial alone, stacked. The batched GEE and GLMM agree with their
    one-trial fits only to ~1e-12 (their iterations see the batch), so the engine fits them
    trial by trial: a replicate's numbers then never depend on its chunk."""
    parts = [fit(t) for t in trials]
    return EstimateArrays(*(np.concatenate([getattr(p, f.name) for p in parts])
                            for f in fields(EstimateArrays)))


def gee_batch(trials: Sequence[BinaryTrials], options) -> EstimateArrays:
    return trial_by_trial(lambda t: gee_binary(t, alpha=options.alpha,
                                               correction=options.gee_correction), trials)


def glmm_batch(trials: Sequence[BinaryTrials], options) -> EstimateArrays:
    return trial_by_trial(lambda t: glmm_binary(t, alpha=options.alpha, n_agq=GLMM_NODES), trials)


BATCHES = {"cluster_summary": cluster_batch, "gee_robust": gee_batch, "glmm": glmm_batch}
