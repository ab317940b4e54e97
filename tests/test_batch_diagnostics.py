"""The fast engine's chunk-at-once diagnostics (``model/fast/batch_diagnostics.py``) against
the per-replicate reference ``model.replicate.diagnostics``: the same keys, value types and
numbers, bit for bit, on the fast engine's replicates and on SimPy replicates with merges and
staff moves."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from simulator.model.fast import simulate_chunk, uncovered
from simulator.model.fast.batch_diagnostics import chunk_diagnostics
from simulator.model.fast.segments import masked_means, segment_starts, segment_sums
from simulator.montecarlo.engine import _streams, draw_replicate
from simulator.scenario.files import design_points, load_scenario, parse_scenario
from simulator.scenario.team_checks import used_columns

from conftest import SCENARIOS
from test_fast_engine import DYNAMIC

SCORE_KEYS = ("teams_without_score", "staff_pooled_int")   # added per replicate after


def _identical(a, b) -> bool:
    if type(a) is not type(b):
        return False
    return (math.isnan(a) and math.isnan(b)) if isinstance(a, float) and math.isnan(a) else a == b


def _check(scenario, replicates) -> None:
    got = chunk_diagnostics([r.world for r in replicates],
                            [r.allocation.arm.astype(int) for r in replicates],
                            [r.history for r in replicates], [r.status for r in replicates],
                            used_columns(scenario))
    for rep, batched in zip(replicates, got):
        want = {k: v for k, v in rep.diagnostics.items() if k not in SCORE_KEYS}
        assert list(batched) == list(want)
        assert all(_identical(batched[k], want[k]) for k in want), \
            [(k, want[k], batched[k]) for k in want if not _identical(batched[k], want[k])]


@pytest.mark.parametrize("name", ["reconfiguration.yaml", "dropout_mechanisms.yaml",
                                  "refocus_real_teams.yaml", "constrained_prognostic.yaml"])
def test_batched_diagnostics_equal_each_replicates_on_the_fast_engine(name):
    for point in design_points(load_scenario(SCENARIOS / name))[:2]:
        if not uncovered(point.scenario):
            s = point.scenario
            _check(s, simulate_chunk(s, range(12), _streams(s)))


def test_batched_diagnostics_equal_each_replicates_with_disbanding_and_unequal_teams():
    s = parse_scenario(DYNAMIC)
    _check(s, simulate_chunk(s, range(25), _streams(s)))


@pytest.mark.parametrize("name", ["merges.yaml", "staff_moves.yaml"])
def test_batched_diagnostics_equal_each_replicates_with_merges_and_moves(name):
    s = design_points(load_scenario(SCENARIOS / name))[0].scenario
    _check(s, [draw_replicate(s, r) for r in range(4)])


@settings(deadline=None, max_examples=40)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=12), st.integers(0, 2**31))
def test_segment_sums_and_means_are_numpys_sums_and_means(lengths, seed):
    rng = np.random.default_rng(seed)
    lengths = np.array(lengths)
    values = rng.standard_normal(lengths.sum()) * 10.0 ** rng.uniform(-4, 4, lengths.sum())
    starts = segment_starts(lengths)
    sums = segment_sums(values, starts, lengths)
    assert sums.tolist() == [values[a:a + n].sum() for a, n in zip(starts, lengths)]
    segment = np.repeat(np.arange(lengths.size), lengths)
    keep = rng.random(values.size) < 0.5
    means = masked_means(values, segment, keep, lengths.size)
    for s in range(lengths.size):
        picked = values[segment == s][keep[segment == s]]
        assert (np.isnan(means[s]) if picked.size == 0 else means[s] == picked.mean())
