"""A chunk's streams made at once (``montecarlo/seed_batch.py``) are ``seeds.stream``'s
generators: the same PCG64 state, draws, seed sequence attributes and spawned children."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from simulator.montecarlo.seed_batch import ReplicateStreams
from simulator.montecarlo.seeds import COMPONENTS, stream


@settings(deadline=None, max_examples=60)
@given(st.integers(0, 2**80), st.lists(st.integers(0, 2**40), min_size=1, max_size=8),
       st.sampled_from(COMPONENTS), st.sampled_from([None, "fast", "mixed_ancova"]))
def test_chunk_streams_are_seeds_streams(seed, replicates, stage, label):
    for r, got in zip(replicates, ReplicateStreams(seed).many(replicates, stage, label)):
        want = stream(seed, r, stage, label)
        assert got.bit_generator.state == want.bit_generator.state
        assert np.array_equal(got.random(3), want.random(3))
        g, w = got.bit_generator.seed_seq, want.bit_generator.seed_seq
        assert (g.entropy, tuple(g.spawn_key), g.pool_size) == (w.entropy, tuple(w.spawn_key),
                                                                 w.pool_size)
        assert np.array_equal(got.spawn(2)[1].random(3), want.spawn(2)[1].random(3))


def test_an_empty_chunk_has_no_streams():
    assert ReplicateStreams(7).many([], "world") == []
