"""Aggregate replicate rows into performance measures (Morris, White & Crowther 2019).

One row per design point × estimator × estimand. The estimand's true value is the mean over the
design point's replicates of the per-replicate truth (``true_itt``), or δ_full for efficacy.
"""
from __future__ import annotations

import csv
import itertools
from typing import Mapping, Sequence

import numpy as np

from simulator.montecarlo.performance import COLUMNS, performance, performance_row

ESTIMANDS = {"itt": "true_itt", "efficacy": "true_efficacy"}
NUMERIC = ("estimate", "se", "df", "ci_low", "ci_high", "p_value", "converged", "true_itt",
           "true_efficacy", "imbalance_max_smd", "team_type_all_in_one_arm", "patients_analysed",
           "teams_disbanded", "mean_fidelity_int", "contamination", "staff_turnover")
MEANS = {"mean_patients_analysed": "patients_analysed", "mean_teams_disbanded": "teams_disbanded",
         "mean_fidelity_int": "mean_fidelity_int", "mean_contamination": "contamination",
         "mean_staff_turnover": "staff_turnover", "mean_imbalance_max_smd": "imbalance_max_smd",
         "share_team_type_all_in_one_arm": "team_type_all_in_one_arm"}


def _float(cell: str) -> float:
    return float(cell) if cell != "" else np.nan


def columns_from_rows(header: Sequence[str], rows: Sequence[Sequence[str]],
                      names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """CSV rows as arrays: design_point/replicate int, outcome and estimator text, the rest
    floats (empty cells nan); ``names`` (default: design_point, outcome, estimator and
    NUMERIC) picks the columns. A file from before outcomes were a list has no ``outcome``
    column: it reads as "" (its one outcome)."""
    names = ("design_point", "outcome", "estimator", *NUMERIC) if names is None else names
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "outcome" and name not in header:
            out[name] = np.full(len(rows), "", dtype=object)
            continue
        i = header.index(name)
        if name in ("estimator", "outcome"):   # one str object per label, not one per row
            seen: dict[str, str] = {}
            out[name] = np.array([seen.setdefault(r[i], r[i]) for r in rows], dtype=object)
        elif name in ("design_point", "replicate"):
            out[name] = np.array([int(r[i]) for r in rows], dtype=int)
        else:
            out[name] = np.array([_float(r[i]) for r in rows], dtype=float)
    return out


def summary_columns(swept_keys: Sequence[str]) -> list[str]:
    return [*swept_keys, "outcome", "estimator", "estimand", *COLUMNS, *MEANS, "is_target",
            "means_based_on", *ASSURANCE]


# Assurance: with priors, every replicate draws its own inputs, so the rejection rate over all
# trials (rejection_all, failed analyses counted as no rejection) is the assurance (power
# averaged over the priors), with the same binomial MCSE.  Without priors it is left empty
# (nan): the rejection rate is then the power at fixed inputs, not an assurance.
ASSURANCE = ("assurance", "assurance_mcse")


def assurance_columns(row: dict, has_priors: bool) -> dict:
    if not has_priors:
        return dict.fromkeys(ASSURANCE, np.nan)
    return {"assurance": row["rejection_all"], "assurance_mcse": row["rejection_all_mcse"]}


def diagnostic_means(data: Mapping[str, np.ndarray], sel: np.ndarray) -> dict:
    """The MEANS over the selected replicates whose diagnostic is finite (nan when none is),
    and ``means_based_on``: for each mean that leaves replicates out, "name n/N" ("all" when
    every mean uses all N replicates), so a missing diagnostic is never silently dropped."""
    out, partial, total = {}, [], int(sel.sum())
    for label, col in MEANS.items():
        values = data[col][sel]
        finite = np.isfinite(values)
        out[label] = float(values[finite].mean()) if finite.any() else np.nan
        if finite.sum() < total:
            partial.append(f"{label} {int(finite.sum())}/{total}")
    return {**out, "means_based_on": "; ".join(partial) or "all"}


OutcomePlan = Sequence[tuple[str, Sequence[str]]]   # (outcome label, its estimator labels)


def summarise(data: Mapping[str, np.ndarray], points, outcomes: OutcomePlan,
              alpha_of: Mapping[int, float], targets: Mapping[str, str] | None = None) -> list[dict]:
    """Performance rows for every design point × outcome × estimator × estimand, in a fixed
    order (the primary outcome first).

    ``targets`` names each estimator's own estimand (``itt`` unless given); ``is_target`` marks
    that row (CACE targets efficacy)."""
    targets = targets or {}
    rows = []
    swept_keys = list(points[0].swept) if points else []
    for point in points:
        at_point = data["design_point"] == point.index
        for outcome, estimators in outcomes:
            for name in estimators:
                sel = at_point & (data["outcome"] == outcome) & (data["estimator"] == name)
                if sel.any():
                    labels = {**{k: point.swept[k] for k in swept_keys}, "outcome": outcome,
                              "estimator": name}
                    rows += _estimand_rows(data, sel, labels, targets.get(name, "itt"),
                                           alpha_of[point.index], bool(point.scenario.priors))
    return rows


def _estimand_rows(data, sel, labels: dict, target: str, alpha: float, has_priors: bool) -> list:
    """One row per estimand of the selected replicates of one estimator."""
    extras = diagnostic_means(data, sel)
    rows = []
    for estimand, truth_col in ESTIMANDS.items():
        truth = float(np.mean(data[truth_col][sel]))
        perf = performance(data["estimate"][sel], data["se"][sel], data["ci_low"][sel],
                           data["ci_high"][sel], data["p_value"][sel],
                           data["converged"][sel] == 1, true_value=truth, alpha=alpha)
        row = performance_row(perf, {**labels, "estimand": estimand})
        rows.append({**row, **extras, "is_target": int(estimand == target),
                     **assurance_columns(row, has_priors)})
    return rows


def primary_rows(rows: Sequence[dict]) -> list[dict]:
    """The summary rows of the primary outcome (the first row's outcome): what every output
    but the per-outcome ones reads. Rows without an ``outcome`` (older files) are all kept."""
    if not rows:
        return list(rows)
    first = rows[0].get("outcome")
    return [r for r in rows if r.get("outcome") == first]


def primary_selection(cols: Mapping[str, np.ndarray]) -> np.ndarray:
    """(rows,) bool: replicate rows of the primary outcome (the first row's) and its first
    estimator, one row per design point × replicate."""
    outcome, estimator = cols["outcome"], cols["estimator"]
    if outcome.size == 0:
        return np.zeros(0, bool)
    return (outcome == outcome[0]) & (estimator == estimator[0])


def read_replicate_columns(path, names: Sequence[str], *,
                           where: Mapping | None = None) -> dict[str, np.ndarray]:
    """Selected columns of a replicates.csv, typed as ``columns_from_rows`` types them, read
    block by block (``replicate_column_blocks``) so that memory holds only those columns."""
    blocks = list(replicate_column_blocks(path, names, where=where))
    wanted = [n for n in names if n not in (where or {})]
    if not blocks:
        return columns_from_rows(read_header(path), [], names=wanted)
    return {n: np.concatenate([b[n] for b in blocks]) for n in wanted}


def replicate_column_blocks(path, names: Sequence[str], *, where: Mapping | None = None,
                            block: int = 2_000):
    """Selected columns of a replicates.csv, ``block`` rows at a time (one dict of arrays per
    block), so the file's text is never held whole. ``where`` (column -> value) keeps only the
    rows with those values; the columns it names are not returned."""
    where = dict(where or {})
    wanted = [n for n in names if n not in where]
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        while rows := list(itertools.islice(reader, block)):
            cols = columns_from_rows(header, rows, names=[*where, *wanted])
            keep = np.ones(len(rows), dtype=bool)
            for name, value in where.items():
                keep &= cols[name] == value
            yield {n: cols[n][keep] for n in wanted}


def read_header(path) -> list[str]:
    """A CSV file's header row."""
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh), [])
