"""The fast engine's chunk-at-once worlds and allocations (``model/fast/batch_world.py``)
against the per-replicate reference ``model.replicate.draw_baseline``: every array the same,
with its dtype, bit for bit, each replicate drawing from its own streams."""
from __future__ import annotations

import numpy as np
import pytest

from simulator.model.fast.batch_world import chunk_baselines
from simulator.model.replicate import _untimed, draw_baseline
from simulator.montecarlo.engine import _streams
from simulator.scenario.files import design_points, load_scenario, parse_scenario

from conftest import SCENARIOS
from test_fast_engine import DYNAMIC

FIELDS = ("site", "team_type", "patients", "staff", "leadership", "team_effect", "patient_team",
          "patient_deviation", "baseline", "names")


def _equal(a, b) -> bool:
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and np.array_equal(a, b)


def _check(scenario, replicates=range(3, 15)):
    streams = _streams(scenario)
    for r, (world, allocation) in zip(replicates, chunk_baselines(scenario, replicates, streams,
                                                                  _untimed)):
        want, want_allocation = draw_baseline(scenario, lambda stage: streams(r, stage))
        assert all(_equal(getattr(world, f), getattr(want, f)) for f in FIELDS), \
            [f for f in FIELDS if not _equal(getattr(world, f), getattr(want, f))]
        assert list(world.team_covariates) == list(want.team_covariates)
        assert all(_equal(world.team_covariates[k], v) for k, v in want.team_covariates.items())
        assert _equal(allocation.arm, want_allocation.arm)
        assert allocation.info == want_allocation.info
        assert type(allocation.scheme) is type(want_allocation.scheme)
        assert not _simple(allocation) or vars(allocation.scheme) == vars(want_allocation.scheme)


@pytest.mark.parametrize("name", ["refocus_real_teams.yaml", "constrained_prognostic.yaml",
                                  "allocation_comparison.yaml", "reconfiguration.yaml"])
def test_chunk_worlds_equal_each_replicates(name):
    for point in design_points(load_scenario(SCENARIOS / name))[:3]:
        _check(point.scenario)


@pytest.mark.parametrize("trial", [{}, {"patients_per_team": {"mean": 9, "cv": 0.0}},
                                   {"staff_per_team": {"mean": 6, "sd": 3, "min": 2}}])
def test_chunk_worlds_equal_each_replicates_drawn_teams(trial):
    raw = {**DYNAMIC, "trial": {**DYNAMIC["trial"], **trial},
           "outcome": {"team_type_effects": {"cmht": 1.5}, "icc": 0.1}}
    _check(parse_scenario(raw))


def _simple(allocation) -> bool:
    """Simple schemes hold only numbers (the others hold arrays, compared by their arms)."""
    return allocation.scheme.name == "simple"
