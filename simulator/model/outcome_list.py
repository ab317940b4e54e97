"""Every outcome of a replicate as the analysis sees it (``analysis.records.OutcomeTrial``),
the primary first ("patient:<outcome.name>"), then ``secondary_outcomes`` in file order.

A binary primary (``outcome.type: binary``) is drawn from the primary's latent components
(``binary_outcome.py``) with no random draws of its own; the continuous score behind it
carries no intervention effect (``latent_intervention``) and only drives MNAR dropout and
the secondaries' copula.
"""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np

from simulator.analysis.records import ObservedTrial, OutcomeTrial
from simulator.model.binary_outcome import binary_parameters, binary_truths, draw_binary_outcome
from simulator.model.outcomes import Outcomes, dose_response
from simulator.model.secondary_outcomes import binary_outcome_trial, secondary_trial
from simulator.model.timeline import TimelineHistory
from simulator.model.world import World
from simulator.scenario.schema import Intervention, Scenario

SECONDARY_STREAM = "secondary_outcomes"


def patient_label(name: str) -> str:
    return f"patient:{name}"


def outcome_kinds(scenario: Scenario) -> list[tuple[str, str]]:
    """(label, kind) of every outcome the scenario measures, the primary first."""
    return [(patient_label(scenario.outcome.name), scenario.outcome.type),
            *((patient_label(o.name), o.type) for o in scenario.secondary_outcomes)]


def latent_intervention(scenario: Scenario) -> Intervention:
    """The intervention acting on the primary's continuous score: none for a binary primary
    (its effect is ``outcome.odds_ratio_at_full_implementation``)."""
    if scenario.outcome.type == "binary":
        return scenario.intervention.model_copy(update={"effect_at_full_implementation": 0.0})
    return scenario.intervention


def outcome_stream(rng: np.random.Generator, name: str) -> np.random.Generator:
    """The stream (r, "secondary_outcomes", name) from the stage's generator (r,
    "secondary_outcomes"): its seed sequence with the name's word appended, as
    ``montecarlo.seeds.stream`` builds a labelled stream (sha256 prefix, little-endian)."""
    seq = rng.bit_generator.seed_seq
    word = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    child = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, word))
    return np.random.Generator(np.random.PCG64(child))


def _primary(scenario: Scenario, trial: ObservedTrial, outcomes: Outcomes, dose, world,
             arm, observed) -> OutcomeTrial:
    o, label = scenario.outcome, patient_label(scenario.outcome.name)
    if o.type != "binary":
        return OutcomeTrial(label, "continuous", trial, outcomes.true_itt, outcomes.true_efficacy)
    par = binary_parameters(o.control_proportion, o.icc, o.odds_ratio_at_full_implementation)
    y = draw_binary_outcome(par, dose, world.patient_team, outcomes.latent.team,
                            outcomes.latent.patient)
    return binary_outcome_trial(label, trial, np.where(observed, y, np.nan),
                                binary_truths(par, dose, arm[world.patient_team]))


def outcome_trials(scenario: Scenario, world: World, arm: np.ndarray, history: TimelineHistory,
                   outcomes: Outcomes, status: np.ndarray, trial: ObservedTrial, *,
                   rng: Callable[[str], np.random.Generator]) -> tuple[OutcomeTrial, ...]:
    """The primary's and every secondary's trial and truth (module docstring)."""
    observed = ~np.isnan(trial.followup)
    iv = scenario.intervention
    dose = dose_response(history.exposure, iv.dose_response, iv.dose_threshold)
    primary = _primary(scenario, trial, outcomes, dose, world, arm, observed)
    if not scenario.secondary_outcomes:
        return (primary,)
    stage = rng(SECONDARY_STREAM)
    return (primary, *(secondary_trial(o, patient_label(o.name), world, arm, dose, observed, trial,
                                       outcomes.latent, outcome_stream(stage, o.name))
                       for o in scenario.secondary_outcomes))
