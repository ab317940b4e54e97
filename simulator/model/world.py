"""The trial world at baseline: teams (site, type, size, staff, leadership) and their patients.

Model (DESIGN.md "Model specification"): m_j = max(1, round(Gamma(1/CV², m̄·CV²))), exactly m̄
when CV = 0; staff s_j = max(min, round(N(mean, sd))); leadership L_j ~ N(0, 1);
baseline x_ij = μ + τ_type + β·(c_j − c̄) + u_j + a_ij, u_j ~ N(0, ρσ²), a_ij ~ N(0, (1−ρ)σ²),
β the ``outcome.covariate_effects`` of numeric team covariates c (centred at their mean over
the listed teams; no term without them).

With a team list (``trial.teams_file`` / ``trial.team_list``) the teams, their names, sites,
types and covariates are the list's in every replicate; patients recruited vary around each
team's listed ``patients`` by the CV (m_j = max(1, round(Gamma(1/CV², p_j·CV²))), exactly p_j at
CV 0); a standard column the list lacks is drawn as without a list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
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
    names: np.ndarray | None = None   # (K,) str team names (a team list's; else "0".."K-1")
    team_covariates: Mapping[str, np.ndarray] = field(default_factory=dict)  # list covariates

    @property
    def n_teams(self) -> int:
        return int(self.site.shape[0])

    @property
    def team_names(self) -> np.ndarray:
        """(K,) str: the listed names, or the team numbers as text."""
        return self.names if self.names is not None else np.arange(self.n_teams).astype(str)

    def covariates(self) -> dict[str, np.ndarray]:
        """Team attributes known at baseline, as allocation and analysis see them."""
        return {"site": self.site, "team_type": self.team_type,
                "patients": self.patients.astype(float), "staff": self.staff.astype(float),
                **self.team_covariates}


def _labels(n: int, shares: Mapping[str, float], rng: np.random.Generator) -> np.ndarray:
    counts = category_counts(n, shares)
    labels = np.repeat(np.array(list(counts), dtype=str), list(counts.values()))
    return rng.permutation(labels)


def team_sizes(n_teams: int, mean, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Patients recruited per team (Eldridge et al. 2006 gamma size model); ``mean`` is one
    number or each team's own (K,) expected size."""
    if cv == 0:
        return np.maximum(1, np.round(np.broadcast_to(mean, (n_teams,)))).astype(int)
    shape = 1.0 / cv**2
    draws = rng.gamma(shape, np.asarray(mean, dtype=float) / shape, size=n_teams)
    return np.maximum(1, np.round(draws)).astype(int)


def staff_establishment(n_teams: int, trial: Trial, rng: np.random.Generator) -> np.ndarray:
    spec = trial.staff_per_team
    draws = rng.normal(spec.mean, spec.sd, size=n_teams)
    return np.maximum(spec.min, np.round(draws)).astype(int)


def _teams(trial: Trial, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Sites, types, patients, staff and leadership: listed where the team list has them,
    drawn otherwise (in this order, so a world without a list draws as it always has)."""
    k, t, sizes = trial.teams, trial.team_table, trial.patients_per_team
    listed = (lambda name: getattr(t, name) if t is not None else None)
    site = listed("site") if listed("site") is not None else _labels(k, trial.sites, rng)
    team_type = listed("team_type") if listed("team_type") is not None \
        else _labels(k, trial.team_types, rng)
    expected = listed("patients") if listed("patients") is not None else sizes.mean
    patients = team_sizes(k, expected, sizes.cv, rng)
    staff = listed("staff") if listed("staff") is not None else staff_establishment(k, trial, rng)
    leadership = listed("leadership") if listed("leadership") is not None \
        else rng.standard_normal(k)
    return site, team_type, patients, staff, leadership


def build_world(trial: Trial, outcome: Outcome, *, rng: np.random.Generator) -> World:
    """Draw one baseline world (of the listed teams, when the trial has a team list)."""
    k, table = trial.teams, trial.team_table
    site, team_type, patients, staff, leadership = _teams(trial, rng)
    covariates = table.complete_covariates() if table is not None else {}
    var_between = outcome.icc * outcome.sd**2
    team_effect = rng.normal(0.0, np.sqrt(var_between), size=k)
    patient_team = np.repeat(np.arange(k), patients)
    deviation = rng.normal(0.0, np.sqrt(outcome.sd**2 - var_between), size=patient_team.size)
    baseline = outcome.mean + prognostic_effects(team_type, covariates, outcome)[patient_team] \
        + team_effect[patient_team] + deviation
    return World(site, team_type, patients, staff, leadership, team_effect,
                 patient_team, deviation, baseline,
                 names=table.names if table is not None else None, team_covariates=covariates)


def type_effects(team_type: np.ndarray, outcome: Outcome) -> np.ndarray:
    """τ_type for each team (0 for types without an effect)."""
    effects = outcome.team_type_effects
    return np.array([effects.get(t, 0.0) for t in np.asarray(team_type, dtype=str).tolist()],
                    dtype=float)


def prognostic_effects(team_type: np.ndarray, covariates: Mapping[str, np.ndarray],
                       outcome: Outcome) -> np.ndarray:
    """(K,) τ_type + Σ β_c (c_j − mean c): the team-level outcome shift of stable team
    characteristics, at baseline and follow-up (just τ_type without covariate effects)."""
    shift = type_effects(team_type, outcome)
    for name, beta in outcome.covariate_effects.items():
        values = np.asarray(covariates[name], dtype=float)
        shift = shift + beta * (values - values.mean())
    return shift
