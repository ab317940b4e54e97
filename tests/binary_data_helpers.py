"""Seeded binary-outcome trials for the binary tests: one trial, or a batch of R trials."""
from __future__ import annotations

import numpy as np

from simulator.analysis.binary_data import BinaryTrials
from simulator.analysis.binary_model import (draw_binary, draw_team_effects,
                                             intercept_for_proportion, latent_sd_for_icc)


def simulate_batch(rng: np.random.Generator, R: int, *, teams: int = 12, mean_size: float = 20,
                   cv: float = 0.0, p: float = 0.3, icc: float = 0.05, log_or: float = 0.0,
                   x_effect: float | None = None) -> BinaryTrials:
    """R trials of the random-intercept logistic model; arms 1:1 at random in each trial,
    team sizes max(1, round(Gamma)) with mean ``mean_size`` and CV ``cv`` (exact when 0);
    with ``x_effect``, a standard normal patient covariate x with that log OR."""
    sigma = latent_sd_for_icc(icc, p)
    b0 = intercept_for_proportion(p, sigma)
    sizes = np.full((R, teams), int(mean_size)) if cv == 0 else np.maximum(
        1, np.round(rng.gamma(1.0 / cv**2, mean_size * cv**2, (R, teams)))).astype(int)
    arm = np.argsort(rng.random((R, teams)), axis=1) % 2            # (R, K), half each
    u = draw_team_effects(sigma, (R, teams), rng=rng)
    trial = np.repeat(np.arange(R), sizes.sum(axis=1))
    team = np.concatenate([np.repeat(np.arange(teams), s) for s in sizes])
    eta = b0 + log_or * arm[trial, team] + u[trial, team]
    x = None
    if x_effect is not None:
        x = rng.standard_normal(trial.size)
        eta = eta + x_effect * x
    return BinaryTrials(trial, team, arm, draw_binary(eta, rng=rng), x)


def one_trial(batch: BinaryTrials, r: int) -> BinaryTrials:
    """Trial r of a batch, alone."""
    rows = batch.trial == r
    x = None if batch.x is None else np.asarray(batch.x)[rows]
    return BinaryTrials.single(batch.team[rows], batch.arm[r], batch.y[rows], x)
