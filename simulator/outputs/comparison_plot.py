"""comparisons.png: each design point's paired difference in power from its reference point
(``montecarlo.comparisons``), ±1.96 paired MCSE, with the unpaired MCSE beside it for
contrast. Pure: rows in, a Figure out."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from simulator.outputs.files import parse_cell, read_csv
from simulator.outputs.plots import COLOURS, plt, save_figure


def _label(row: dict, swept_keys: Sequence[str]) -> str:
    key = row["compared_on"]
    return f"{row['estimator']}: {key} = {row.get(key)} vs {row['reference_value']}"


def plot_comparisons(rows: Sequence[dict], swept_keys: Sequence[str], *, title: str = ""):
    """Difference in power over all trials (ITT rows), one line per design point × estimator:
    a dot ±1.96 paired MCSE (dark) and ±1.96 unpaired MCSE (light)."""
    rows = [r for r in rows if r["estimand"] == "itt"]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.6))
    y = np.arange(len(rows))[::-1]
    diff = np.array([float(r["rejection_all_diff"]) for r in rows])
    paired = np.array([float(r["rejection_all_diff_mcse"]) for r in rows])
    unpaired = np.array([float(r["rejection_all_diff_mcse_unpaired"]) for r in rows])
    ax.errorbar(diff, y, xerr=1.96 * unpaired, fmt="none", ecolor=COLOURS[1], alpha=0.35,
                elinewidth=6, label="±1.96 unpaired MCSE (separate runs)")
    ax.errorbar(diff, y, xerr=1.96 * paired, fmt="o", color=COLOURS[0], capsize=3,
                label="±1.96 paired MCSE (same simulated trials)")
    ax.axvline(0.0, color="grey", lw=1)
    ax.set_yticks(y, [_label(r, swept_keys) for r in rows], fontsize="small")
    ax.set_xlabel("difference in power (all trials) from the reference point")
    ax.set_title(title or "Designs compared on the same simulated trials", fontsize="medium")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / max(len(rows), 1)),
              ncol=1, fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


def draw_comparisons(out_dir: Path, swept_keys: Sequence[str]) -> list[Path]:
    """comparisons.png from the run's comparisons.csv ([] when it has no rows)."""
    path = Path(out_dir) / "comparisons.csv"
    if not path.exists():
        return []
    header, cells = read_csv(path)
    rows = [dict(zip(header, map(parse_cell, c))) for c in cells]
    if not any(r["estimand"] == "itt" for r in rows):
        return []
    target = Path(out_dir) / "comparisons.png"
    save_figure(plot_comparisons(rows, swept_keys), target)
    return [target]
