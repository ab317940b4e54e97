"""Pure plot functions: data in, Figure out (STYLE.md principle 11). The CLI decides where they go."""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _axes(ax):
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
        return fig, ax
    return ax.figure, ax


def _rows(summary, estimand="itt"):
    return [r for r in summary if r["estimand"] == estimand]


def plot_power_curve(summary: Sequence[dict], swept_keys: Sequence[str], *, title: str = "",
                     alpha: float = 0.05, ax=None):
    """Rejection rate ± 1.96 MCSE against the first swept parameter, one line per estimator;
    a bar chart when nothing is swept."""
    fig, ax = _axes(ax)
    rows = _rows(summary)
    estimators = list(dict.fromkeys(r["estimator"] for r in rows))
    if not swept_keys:
        values = [next(r for r in rows if r["estimator"] == e) for e in estimators]
        ax.bar(estimators, [v["rejection"] for v in values],
               yerr=[1.96 * v["rejection_mcse"] for v in values], capsize=4, color="#4477aa")
        ax.set_xlabel("estimator")
    else:
        key = swept_keys[0]
        for e in estimators:
            pts = sorted((r[key], r["rejection"], r["rejection_mcse"]) for r in rows
                         if r["estimator"] == e)
            x, y, m = (np.array(v, dtype=float) for v in zip(*pts))
            ax.errorbar(x, y, yerr=1.96 * m, marker="o", capsize=3, label=e)
        ax.set_xlabel(key)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.axhline(0.8, color="grey", ls=":", lw=1)
    ax.axhline(alpha, color="grey", ls="--", lw=1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("rejection rate (power or type I error)")
    ax.set_title(title or "Simulated power (±1.96 Monte Carlo SE)")
    return fig


def save_figure(fig, path) -> None:
    """Save atomically (temporary name, then rename) and release the figure."""
    from pathlib import Path
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    plt.close(fig)
