"""Pure plot of power against each uncertain input (STYLE.md principle 11): panels in, Figure out.

Each panel is one prior: the simulated power (all trials) in bins of the drawn value, ±1.96
MCSE, one colour per estimator; the closed-form power averaged over the same bins' replicates
(the comparison at the drawn values, the other inputs as drawn); and the closed-form power as
a smooth function of that input alone, the other inputs at the file's values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from simulator.outputs.plots import COLOURS, _axes, _title


@dataclass(frozen=True)
class AssurancePanel:
    key: str                            # the dotted key with a prior
    centres: np.ndarray                 # (bins,) mean drawn value in each bin
    counts: np.ndarray                  # (bins,) replicates in each bin
    power: Mapping[str, np.ndarray]     # estimator -> (bins,) simulated power, all trials
    mcse: Mapping[str, np.ndarray]      # estimator -> (bins,) its binomial MCSE
    closed_form: np.ndarray             # (bins,) mean closed-form power of the bin's replicates
    curve_x: np.ndarray                 # (grid,) values of this input
    curve_power: np.ndarray             # (grid,) closed form there, other inputs at file values
    point: float                        # the file's value (point guess)


def _panel(ax, panel: AssurancePanel, cf_label: str) -> None:
    for i, (name, y) in enumerate(panel.power.items()):
        colour = COLOURS[i % len(COLOURS)]
        ax.errorbar(panel.centres, y, yerr=1.96 * panel.mcse[name], fmt="o", color=colour,
                    capsize=3, label=f"{name}: simulated, ±1.96 MCSE")
    ax.plot(panel.centres, panel.closed_form, color="black", marker="x", lw=1,
            label=f"{cf_label} at the bins' drawn values")
    ax.plot(panel.curve_x, panel.curve_power, color="grey", ls="--", lw=1.2,
            label=f"{cf_label}, other inputs at the file's values")
    ax.axvline(panel.point, color="grey", ls=":", lw=1, label="point guess (file's value)")
    ax.axhline(0.8, color="grey", ls="-.", lw=0.8, label="80 %")
    ax.set_ylim(0, 1.02)
    sizes = f"{panel.counts.min()}" if panel.counts.min() == panel.counts.max() \
        else f"{panel.counts.min()}-{panel.counts.max()}"
    ax.set_xlabel(f"{panel.key}\n({panel.counts.size} bins of {sizes} replicates)")


def plot_assurance(panels: Sequence[AssurancePanel], *, title: str = "",
                   closed_form_label: str = "closed form", axes=None):
    """One panel per prior (module docstring); returns the Figure."""
    fig, axs = _axes(axes, len(panels), sharey=True, size=(9.0, 4.8))
    for ax, panel in zip(axs, panels):
        _panel(ax, panel, closed_form_label)
    axs[0].set_ylabel("power (all trials)")
    _title(fig, title or "Power against each uncertain input")
    handles, labels = axs[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False,
               fontsize="small")
    return fig
