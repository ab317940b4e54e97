"""The timeline plot: fidelity (by component), staffing, patients lost and teams disbanded or
merged over trial months, by arm (pure: data in, Figure out, as ``plots``)."""
from __future__ import annotations

import warnings

import matplotlib.ticker
import numpy as np

from simulator.outputs.component_plot import component_lines
from simulator.outputs.plots import ARM_COLOURS, _axes, _legend_outside, _title


def _band(ax, months, values, colour, label, steps: bool = False) -> None:
    """Mean over replicates with the 10th-90th percentile band."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # months where no team is left
        mean = np.nanmean(values, axis=0)
        low, high = np.nanpercentile(values, [10, 90], axis=0)
    where = "post" if steps else None
    ax.plot(months, mean, color=colour, label=label, drawstyle="steps-post" if steps else "default")
    ax.fill_between(months, low, high, color=colour, alpha=0.2, lw=0, step=where)


def plot_timeline(data, *, title: str = "", axes=None):
    """Four panels over trial months, by arm, from ``timeline_summary.timeline_data``: fidelity of
    surviving teams (with several components, each component's completion share in the
    intervention teams, thin lines), share of staff posts filled, cumulative patients lost to
    follow-up, teams disbanded (and, dashed, merged into another team); mean over replicates
    with a 10th-90th percentile band."""
    fig, panels = _axes(axes, 4, ncols=2, size=(11, 3.6))
    specs = [(data.fidelity, "fidelity (trained share of staff in post)"),
             (100 * data.staff_filled, "staff posts filled (%)"),
             (100 * data.lost_to_followup, "patients lost to follow-up (%)\n"
                                           "(dashed: dropout alone)"),
             (data.disbanded, "teams disbanded (cumulative count)\n"
                              "(dashed: merged into another team)")]
    for i, (ax, (values, ylabel)) in enumerate(zip(panels, specs)):
        for a, arm in enumerate(("control", "intervention")):
            _band(ax, data.months, values[:, a, :], ARM_COLOURS[arm], arm, steps=i == 3)
        ax.set_xlabel("months since randomisation")
        ax.set_ylabel(ylabel)
        ax.set_xlim(data.months[0], data.months[-1])
        if i == 2:
            for a, arm in enumerate(("control", "intervention")):
                ax.plot(data.months, 100 * data.dropout[:, a, :].mean(axis=0), ls="--", lw=1,
                        color=ARM_COLOURS[arm])
        if i == 3 and np.nanmax(data.merged, initial=0.0) > 0:
            for a, arm in enumerate(("control", "intervention")):
                ax.step(data.months, data.merged[:, a, :].mean(axis=0), where="post", ls="--",
                        lw=1.2, color=ARM_COLOURS[arm])
        if i != 1:                 # staff filled stays zoomed in on its (narrow) range
            ax.set_ylim(bottom=0)
    component_lines(panels[0], data)
    top = max(np.nanmax(data.disbanded, initial=0.0), np.nanmax(data.merged, initial=0.0))
    panels[3].set_ylim(0, max(1.0, float(top)) * 1.05)
    panels[3].yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    _title(fig, title or f"Trial timeline, {data.replicates} replicates (band: 10th-90th centile)")
    _legend_outside(fig, panels[:1])
    return fig
