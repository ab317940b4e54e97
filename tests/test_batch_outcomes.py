"""The fast engine's chunk-at-once outcomes, dropout and status (``model/fast/batch_outcomes.py``)
against the per-replicate reference ``model.replicate.observe_replicate``: every array and
truth the same, bit for bit, each replicate drawing from its own streams."""
from __future__ import annotations

import numpy as np
import pytest

from simulator.model.fast.batch_outcomes import chunk_observe
from simulator.model.fast.chunk import FAST_TIMELINE
from simulator.model.fast.history import replicate_history
from simulator.model.fast.timeline import chunk_timeline, draw_timeline
from simulator.model.replicate import draw_baseline, observe_replicate
from simulator.montecarlo.engine import _streams
from simulator.scenario.files import design_points, load_scenario, parse_scenario

from conftest import SCENARIOS
from test_fast_engine import DYNAMIC


def _histories(scenario, replicates, streams):
    bases = [draw_baseline(scenario, lambda stage, r=r: streams(r, stage)) for r in replicates]
    rngs = [streams(r, *FAST_TIMELINE) for r in replicates]
    draws = [draw_timeline(w, a.arm.astype(int), scenario, g) for (w, a), g in zip(bases, rngs)]
    chunk = chunk_timeline(draws, [w for w, _ in bases], scenario, rngs)
    teams = np.cumsum([0] + [w.n_teams for w, _ in bases])
    patients = np.cumsum([0] + [w.patient_team.size for w, _ in bases])
    return bases, [replicate_history(chunk, slice(teams[i], teams[i + 1]),
                                     slice(patients[i], patients[i + 1]), draws[i],
                                     scenario.trial.months) for i in range(len(bases))]


def _equal(a, b) -> bool:
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def _check(scenario, replicates=range(15)):
    streams = _streams(scenario)
    bases, histories = _histories(scenario, replicates, streams)
    batched = chunk_observe(scenario, bases, histories, streams, replicates)
    for r, (world, allocation), history, got in zip(replicates, bases, histories, batched):
        want = observe_replicate(scenario, world, allocation, history,
                                 lambda stage: streams(r, stage))
        o, w = got.outcomes, want.outcomes
        for name in ("untreated", "effect", "followup", "participation"):
            assert _equal(getattr(o, name), getattr(w, name)), name
        assert (o.true_itt, o.true_efficacy) == (w.true_itt, w.true_efficacy)
        assert type(o.true_itt) is type(w.true_itt)
        assert _equal(o.latent.team, w.latent.team) and _equal(o.latent.patient, w.latent.patient)
        assert _equal(got.dropout_month, want.dropout_month) and _equal(got.status, want.status)
        assert (got.rated is None) == (want.rated is None)
        if got.rated is not None:   # the ratings, from the stream "outcomes/participation"
            for name in ("rating", "counts", "score", "pooled"):
                assert _equal(getattr(got.rated, name), getattr(want.rated, name)), name
        for name in ("team", "arm", "baseline", "followup", "strata", "participation"):
            assert _equal(getattr(got.trial, name), getattr(want.trial, name)), name


@pytest.mark.parametrize("name", ["dropout_mechanisms.yaml", "reconfiguration.yaml",
                                  "refocus_real_teams.yaml", "constrained_prognostic.yaml",
                                  "implementation_analysis.yaml", "refocus.yaml"])
def test_chunk_outcomes_equal_each_replicates(name):
    for point in design_points(load_scenario(SCENARIOS / name))[:3]:
        _check(point.scenario)


@pytest.mark.parametrize("update", [{}, {"dropout": {"mechanism": "MNAR", "strength": 0.7}},
                                    {"dropout": {"attrition": 0.0}},
                                    {"outcome": {"icc": 0.0, "leadership_effect": 1.5},
                                     "intervention": {"dose_response": "threshold",
                                                      "dose_threshold": 0.4}}])
def test_chunk_outcomes_equal_each_replicates_with_disruption_mnar_and_no_dropout(update):
    raw = {**DYNAMIC, **{k: {**DYNAMIC.get(k, {}), **v} for k, v in update.items()}}
    _check(parse_scenario(raw))
