"""Every outcome of a replicate as the analysis sees it (``analysis.records.OutcomeTrial``),
the primary first: "patient:<outcome.name>"."""
from __future__ import annotations

from typing import Callable

import numpy as np

from simulator.analysis.records import ObservedTrial, OutcomeTrial
from simulator.model.outcomes import Outcomes
from simulator.model.timeline import TimelineHistory
from simulator.model.world import World
from simulator.scenario.schema import Scenario


def patient_label(name: str) -> str:
    return f"patient:{name}"


def outcome_kinds(scenario: Scenario) -> list[tuple[str, str]]:
    """(label, kind) of every outcome the scenario measures, the primary first."""
    return [(patient_label(scenario.outcome.name), "continuous")]


def outcome_trials(scenario: Scenario, world: World, arm: np.ndarray, history: TimelineHistory,
                   outcomes: Outcomes, status: np.ndarray, trial: ObservedTrial, *,
                   rng: Callable[[str], np.random.Generator]) -> tuple[OutcomeTrial, ...]:
    """The primary outcome's trial and truth."""
    primary = OutcomeTrial(patient_label(scenario.outcome.name), "continuous", trial,
                           outcomes.true_itt, outcomes.true_efficacy)
    return (primary,)
