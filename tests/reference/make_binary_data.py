"""Write the seeded binary-outcome data sets on which binary.R computes lme4 / geepack / t-test
references (tests/test_binary_reference.py).

Run from the repository root:  .venv/bin/python tests/reference/make_binary_data.py
Each data set is one CSV, binary_<name>.csv, one row per patient: team, arm, x (patient
covariate, standard normal), z (team-level 0/1 covariate), y (0/1). binary_datasets.csv lists
the names and the terms after ``y ~ arm`` that every method adjusts for.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.analysis.binary_model import (draw_binary, draw_team_effects,
                                             intercept_for_proportion, latent_sd_for_icc)

HERE = Path(__file__).resolve().parent
SEED = 20250115

# name: (teams, mean size, CV of sizes, control proportion, ICC (proportion scale),
#        conditional log OR, x effect, z effect, terms)
DATASETS = {
    "k12_m20": (12, 20, 0.0, 0.3, 0.05, 0.0, 0.0, 0.0, ""),
    "k12_m20_x": (12, 20, 0.3, 0.3, 0.05, 0.4, 0.6, 0.0, "x"),
    "k20_unequal_x": (20, 15, 0.6, 0.2, 0.10, 0.5, 0.5, 0.0, "x"),
    "k8_m30_high_icc": (8, 30, 0.2, 0.4, 0.20, 0.7, 0.0, 0.0, ""),
    "k30_m10": (30, 10, 0.4, 0.15, 0.05, 0.3, 0.0, 0.0, ""),
    "k16_team_covariate": (16, 25, 0.3, 0.5, 0.10, -0.4, 0.5, 0.6, "x + z"),
    "k10_icc30": (10, 15, 0.3, 0.3, 0.30, 0.5, 0.3, 0.0, "x"),
    "k24_small_teams": (24, 5, 0.8, 0.35, 0.08, 0.2, 0.4, 0.0, "x"),
    "k14_m40_rare": (14, 40, 0.3, 0.1, 0.03, 0.6, 0.0, 0.0, ""),
    "k12_common_x": (12, 20, 0.4, 0.7, 0.08, -0.5, 0.8, 0.0, "x"),
    "k18_team_covariate": (18, 18, 0.5, 0.25, 0.15, 0.4, 0.3, -0.5, "x + z"),
}


def simulate(rng: np.random.Generator, teams, mean, cv, p, icc, log_or, bx, bz) -> np.ndarray:
    """(n, 5) rows team, arm, x, z, y from the random-intercept logistic model."""
    sizes = np.full(teams, mean) if cv == 0 else np.maximum(
        1, np.round(rng.gamma(1.0 / cv**2, mean * cv**2, teams))).astype(int)
    team = np.repeat(np.arange(teams), sizes)
    arm = rng.permutation(np.arange(teams) % 2)
    z = rng.permutation(np.arange(teams) % 2)
    sigma = latent_sd_for_icc(icc, p)
    u = draw_team_effects(sigma, teams, rng=rng)
    x = rng.standard_normal(team.size)
    eta = intercept_for_proportion(p, sigma) + log_or * arm[team] + bx * x + bz * z[team] + u[team]
    y = draw_binary(eta, rng=rng)
    return np.column_stack([team, arm[team], x, z[team], y])


def main() -> None:
    rng = np.random.default_rng(SEED)
    rows = ["name,terms"]
    for name, (*params, terms) in DATASETS.items():
        data = simulate(rng, *params)
        np.savetxt(HERE / f"binary_{name}.csv", data, delimiter=",", header="team,arm,x,z,y",
                   comments="", fmt=["%d", "%d", "%.17g", "%d", "%d"])
        rows.append(f"{name},{terms}")
    (HERE / "binary_datasets.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
