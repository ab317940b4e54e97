"""The simulated CONSORT flow: per-arm counts of teams, patients and staff at each stage, from
the per-replicate diagnostics (replicates.csv, or one replicate's ``diagnostics``), and the
writing of ``flow.png`` / ``flow.svg`` (the figure itself: ``flow_plot.plot_flow``).

The counts are a plain dict, the input of ``plot_flow``::

    {"replicates": N, "arms": ("intervention", "control"), "where": "trial.teams = 30",
     "groups": [{"name": "teams", "title": "Teams", "boxes": [
         {"key": "randomised", "label": "Randomised", "kind": "main",
          "intervention": {"mean": 14.0, "p10": 14, "p90": 14}, "control": {...}}, ...]}, ...]}

Each box's statistics are over replicates: the mean and the 10th and 90th centiles (observed
counts: numpy's "inverted_cdf" quantiles).  ``kind`` says how the box sits in the flow:
``main`` boxes are the stages down each arm's column (a group starts and ends with one);
between two main boxes, ``exit`` boxes leave the flow (dropout, lost), ``entry`` boxes join it
(newcomers) and ``event`` boxes happen without changing the count (disbanding, transfers).
Merges are an ``event`` of the teams; staff moves an ``exit`` and an ``entry`` of the staff, as
are staff a merge pools across arms (within arm they stay in the arm's count). Mechanisms to
come slot in the same way, as boxes of ``FLOW`` and diagnostics columns, with no change to the
plot (the staff outcome as a final ``main`` box, "measured for the staff outcome").
"""
from __future__ import annotations

import csv

import io
from pathlib import Path
from typing import Mapping

import numpy as np

from simulator.outputs.files import write_atomic

ARMS = (("intervention", "int"), ("control", "ctl"))

# (group, title) -> boxes (key, label, kind, column prefix; the arm suffix is added)
FLOW = (
    (("teams", "Teams"), (
        ("randomised", "Randomised", "main", "teams_randomised"),
        ("disbanded", "Disbanded during the trial", "event", "teams_disbanded"),
        ("merged", "Merged into another team", "event", "teams_merged"),
        ("no_patient", "No patient followed up", "exit", "teams_no_patient_analysed"),
        ("analysed", "Analysed (≥ 1 patient followed up)", "main", "teams_analysed"))),
    (("patients", "Patients"), (
        ("recruited", "Recruited at baseline", "main", "patients_randomised"),
        ("within", "Transferred within arm", "event", "patients_transferred_within"),
        ("across", "Transferred to the other arm", "event", "patients_transferred_across"),
        ("dropout", "Dropped out", "exit", "patients_dropout"),
        ("lost", "Lost with a disbanded team", "exit", "patients_lost"),
        ("analysed", "Analysed (followed up)", "main", "patients_analysed"))),
    (("staff", "Staff"), (
        ("baseline", "In post at baseline", "main", "staff_baseline"),
        ("left", "Left the service", "exit", "staff_left_service"),
        ("moved_out", "Moved to another team", "exit", "staff_moved_out"),
        ("newcomers", "Newcomers (untrained)", "entry", "staff_newcomers"),
        ("moved_in", "Moved in from another team", "entry", "staff_moved_in"),
        ("merged_out", "Pooled into a team of the other arm", "exit", "staff_merged_across_out"),
        ("merged_in", "Pooled in from a team of the other arm", "entry", "staff_merged_across_in"),
        ("disbanded", "In post when their team disbanded", "exit", "staff_with_disbanded_team"),
        ("followup", "In post at follow-up", "main", "staff_followup"))),
)

# Boxes drawn only when some replicate of some arm has any (a trial without merges or moves
# keeps its flow as before).
SHOWN_WHEN_ANY = {("teams", "merged"), ("staff", "moved_out"), ("staff", "moved_in"),
                  ("staff", "merged_out"), ("staff", "merged_in")}

# Counts that follow from the recorded ones (per arm suffix).
DERIVED = {
    "teams_no_patient_analysed": lambda c, a: c[f"teams_randomised_{a}"] - c[f"teams_analysed_{a}"],
    "staff_left_service": lambda c, a: c[f"staff_left_{a}"] - c[f"staff_moved_out_{a}"],
    "staff_with_disbanded_team": lambda c, a: (
        c[f"staff_baseline_{a}"] + c[f"staff_newcomers_{a}"] + c[f"staff_moved_in_{a}"]
        + c[f"staff_merged_across_in_{a}"] - c[f"staff_left_{a}"]
        - c[f"staff_merged_across_out_{a}"] - c[f"staff_followup_{a}"]),
}


def flow_columns() -> list[str]:
    """The replicates.csv columns the flow reads."""
    prefixes = {col for _, boxes in FLOW for *_, col in boxes} - set(DERIVED)
    prefixes |= {"teams_randomised", "teams_analysed", "staff_baseline", "staff_newcomers",
                 "staff_left", "staff_followup", "staff_moved_out", "staff_moved_in",
                 "staff_merged_across_in", "staff_merged_across_out"}
    return sorted(f"{p}_{a}" for p in prefixes for _, a in ARMS)


def _stats(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return {"mean": float("nan"), "p10": float("nan"), "p90": float("nan")}
    p10, p90 = np.quantile(values, [0.1, 0.9], method="inverted_cdf")
    return {"mean": float(values.mean()), "p10": float(p10), "p90": float(p90)}


def _column(columns: Mapping[str, np.ndarray], prefix: str, arm: str) -> np.ndarray:
    if prefix in DERIVED:
        return np.asarray(DERIVED[prefix](columns, arm), dtype=float)
    return np.asarray(columns[f"{prefix}_{arm}"], dtype=float)


def flow_counts(columns: Mapping[str, np.ndarray], *, where: str = "") -> dict:
    """The flow dict (module docstring) from per-replicate arrays named ``<prefix>_<int|ctl>``
    (one value per replicate)."""
    columns = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in columns.items()}
    replicates = len(next(iter(columns.values())))
    return _flow(lambda prefix, arm: _column(columns, prefix, arm), replicates, where)


def _flow(values_of, replicates: int, where: str) -> dict:
    """The flow dict from ``values_of(prefix, arm)``: a box's per-replicate values, asked for
    and reduced one box and arm at a time (a million replicates' values are 8 MB each)."""
    groups = []
    for (name, title), boxes in FLOW:
        shown = []
        for key, label, kind, col in boxes:
            stats, nonzero = {}, False
            for arm, short in ARMS:
                values = values_of(col, short)
                stats[arm] = _stats(values)
                nonzero = nonzero or bool(np.nansum(np.abs(values)) > 0)
            if (name, key) not in SHOWN_WHEN_ANY or nonzero:
                shown.append({"key": key, "label": label, "kind": kind, **stats})
        groups.append({"name": name, "title": title, "boxes": shown})
    return {"replicates": replicates, "arms": tuple(a for a, _ in ARMS), "where": where,
            "groups": groups}


def _box_columns() -> list[str]:
    """Every box's column prefix."""
    return list(dict.fromkeys(col for _, boxes in FLOW for *_, col in boxes))


def _tally(tallies: dict, columns: Mapping[str, np.ndarray]) -> None:
    """Add a block of replicates to each box's tally of values (value -> replicates): the
    flow's counts are whole numbers with few distinct values, so the tallies stay small."""
    for prefix in _box_columns():
        for _, arm in ARMS:
            v = _column(columns, prefix, arm)
            seen, count = np.unique(v[np.isfinite(v)], return_counts=True)
            tally = tallies.setdefault((prefix, arm), {})
            for value, n in zip(seen.tolist(), count.tolist()):
                tally[value] = tally.get(value, 0) + n


def _untally(tally: dict) -> np.ndarray:
    """The tallied values, sorted: their mean and quantiles are the replicates' own (a sum of
    whole numbers is exact in any order)."""
    values = sorted(tally)
    return np.repeat(np.array(values, dtype=float), [tally[v] for v in values])


def replicate_flow(diagnostics: Mapping[str, float], *, where: str = "") -> dict:
    """The flow of one replicate (``crtsim draw``): its diagnostics as one-replicate columns."""
    return flow_counts({k: diagnostics[k] for k in flow_columns()}, where=where)


def flow_from_replicates(path: Path, design_point: int, *, where: str = "") -> dict | None:
    """The flow of one design point from replicates.csv (one row per replicate: the primary
    outcome's first estimator's); None when the file is missing or predates the flow columns."""
    from simulator.montecarlo.summary import replicate_column_blocks

    if not Path(path).exists():
        return None
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header, first = next(reader, []), next(reader, None)
    if not set(flow_columns()) <= set(header) or first is None:
        return None
    # the primary outcome's first estimator: the first row's (``summary.primary_selection``)
    primary = {k: first[header.index(k)] if k in header else "" for k in ("outcome", "estimator")}
    tallies: dict = {}
    replicates = 0
    for block in replicate_column_blocks(path, flow_columns(),
                                         where={**primary, "design_point": design_point}):
        _tally(tallies, block)
        replicates += next(iter(block.values())).size
    if not replicates:
        return None
    return _flow(lambda prefix, arm: _untally(tallies[(prefix, arm)]), replicates, where)


def write_flow(counts: dict, out_dir: str | Path, *, title: str = "") -> list[Path]:
    """flow.png and flow.svg (written atomically; the SVG without a date, so reruns match)."""
    import matplotlib.pyplot as plt

    from simulator.outputs.flow_plot import plot_flow

    out = []
    with plt.rc_context({"svg.hashsalt": "crtsim-flow"}):
        fig = plot_flow(counts, title=title)
        for suffix, meta in ((".png", {}), (".svg", {"Date": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=suffix[1:], dpi=110, metadata=meta)
            out.append(write_atomic(Path(out_dir) / f"flow{suffix}", buf.getvalue()))
    plt.close(fig)
    return out
