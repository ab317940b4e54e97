"""Each replicate's draw from the priors: its own stream, so results stay independent of
workers, chunking and the order replicates are run in.

Replicate r draws one uniform number for the prior on key k from its own stream
``SeedSequence(seed, spawn_key=(r, "priors", word(k)))`` (``seeds.stream`` with the key as
label), and takes that prior's quantile there (``scenario.priors.quantile``; bounded and
rounded by ``scenario.prior_keys``).  A key's draws therefore depend on nothing but the seed,
the replicate and the key: reordering the section, or adding or removing another prior, leaves
them as they were (common random numbers between scenarios with more or fewer priors).  The
replicate is then simulated under the validated scenario with those values and no priors, from
the same world, allocation and timeline streams it would use without priors.  A scenario
without priors draws nothing: its replicates are exactly those of a run without this module.
"""
from __future__ import annotations

import numpy as np

from simulator.montecarlo.seeds import stream
from simulator.scenario.prior_keys import values_at, with_values
from simulator.scenario.schema import Scenario

SMALLEST = 2.0**-54   # Generator.random() is in [0, 1); a quantile needs u > 0


def prior_columns(scenario: Scenario) -> list[str]:
    """The replicates.csv columns of the drawn values, ``prior.<dotted key>`` (none without
    priors)."""
    return [f"prior.{key}" for key in scenario.priors]


def uniform(rng: np.random.Generator) -> float:
    """A uniform number in (0, 1)."""
    return max(float(rng.random()), SMALLEST)


def prior_values(scenario: Scenario, replicate: int) -> dict[str, float]:
    """Replicate r's values of the keys with a prior ({} without priors)."""
    if not scenario.priors:
        return {}
    u = [uniform(stream(scenario.seed, replicate, "priors", key)) for key in scenario.priors]
    return values_at(scenario, np.array([u]))[0]


def replicate_scenario(scenario: Scenario, replicate: int) -> Scenario:
    """The scenario replicate r is simulated under: the scenario itself without priors, else
    the validated copy with replicate r's drawn values."""
    if not scenario.priors:
        return scenario
    return with_values(scenario, prior_values(scenario, replicate))
