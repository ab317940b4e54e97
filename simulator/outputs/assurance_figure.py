"""``assurance.png`` of a run with priors: the panels of ``assurance_plot`` from replicates.csv.

For one design point (the statement's), each replicate's drawn values (columns
``prior.<key>``) and each estimator's rejection (p < alpha from a usable fit; a failed analysis
counts as no rejection, as in power over all trials) are read back.  Per prior, the replicates
are put in ``BINS`` bins of equal count by the drawn value; the simulated power of a bin is its
rejection rate with the binomial MCSE.  The closed form is computed at the drawn values of at
most ``CF_SAMPLE`` replicates spread evenly over the run (each ~50 ms) and averaged per bin, so
both sides condition on the same bin with the other inputs as drawn; the smooth curve is the
closed form over ``GRID`` values of the input, the other inputs at the file's values.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.outputs.assurance_plot import AssurancePanel, plot_assurance
from simulator.scenario.prior_keys import point_values
from simulator.scenario.schema import Scenario

BINS, CF_SAMPLE, GRID = 8, 200, 17


def _bins(values: np.ndarray, bins: int) -> np.ndarray:
    """Bin index of each value: equal-count bins (fewer when values repeat)."""
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    return np.searchsorted(edges[1:-1], values, side="right")


def _rejections(cols: dict, alpha: float, estimators) -> dict[str, np.ndarray]:
    usable = (cols["converged"] == 1) & np.isfinite(cols["estimate"]) & np.isfinite(cols["se"])
    rejects = usable & (np.nan_to_num(cols["p_value"], nan=1.0) < alpha)
    return {name: rejects[cols["estimator"] == name].astype(float) for name in estimators}


def _per_bin(x: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    return np.array([x[index == b].mean() if (index == b).any() else np.nan for b in range(n)])


def _curve(scenario: Scenario, key: str, drawn: np.ndarray, estimator) -> tuple:
    from simulator.planning.assurance import power_at

    span = np.linspace(*np.quantile(drawn, [0.01, 0.99]), GRID)
    grid = np.unique([_typed(scenario, key, x) for x in span])
    return grid, np.array([power_at(scenario, {key: x.item()}, estimator=estimator) for x in grid])


def assurance_panels(cols: dict, scenario: Scenario, design_point: int) -> list[AssurancePanel]:
    """The panels of one design point from replicates.csv columns (module docstring)."""
    from simulator.planning.assurance import power_at

    at = (cols["design_point"] == design_point) & (cols["outcome"] == cols["outcome"][0])
    cols = {k: v[at] for k, v in cols.items()}
    estimators = list(dict.fromkeys(cols["estimator"]))
    first = cols["estimator"] == estimators[0]
    drawn = {key: cols[f"prior.{key}"][first] for key in scenario.priors}
    rejected = _rejections(cols, scenario.analysis.alpha, estimators)
    sample = np.unique(np.linspace(0, first.sum() - 1, min(CF_SAMPLE, first.sum())).astype(int))
    cf = np.full(first.sum(), np.nan)
    for i in sample:
        values = {key: _typed(scenario, key, v[i]) for key, v in drawn.items()}
        cf[i] = power_at(scenario, values, estimator=estimators[0])
    points, panels = point_values(scenario), []
    for key, x in drawn.items():
        index = _bins(x, BINS)
        n = int(index.max()) + 1
        power = {e: _per_bin(r, index, n) for e, r in rejected.items()}
        counts = np.bincount(index, minlength=n)
        mcse = {e: np.sqrt(p * (1.0 - p) / counts) for e, p in power.items()}
        in_sample = np.isfinite(cf)
        panels.append(AssurancePanel(key, _per_bin(x, index, n), counts, power, mcse,
                                     _per_bin(cf[in_sample], index[in_sample], n),
                                     *_curve(scenario, key, x, estimators[0]), float(points[key])))
    return panels


def _typed(scenario: Scenario, key: str, value: float):
    """A value read back from the CSV, as the key's type (integer keys stay integers)."""
    point = point_values(scenario)[key]
    return int(round(value)) if isinstance(point, int) and not isinstance(point, bool) \
        else float(value)


def draw_assurance(out_dir: Path, scenario: Scenario, design_point: int) -> list[Path]:
    """Write assurance.png for a run with priors; [] without priors or replicates.csv."""
    from simulator.montecarlo.summary import read_replicate_columns
    from simulator.outputs.plots import save_figure
    from simulator.planning.closed_form import adjusts_for_baseline

    path = Path(out_dir) / "replicates.csv"
    if not scenario.priors or not path.exists():
        return []
    names = ("design_point", "outcome", "estimator", "estimate", "se", "p_value", "converged",
             *(f"prior.{key}" for key in scenario.priors))
    panels = assurance_panels(read_replicate_columns(path, names), scenario, design_point)
    adjusted = "baseline-adjusted" if adjusts_for_baseline(scenario, None) else "unadjusted"
    fig = plot_assurance(panels, closed_form_label=f"closed form ({adjusted})",
                         title=f"{scenario.name}: power against each uncertain input, "
                               f"{scenario.replicates} replicates drawing their inputs from "
                               "the priors")
    save_figure(fig, Path(out_dir) / "assurance.png")
    return [Path(out_dir) / "assurance.png"]
