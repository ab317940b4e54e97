"""One seeded, unbalanced random-intercept data set, shared by the estimator tests."""
import numpy as np


def simulate_clustered(seed, *, teams, mean_size=15.0, icc, strata=1, singletons=0, cv,
                       baseline_team_sd=0.0):
    """y, X = [1, arm, baseline, stratum dummies], groups. Team sizes gamma with ``cv``; the
    first ``singletons`` teams have one patient; baseline optionally clustered too."""
    rng = np.random.default_rng(seed)
    sizes = np.maximum(1, np.round(rng.gamma(1 / cv**2, mean_size * cv**2, teams))).astype(int)
    sizes[:singletons] = 1
    groups = np.repeat(np.arange(teams), sizes)
    n = groups.size
    arm = rng.permutation(np.arange(teams) % 2)
    stratum = np.arange(teams) % strata
    baseline = rng.normal(40.0, 10.0, n)
    if baseline_team_sd:
        baseline = baseline + rng.normal(0.0, baseline_team_sd, teams)[groups]
    u = rng.normal(0.0, 10.0 * np.sqrt(icc), teams)
    y = (20.0 + 2.0 * arm[groups] + 0.5 * baseline - 1.5 * stratum[groups] + u[groups]
         + rng.normal(0.0, 10.0 * np.sqrt(1.0 - icc), n))
    dummies = (stratum[groups][:, None] == np.arange(1, strata)[None, :]).astype(float)
    return y, np.column_stack([np.ones(n), arm[groups], baseline, dummies]), groups
