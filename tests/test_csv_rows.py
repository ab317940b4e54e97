"""``outputs.files.csv_text_shared`` (a replicate's shared cells formatted once) writes the
same text as ``csv_text`` of the joined rows, quoting included."""
from __future__ import annotations

import numpy as np

from simulator.outputs.files import csv_text, csv_text_shared


def test_shared_cells_give_the_text_of_the_joined_rows():
    tail_a = [1, 0.1, float("nan"), np.float64(2.5), np.int64(3), "a,b", 'say "hi"', True, None]
    tail_b = ["line\nbreak", -0.0, 1e-300, float("inf"), ""]
    rows = [([0, 1, "patient:y", "mixed"], tail_a), ([0, 1, "patient:y", "gee"], tail_a),
            ([0, 2, "staff,x", ""], tail_b)]
    assert csv_text_shared(rows) == csv_text(["h"], [own + tail for own, tail in rows]).split(
        "\n", 1)[1]


def test_a_chunks_arrays_are_its_text_read_back():
    import csv
    import io

    from simulator.montecarlo.engine import (CHUNK_COLUMNS, WorkUnit, replicate_columns,
                                             run_unit_csv)
    from simulator.montecarlo.summary import columns_from_rows
    from simulator.scenario.files import parse_scenario
    from test_fast_engine import DYNAMIC

    scenario = parse_scenario(DYNAMIC)
    for engine in ("fast", "simpy"):
        text, columns = run_unit_csv(WorkUnit(0, 0, 4, scenario, engine))
        back = columns_from_rows(replicate_columns(scenario),
                                 list(csv.reader(io.StringIO(text))), CHUNK_COLUMNS)
        assert list(columns) == list(back)
        for name, values in back.items():
            assert values.dtype == columns[name].dtype
            assert (np.array_equal(values, columns[name], equal_nan=True)
                    if values.dtype.kind == "f" else list(values) == list(columns[name]))
