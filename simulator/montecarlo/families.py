"""families.csv: multiplicity families and co-primary outcomes, per design point (issue 15).

For each family of ``analysis.multiplicity`` (and, as a family of its own with method
"none", the outcomes of ``analysis.co_primary``), each replicate's p-values of the family's
outcomes (each outcome's first planned analysis; a failed analysis counts as p = 1) are
adjusted together (``analysis.multiplicity``), and an outcome is rejected when its adjusted
p < α. Over the replicates of a design point:
  power.<outcome>     share of replicates rejecting that outcome (adjusted power);
  disjunctive_power   share rejecting at least one outcome of the family;
  conjunctive_power   share rejecting every outcome (the co-primary success probability);
  fwer                share rejecting at least one outcome whose true effect is null (its
                      efficacy truth is 0 at the point), empty when none is;
each with its binomial MCSE √(p̂(1 − p̂)/n).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from simulator.analysis.multiplicity import adjusted_p_values
from simulator.montecarlo.performance import usable

FIXED = ("family", "method", "outcomes", "null_outcomes", "n_sim", "disjunctive_power",
         "disjunctive_power_mcse", "conjunctive_power", "conjunctive_power_mcse", "fwer",
         "fwer_mcse")
P_VALUE_COLUMNS = ("design_point", "replicate", "family", "outcome", "estimator", "p_value",
                   "adjusted_p_value", "rejected")


def scenario_families(scenario) -> list[tuple[str, str, tuple[str, ...]]]:
    """(family label, method, outcome names): the multiplicity families, then co_primary."""
    a = scenario.analysis
    out = [(f"family_{i + 1}", f.method, tuple(f.outcomes)) for i, f in enumerate(a.multiplicity)]
    return out + ([("co_primary", "none", tuple(a.co_primary))] if a.co_primary else [])


def family_columns(swept_keys: Sequence[str], names: Sequence[str]) -> list[str]:
    return [*swept_keys, *FIXED, *(f"power.{n}{s}" for n in names for s in ("", "_mcse"))]


def label_of(name: str, plan: Sequence[tuple[str, Sequence[str]]]) -> str:
    """The outcome label ("patient:QPR", "staff:…") of an outcome name."""
    return next(label for label, _ in plan if label.split(":", 1)[-1] == name)


def _rate(x: np.ndarray) -> tuple[float, float]:
    n = x.size
    p = float(x.mean()) if n else np.nan
    return p, float(np.sqrt(p * (1.0 - p) / n)) if n else np.nan


def outcome_p_values(data: Mapping[str, np.ndarray], index: int, label: str, estimator: str):
    """(replicates, p-values with failures as 1, mean efficacy truth) of one outcome's
    analysis at a design point, in replicate order."""
    sel = np.flatnonzero((data["design_point"] == index) & (data["outcome"] == label)
                         & (data["estimator"] == estimator))
    sel = sel[np.argsort(data["replicate"][sel], kind="stable")]
    keep = usable(data["estimate"][sel], data["se"][sel], data["converged"][sel] == 1)
    p = np.where(keep & np.isfinite(data["p_value"][sel]), data["p_value"][sel], 1.0)
    return data["replicate"][sel], p, float(np.mean(data["true_efficacy"][sel]))


def family_at(data, point, family, plan, alpha: float) -> tuple[dict, list[list]]:
    """The families.csv row of one design point and family, and its p-value rows."""
    name, method, names = family
    first = dict(plan)
    labels = [label_of(n, plan) for n in names]
    parts = [outcome_p_values(data, point.index, lab, first[lab][0]) for lab in labels]
    replicates = parts[0][0]
    p = np.column_stack([part[1] for part in parts])
    adjusted = adjusted_p_values(p, method)
    reject = adjusted < alpha
    null = np.array([abs(part[2]) < 1e-12 for part in parts])
    row = {**point.swept, "family": name, "method": method, "outcomes": ";".join(names),
           "null_outcomes": ";".join(n for n, z in zip(names, null) if z), "n_sim": int(p.shape[0])}
    for key, x in (("disjunctive_power", reject.any(axis=1)), ("conjunctive_power", reject.all(axis=1)),
                   ("fwer", reject[:, null].any(axis=1) if null.any() else np.zeros(0))):
        row[key], row[f"{key}_mcse"] = _rate(x)
    for j, n in enumerate(names):
        row[f"power.{n}"], row[f"power.{n}_mcse"] = _rate(reject[:, j])
    p_rows = [[point.index, int(r), name, labels[j], first[labels[j]][0], float(p[k, j]),
               float(adjusted[k, j]), int(reject[k, j])]
              for k, r in enumerate(replicates) for j in range(len(names))]
    return row, p_rows


def families(data, points, plan) -> tuple[list[dict], list[list]]:
    """families.csv rows and the per-replicate adjusted p-values of every point × family."""
    rows, p_rows = [], []
    for point in points:
        for family in scenario_families(point.scenario):
            row, more = family_at(data, point, family, plan, point.scenario.analysis.alpha)
            rows.append(row)
            p_rows += more
    return rows, p_rows
