"""The summary's columns on disk (``montecarlo/columns.py``): whatever order the units arrive
in, a design point's columns read back are its units' rows in unit order, labels included,
with or without the cache; the file leaves nothing in the output folder."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

import simulator.montecarlo.columns as columns_module
from simulator.montecarlo.columns import ColumnStore

NAMES = ("design_point", "replicate", "outcome", "estimator", "estimate", "p_value")


def _unit(point: int, first: int, rows: int, rng) -> dict:
    return {"design_point": np.full(rows, point), "replicate": np.arange(first, first + rows),
            "outcome": np.array(rng.choice(["", "cost", "qpr"], rows), dtype=object),
            "estimator": np.array(rng.choice(["mixed_ancova", "cluster_summary"], rows),
                                  dtype=object),
            "estimate": rng.normal(size=rows),
            "p_value": np.where(rng.random(rows) < 0.2, np.nan, rng.random(rows))}


@settings(deadline=None, max_examples=40)
@given(units=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 7)), min_size=1, max_size=12),
       order=st.randoms(use_true_random=False), tiny_cache=st.booleans())
def test_points_read_back_as_written(units, order, tiny_cache, tmp_path_factory):
    folder = tmp_path_factory.mktemp("columns")
    rng = np.random.default_rng(len(units))
    units = sorted(units, key=lambda u: u[0])        # work_units: point by point
    keys = [(p, i, i + n) for i, (p, n) in enumerate(units)]
    made = {k: _unit(k[0], k[1], k[2] - k[1], rng) for k in keys}
    store = ColumnStore(keys, [k[2] - k[1] for k in keys], [k[0] for k in keys], NAMES, folder)
    arrival = list(keys)
    order.shuffle(arrival)
    for k in arrival:
        store.put(k, made[k])
    old = columns_module.CACHE_BYTES
    columns_module.CACHE_BYTES = 1 if tiny_cache else old
    try:
        for point in range(5):
            mine = [made[k] for k in keys if k[0] == point]
            view = store.point(point)
            for name in NAMES:
                want = np.concatenate([m[name] for m in mine]) if mine else np.zeros(0)
                for _ in range(2):   # read, then (cache allowing) kept
                    got = view[name]
                    assert got.shape == want.shape
                    assert np.array_equal(got, want, equal_nan=name in ("estimate", "p_value"))
        whole = store.whole()
        assert np.array_equal(whole["replicate"],
                              np.concatenate([made[k]["replicate"] for k in keys]))
    finally:
        columns_module.CACHE_BYTES = old
        store.close()
    assert list(folder.iterdir()) == []


def test_a_unit_of_the_wrong_size_is_refused(tmp_path):
    store = ColumnStore([(0, 0, 3)], [3], [0], NAMES, tmp_path)
    try:
        store.put((0, 0, 3), _unit(0, 0, 2, np.random.default_rng(1)))
    except RuntimeError as err:
        assert "2 rows, expected 3" in str(err)
    else:
        raise AssertionError("a short unit was accepted")
    finally:
        store.close()
