"""Plain records exchanged by the analysis stage: what a trial observes, and what an estimator says."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """One estimator's answer for one simulated trial.

    A failed fit is nan everywhere with ``converged=False``; it is never an exception.
    """

    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    converged: bool

    @classmethod
    def failed(cls) -> "Estimate":
        nan = float("nan")
        return cls(nan, nan, nan, nan, nan, nan, False)


@dataclass(frozen=True)
class ObservedTrial:
    """What the trial team could analyse: intention to treat, teams as randomised.

    Patients are indexed i = 0..n-1 and teams j = 0..K-1.

    team:          (n,) int, team each patient was randomised with (kept after any transfer)
    arm:           (K,) int, 1 = intervention, 0 = control
    baseline:      (n,) float, baseline outcome score
    followup:      (n,) float, follow-up score, nan when not observed (dropout, lost)
    strata:        (K,) int, code of the allocation stratum of each team (all 0 if unstratified;
                   the pair of each team after matched-pair randomisation, the odd team out
                   alone in its own code)
    participation: (K,) float, recorded team participation score (measured implementation,
                   0 in control teams)
    covariates:    team-level covariates known at baseline, name -> (K,) array: categorical
                   (str: "site", "team_type", ...) or numeric (float: "patients", "staff", ...)
    strata_terms:  the covariates that adjusting for "strata" means, when the design's
                   restriction is not a stratum code: constrained randomisation's balance
                   covariates; empty: the codes in ``strata``
    paired:        ``strata`` holds matched pairs (the cluster-level analysis compares pairs)
    scheme:        the allocation scheme the trial used (``resample(rng, n)`` -> (n, K) arms,
                   ``enumerate()`` -> (arms, probabilities) or None), for randomisation tests
    """

    team: np.ndarray
    arm: np.ndarray
    baseline: np.ndarray
    followup: np.ndarray
    strata: np.ndarray
    participation: np.ndarray
    covariates: Mapping[str, np.ndarray] = field(default_factory=dict)
    scheme: Any = None
    strata_terms: tuple[str, ...] = ()
    paired: bool = False

    @property
    def n_teams(self) -> int:
        return int(self.arm.shape[0])

    @property
    def observed(self) -> np.ndarray:
        """(n,) bool: follow-up score recorded."""
        return ~np.isnan(self.followup)


@dataclass(frozen=True)
class OutcomeTrial:
    """One outcome of a replicate, as the analysis sees it, with its true values.

    label:   "patient:<name>" for patient outcomes, "staff:<name>" for the staff outcome
    kind:    "continuous" | "binary" | "cost"
    trial:   an ``ObservedTrial`` (continuous, cost), or a ``binary_data.BinaryTrials`` of one
             trial (binary)
    true_itt, true_efficacy: the truth of the outcome's default estimand (the mean difference
             for continuous and cost, in the outcome's units)
    estimand_truths: estimand name -> (ITT, efficacy) truth, for outcomes whose estimators
             target different estimands (binary: risk difference, marginal and conditional
             log odds ratio); an estimand not named here takes (true_itt, true_efficacy)
    """

    label: str
    kind: str
    trial: Any
    true_itt: float
    true_efficacy: float
    estimand_truths: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def truth(self, estimand: str | None = None) -> tuple[float, float]:
        """(ITT, efficacy) truth of ``estimand`` (the default estimand for None)."""
        return self.estimand_truths.get(estimand, (self.true_itt, self.true_efficacy))
