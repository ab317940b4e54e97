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
