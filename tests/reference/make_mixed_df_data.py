"""Write the small seeded data sets on which mixed_df.R computes lmerTest / pbkrtest references.

Run from the repository root:  .venv/bin/python tests/reference/make_mixed_df_data.py
Each data set is one CSV, mixed_df_<name>.csv, with one row per patient (team, arm,
stratum, baseline, y); mixed_df_datasets.csv lists the names and the fixed-effect terms.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 20240611

# name: (team sizes, strata, ICC, terms of the lmer formula after "y ~ arm")
DATASETS = {
    "balanced": ([8] * 12, 1, 0.15, "baseline"),
    "balanced_arm_only": ([6] * 10, 1, 0.3, ""),
    "singletons": ([1, 1, 1, 2, 3, 5, 7, 9, 11, 13, 15, 4, 6, 8, 10, 12], 1, 0.1, "baseline"),
    "strata": ([3, 14, 7, 9, 2, 11, 6, 15, 4, 8, 10, 5, 13, 1, 12, 7, 9, 6, 3, 10], 3, 0.08,
               "baseline + factor(stratum)"),
    "small_high_icc": ([4, 12, 7, 2, 9, 5, 15, 6], 1, 0.5, "baseline"),
    "eighteen_teams": ([20, 3, 14, 8, 1, 11, 17, 6, 9, 12, 2, 15, 7, 10, 5, 13, 4, 16], 2, 0.03,
                       "baseline + factor(stratum)"),
    "boundary": ([6, 9, 4, 11, 7, 5, 8, 10, 3, 12, 6, 9, 7, 8], 1, -0.05, "baseline"),
}


def simulate(rng: np.random.Generator, sizes, strata: int, icc: float) -> np.ndarray:
    """(n, 5) rows team, arm, stratum, baseline, y. A negative ICC makes team means of the
    errors less variable than under independence, so the REML optimum is σ²_b = 0."""
    sizes = np.asarray(sizes)
    k = sizes.size
    team = np.repeat(np.arange(k), sizes)
    arm = rng.permutation(np.arange(k) % 2)
    stratum = (np.arange(k) * 7) % strata
    baseline = rng.normal(40.0, 10.0, team.size)
    e = rng.normal(0.0, 9.0, team.size)
    if icc < 0:
        e -= 0.8 * (np.bincount(team, weights=e) / sizes)[team]
        u = np.zeros(k)
    else:
        u = rng.normal(0.0, 9.0 * np.sqrt(icc / (1.0 - icc)), k)
    y = 25.0 + 2.0 * arm[team] + 0.4 * baseline - 1.5 * stratum[team] + u[team] + e
    return np.column_stack([team, arm[team], stratum[team], baseline, y])


def main() -> None:
    rng = np.random.default_rng(SEED)
    manifest = ["name,terms"]
    for name, (sizes, strata, icc, terms) in DATASETS.items():
        rows = simulate(rng, sizes, strata, icc)
        lines = ["team,arm,stratum,baseline,y"] + [
            f"{int(t)},{int(a)},{int(s)},{float(b)!r},{float(y)!r}" for t, a, s, b, y in rows]
        (HERE / f"mixed_df_{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        manifest.append(f"{name},{terms}")
    (HERE / "mixed_df_datasets.csv").write_text("\n".join(manifest) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
