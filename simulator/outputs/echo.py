"""What ``crtsim validate`` echoes besides the derived quantities: the team list as read, and
the constrained allocation space of replicate 0's world."""
from __future__ import annotations

import numpy as np

from simulator.montecarlo.engine import draw_replicate


def _counts(values: np.ndarray) -> str:
    levels, counts = np.unique(values, return_counts=True)
    return ", ".join(f"{v} {n}" for v, n in zip(levels.tolist(), counts.tolist()))


def team_list_lines(scenario) -> list[str]:
    """The team list as crtsim read it: teams, sites, types, sizes and each covariate."""
    table = scenario.trial.team_table
    if table is None:
        return []
    source = scenario.trial.teams_file or "trial.team_list"
    lines = [f"team list ({source}): {table.n_teams} teams"]
    for name in ("site", "team_type"):
        values = getattr(table, name)
        lines.append(f"  {name}: " + (_counts(values) if values is not None
                                      else "not listed: drawn from the trial's shares"))
    for name in ("patients", "staff", "leadership"):
        values = getattr(table, name)
        shown = (f"total {values.sum():g}, {values.min():g} to {values.max():g}"
                 if values is not None else "not listed: drawn")
        lines.append(f"  {name}: {shown}")
    for name, values in table.covariates.items():
        if values.dtype.kind == "f":
            lines.append(f"  covariate {name} (numeric): {np.nanmin(values):g} to "
                         f"{np.nanmax(values):g}")
        else:
            levels = np.unique(values).size
            shown = _counts(values) if levels <= 8 else f"{levels} values"
            lines.append(f"  covariate {name} (categorical): {shown}")
    return lines


def allocation_summary(point) -> list[str]:
    """The allocation of replicate 0's world: for constrained randomisation the kept space and
    cvcrand's validity check (share of kept allocations with each pair of teams in one arm)."""
    info = draw_replicate(point.scenario, 0).allocation.info
    if info.get("method") != "constrained":
        return []
    lines = [f"constrained allocation (replicate 0's world): kept {info['n_kept']} of "
             f"{info['n_candidates']} candidate allocations "
             f"({'all' if info['enumerated'] else 'a random sample'}); pairs of teams in the "
             f"same arm in {info['pair_together_min']:.0%} to {info['pair_together_max']:.0%} "
             "of kept allocations"]
    if "warning" in info:
        lines.append(f"warning: {info['warning']}")
    return lines
