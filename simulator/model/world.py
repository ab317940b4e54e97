"""The trial world at baseline: teams (site, type, size, staff, leadership) and their patients.

Model (DESIGN.md "Model specification"): m_j = max(1, round(Gamma(1/CV², m̄·CV²))), exactly m̄
when CV = 0; staff s_j = max(min, round(N(mean, sd))); leadership L_j ~ N(0, 1);
baseline x_ij = μ + τ_type + u_j + a_ij, u_j ~ N(0, ρσ²), a_ij ~ N(0, (1−ρ)σ²).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from simulator.scenario.counts import category_counts
from simulator.scenario.schema import Outcome, Trial


@dataclass(frozen=True)
class World:
    """Teams j = 0..K-1 and patients i = 0..n-1 at randomisation (month 0)."""

    site: np.ndarray            # (K,) str
    team_type: np.ndarray       # (K,) str
    patients: np.ndarray        # (K,) int, recruited at baseline
    staff: np.ndarray           # (K,) int, establishment (posts), all filled at month 0
    leadership: np.ndarray      # (K,) float, L_j in SD units
    team_effect: np.ndarray     # (K,) float, u_j (baseline team random effect)
    patient_team: np.ndarray    # (n,) int, team at baseline
    patient_deviation: np.ndarray  # (n,) float, a_ij
    baseline: np.ndarray        # (n,) float, x_ij

    @property
    def n_teams(self) -> int:
        return int(self.site.shape[0])

    def covariates(self) -> dict[str, np.ndarray]:
        """Team attributes known at baseline, as allocation and analysis see them."""
        return {"site": self.site, "team_type": self.team_type,
                "patients": self.patients.astype(float), "staff": self.staff.astype(float)}


def _labels(n: int, shares: Mapping[str, float], rng: np.random.Generator) -> np.ndarray:
    counts = category_counts(n, shares)
    labels = np.repeat(np.array(list(counts), dtype=str), list(counts.values()))
    return rng.permutation(labels)


def team_sizes(n_teams: int, mean: float, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Patients recruited per team (Eldridge et al. 2006 gamma size model)."""
    if cv == 0:
        return np.full(n_teams, max(1, int(round(mean))), dtype=int)
    shape = 1.0 / cv**2
    draws = rng.gamma(shape, mean / shape, size=n_teams)
    return np.maximum(1, np.round(draws)).astype(int)


def staff_establishment(n_teams: int, trial: Trial, rng: np.random.Generator) -> np.ndarray:
    spec = trial.staff_per_team
    draws = rng.normal(spec.mean, spec.sd, size=n_teams)
    return np.maximum(spec.min, np.round(draws)).astype(int)


def build_world(trial: Trial, outcome: Outcome, *, rng: np.random.Generator) -> World:
    """Draw one baseline world."""
    k = trial.teams
    site = _labels(k, trial.sites, rng)
    team_type = _labels(k, trial.team_types, rng)
    patients = team_sizes(k, trial.patients_per_team.mean, trial.patients_per_team.cv, rng)
    staff = staff_establishment(k, trial, rng)
    leadership = rng.standard_normal(k)
    var_between = outcome.icc * outcome.sd**2
    team_effect = rng.normal(0.0, np.sqrt(var_between), size=k)
    patient_team = np.repeat(np.arange(k), patients)
    deviation = rng.normal(0.0, np.sqrt(outcome.sd**2 - var_between), size=patient_team.size)
    baseline = outcome.mean + type_effects(team_type, outcome)[patient_team] \
        + team_effect[patient_team] + deviation
    return World(site, team_type, patients, staff, leadership, team_effect,
                 patient_team, deviation, baseline)


def type_effects(team_type: np.ndarray, outcome: Outcome) -> np.ndarray:
    """τ_type for each team (0 for types without an effect)."""
    effects = outcome.team_type_effects
    return np.array([effects.get(t, 0.0) for t in np.asarray(team_type, dtype=str).tolist()],
                    dtype=float)
