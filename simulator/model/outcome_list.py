"""Every outcome of a replicate as the analysis sees it (``analysis.records.OutcomeTrial``),
the primary first: "patient:<outcome.name>"."""
from __future__ import annotations

from typing import Callable

import numpy as np

from simulator.analysis.records import ObservedTrial, OutcomeTrial
from simulator.analysis.registry import estimators_for
from simulator.model.outcomes import Outcomes
from simulator.model.staff_outcome import staff_label, staff_outcome_trial
from simulator.model.timeline import TimelineHistory
from simulator.model.world import World
from simulator.scenario.schema import Scenario


def patient_label(name: str) -> str:
    return f"patient:{name}"


def outcome_kinds(scenario: Scenario) -> list[tuple[str, str]]:
    """(label, kind) of every outcome the scenario measures, the primary first; the staff
    outcome (``staff_outcome``) last."""
    kinds = [(patient_label(scenario.outcome.name), "continuous")]
    if scenario.staff_outcome is not None:
        kinds.append((staff_label(scenario.staff_outcome.name), "continuous"))
    return kinds


def outcome_estimators(scenario: Scenario, label: str, kind: str):
    """The planned analyses of one outcome: ``registry.estimators_for`` its kind; the staff
    outcome runs ``staff_outcome.estimators``."""
    staff = scenario.staff_outcome
    own = staff.estimators if staff is not None and label == staff_label(staff.name) else None
    return estimators_for(kind, scenario.analysis, own)


def outcome_trials(scenario: Scenario, world: World, arm: np.ndarray, history: TimelineHistory,
                   outcomes: Outcomes, status: np.ndarray, trial: ObservedTrial, *,
                   rng: Callable[[str], np.random.Generator]) -> tuple[OutcomeTrial, ...]:
    """The primary outcome's trial and truth."""
    primary = OutcomeTrial(patient_label(scenario.outcome.name), "continuous", trial,
                           outcomes.true_itt, outcomes.true_efficacy)
    if scenario.staff_outcome is None:
        return (primary,)
    weights = np.array([c.weight for c in scenario.intervention.strategies])
    staff = staff_outcome_trial(history.staff, arm, scenario.staff_outcome, weights, trial,
                                rng=rng("outcomes/staff"))
    return (primary, staff)
