"""The statement's paragraph on uncertain inputs (``priors:``), generated from the scenario.

With priors each simulated trial drew its own values, so the rejection rate over all trials
reported in the statement is the assurance, and the values written in the assumptions are the
point guesses; this paragraph says so and gives each prior with its 90 % range.
"""
from __future__ import annotations

from simulator.scenario.prior_keys import central_range, point_values
from simulator.scenario.priors import describe
from simulator.scenario.schema import Scenario


def prior_sentences(s: Scenario) -> str:
    """One paragraph: every prior (key, distribution, 90 % range, point guess) and what the
    simulated power over all trials then means."""
    points = point_values(s)
    items = []
    for key, prior in s.priors.items():
        lo, hi = central_range(key, prior)
        items.append(f"`{key}` ~ {describe(prior)} (90% between {lo:.3g} and {hi:.3g}; "
                     f"point guess {points[key]:g})")
    return ("The values of " + ", ".join(f"`{k}`" for k in s.priors) + " above are point "
            "guesses. Each simulated trial drew its own values from these priors (`priors`): "
            + "; ".join(items) + ". The rejection rate over all trials is therefore the "
            "assurance, the power averaged over this uncertainty (summary.csv `assurance`); "
            "`crtsim power` gives the closed-form power at the point guesses and the "
            "closed-form assurance.")
