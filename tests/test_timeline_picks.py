"""``picks.Picks`` chooses exactly the indices ``Generator.choice(n, k, replace=False)`` does,
call after call on one stream (the roster's choice of who attends a session; picks module)."""
from __future__ import annotations

import numpy as np
import pytest

from simulator.model.timeline.picks import Picks
from simulator.model.timeline.staffing import Draws


def _pairs(meta: np.random.Generator, calls: int):
    for _ in range(calls):
        n = int(meta.choice([meta.integers(1, 20), meta.integers(1, 300), meta.integers(1, 2000)],
                            p=[0.7, 0.25, 0.05]))
        yield n, int(meta.integers(0, n + 1))


@pytest.mark.parametrize("seed", range(8))
def test_picks_are_numpys_choice_call_after_call(seed):
    make = lambda: np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(seed, 3))))
    numpy_gen, mine = make(), make()
    if seed % 3 == 0:   # a stream with a buffered 32-bit half already
        numpy_gen.random(dtype=np.float32)
        mine.random(dtype=np.float32)
    picks = Picks(mine, block=1 + 37 * seed)
    for n, k in _pairs(np.random.default_rng(1000 + seed), 300):
        assert picks.choice(n, k) == numpy_gen.choice(n, k, replace=False).tolist(), (n, k)


def test_picks_follow_numpys_tail_shuffle_for_large_populations():
    numpy_gen, mine = np.random.default_rng(7), np.random.default_rng(7)
    picks = Picks(mine)
    for n, k in [(10001, 201), (10001, 200), (25000, 600), (12000, 12000), (10500, 3)]:
        assert picks.choice(n, k) == numpy_gen.choice(n, k, replace=False).tolist(), (n, k)


def test_draws_pick_members_as_numpys_choice_did():
    cell = [f"m{i}" for i in range(13)]
    draws = Draws(np.random.default_rng(1), who=np.random.default_rng(2))
    who = np.random.default_rng(2)
    for count in (5, 0, 13, 1, 12, 7):
        expected = cell if count == 13 else [cell[i] for i in who.choice(13, count, replace=False)] \
            if count else []
        assert draws.pick(cell, count) == expected
