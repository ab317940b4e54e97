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
from simulator.analysis.registry import estimators_for
from simulator.model.binary_outcome import binary_parameters, binary_truths, draw_binary_outcome
from simulator.model.outcomes import Outcomes, dose_response
from simulator.model.secondary_outcomes import binary_outcome_trial, secondary_trial
from simulator.model.staff_outcome import staff_label, staff_outcome_trial
from simulator.model.timeline import TimelineHistory
from simulator.model.world import World
from simulator.scenario.schema import Intervention, Scenario

SECONDARY_STREAM = "secondary_outcomes"


def patient_label(name: str) -> str:
    return f"patient:{name}"


def outcome_kinds(scenario: Scenario) -> list[tuple[str, str]]:
    """(label, kind) of every outcome the scenario measures, the primary first, then the
    secondary outcomes; the staff outcome (``staff_outcome``) last."""
    kinds = [(patient_label(scenario.outcome.name), scenario.outcome.type),
             *((patient_label(o.name), o.type) for o in scenario.secondary_outcomes)]
    if scenario.staff_outcome is not None:
        kinds.append((staff_label(scenario.staff_outcome.name), "continuous"))
    return kinds


def outcome_estimators(scenario: Scenario, label: str, kind: str):
    """The planned analyses of one outcome (``registry.estimators_for`` its kind, as the
    primary or a secondary); the staff outcome runs ``staff_outcome.estimators``."""
    staff = scenario.staff_outcome
    own = staff.estimators if staff is not None and label == staff_label(staff.name) else None
    primary_label, primary_kind = outcome_kinds(scenario)[0]
    return estimators_for(kind, scenario.analysis, estimators=own,
                          primary_kind=None if label == primary_label else primary_kind)


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
    """The primary's, every secondary's and the staff outcome's trial and truth (module
    docstring)."""
    observed = ~np.isnan(trial.followup)
    iv = scenario.intervention
    dose = dose_response(history.exposure, iv.dose_response, iv.dose_threshold)
    out = [_primary(scenario, trial, outcomes, dose, world, arm, observed)]
    if scenario.secondary_outcomes:
        stage = rng(SECONDARY_STREAM)
        out += [secondary_trial(o, patient_label(o.name), world, arm, dose, observed, trial,
                                outcomes.latent, outcome_stream(stage, o.name))
                for o in scenario.secondary_outcomes]
    if scenario.staff_outcome is not None:
        weights = np.array([c.weight for c in scenario.intervention.strategies])
        out.append(staff_outcome_trial(history.staff, arm, scenario.staff_outcome, weights, trial,
                                       rng=rng("outcomes/staff")))
    return tuple(out)
