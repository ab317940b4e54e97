"""Fidelity by component on the timeline plot's fidelity panel (issue 13)."""
from __future__ import annotations

import numpy as np

STYLES = ("--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 2)))


def component_lines(ax, data) -> None:
    """With two or more components: each one's mean completion share in the intervention teams
    (mean over replicates), a thin line per component, labelled at its end."""
    shares = getattr(data, "component_shares", None)
    if shares is None or len(data.components) < 2:
        return
    for c, name in enumerate(data.components):
        mean = np.nanmean(shares[:, c, :], axis=0)
        ax.plot(data.months, mean, ls=STYLES[c % len(STYLES)], lw=1, color="0.35")
        ax.annotate(name.replace("_", " "), (data.months[-1], mean[-1]), fontsize=7,
                    xytext=(2, 0), textcoords="offset points", va="center", color="0.25")
    ax.set_ylabel("fidelity (weighted completion);\nthin lines: each component, intervention")
