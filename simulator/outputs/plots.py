"""Pure plot functions: data in, Figure out (STYLE.md principle 11). The CLI decides where they go.

Every function takes plain rows or arrays and an optional ``ax``/``axes``, returns the Figure,
and never shows it.  Monte Carlo uncertainty is drawn as ±1.96 MCSE (Morris, White & Crowther
2019, Stat Med 38:2074).
"""
from __future__ import annotations

import textwrap
import warnings
from typing import Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLOURS = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb")
ARM_COLOURS = {"intervention": "#ee6677", "control": "#4477aa"}


def _axes(ax, n: int = 1, *, ncols: int | None = None, size=(7.5, 4.5), sharey: bool = False):
    """(figure, list of n axes): new ones when ``ax`` is None, else the ones given."""
    if ax is None:
        ncols = ncols or min(n, 3)
        nrows = -(-n // ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(size[0] * min(1.0, 0.55 * ncols + 0.45),
                                                        size[1] * nrows), layout="constrained",
                                 squeeze=False, sharey=sharey)
        for extra in grid.flat[n:]:
            extra.set_visible(False)
        return fig, list(grid.flat[:n])
    axes = list(np.ravel(ax)) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) < n:
        raise ValueError(f"need {n} axes, got {len(axes)}")
    return axes[0].figure, axes[:n]


def _rows(summary, estimand=None):
    """Each estimator's rows for its own estimand (``is_target``), or for the estimand given."""
    if estimand is None:
        return [_plain(r) for r in summary if r.get("is_target", r["estimand"] == "itt")]
    return [_plain(r) for r in summary if r["estimand"] == estimand]


def _plain(row: dict) -> dict:
    """A row whose list or mapping values (a swept ``reconfiguration.merges.scheduled``, say)
    become their text, so they can label and position points."""
    if not any(isinstance(v, (list, tuple, dict)) for v in row.values()):
        return row
    return {k: str(v) if isinstance(v, (list, tuple, dict)) else v for k, v in row.items()}


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _positions(values):
    """x positions and tick labels: the values when numeric, else 0..n-1 with labels."""
    distinct = list(dict.fromkeys(values))
    if _numeric(distinct):
        return {v: float(v) for v in distinct}, None
    return {v: float(i) for i, v in enumerate(distinct)}, [str(v) for v in distinct]


def _label(key: str, value) -> str:
    return f"{key} = {value:g}" if _numeric([value]) else f"{key} = {value}"


def _legend_outside(fig, axes) -> None:
    handles, labels = {}, []
    for a in axes:
        for h, lab in zip(*a.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if labels:
        fig.legend([handles[lab] for lab in labels], labels, loc="outside lower center",
                   ncols=min(len(labels), 3), frameon=False)


def _title(fig, text: str) -> None:
    """Figure title wrapped to the figure's width (about 9 characters per inch at this size)."""
    width = int(fig.get_figwidth() * 9)
    fig.suptitle(textwrap.fill(text, width), fontsize="medium")


def _reference_lines(ax, alpha: float) -> None:
    ax.axhline(0.8, color="grey", ls=":", lw=1, label="80 % power")
    ax.axhline(alpha, color="grey", ls="-.", lw=1, label=f"α = {alpha:g}")
    ax.set_ylim(0, 1.02)


def _power_panel(ax, rows, key, others, closed_form, positions, alpha, cf_label) -> None:
    """One panel: a line per estimator (× remaining swept values) and the closed-form curve."""
    groups = list(dict.fromkeys((r["estimator"], *(r[k] for k in others)) for r in rows))
    for i, group in enumerate(groups):
        sel = [r for r in rows if (r["estimator"], *(r[k] for k in others)) == group]
        pts = sorted((positions[r[key]], r["rejection_all"], r["rejection_all_mcse"],
                      r["n_failed"]) for r in sel)
        x, y, m, failed = (np.array(v, dtype=float) for v in zip(*pts))
        label = ", ".join([group[0], *(_label(k, v) for k, v in zip(others, group[1:]))])
        colour = COLOURS[i % len(COLOURS)]
        ax.plot(x, y, marker="o", color=colour, label=label)
        ax.fill_between(x, y - 1.96 * m, y + 1.96 * m, color=colour, alpha=0.18, lw=0)
        _failed_notes(ax, x, y, failed, colour)
    cf = sorted((positions.get(r[key], r[key]), r["closed_form_power"]) for r in closed_form
                if r[key] in positions or _numeric([r[key]]))
    if cf and positions:
        ax.plot(*zip(*cf), color="black", ls="--", lw=1.2, label=cf_label)
    _reference_lines(ax, alpha)


def _failed_notes(ax, x, y, failed, colour) -> None:
    """Name the failed analyses beside each point that has any (they count as no rejection)."""
    for xi, yi, n in zip(x, y, failed):
        if n > 0:
            ax.annotate(f"{int(n)} failed", (xi, yi), xytext=(4, -10), textcoords="offset points",
                        fontsize="x-small", color=colour)


def _panel_rows(rows, panel_key, value):
    return [r for r in rows if panel_key is None or r[panel_key] == value]


def plot_power_curve(summary: Sequence[dict], swept_keys: Sequence[str], *, title: str = "",
                     alpha: float = 0.05, ax=None, closed_form: Sequence[dict] | None = None,
                     closed_form_label: str = "closed form"):
    """Rejection rate ± 1.96 MCSE against the first swept key, one line per estimator, one panel
    per value of the second swept key, the closed-form power dashed (rows with the swept keys
    and ``closed_form_power``), 80 % and α lines; a bar chart when nothing is swept."""
    rows, closed_form = _rows(summary), [_plain(r) for r in closed_form or []]
    if not swept_keys:
        return _power_bars(rows, title=title, alpha=alpha, ax=ax, closed_form=closed_form,
                           cf_label=closed_form_label)
    key = swept_keys[0]
    panel_key = swept_keys[1] if len(swept_keys) > 1 else None
    others = list(swept_keys[2:])
    panels = list(dict.fromkeys(r[panel_key] for r in rows)) if panel_key else [None]
    fig, axes = _axes(ax, len(panels), sharey=True)
    positions, ticks = _positions([r[key] for r in rows])
    for a, value in zip(axes, panels):
        _power_panel(a, _panel_rows(rows, panel_key, value), key, others,
                     _panel_rows(closed_form, panel_key, value), positions, alpha,
                     closed_form_label)
        a.set_xlabel(key)
        if ticks:
            a.set_xticks(list(positions.values()), ticks)
        if panel_key:
            a.set_title(_label(panel_key, value), fontsize="medium")
    axes[0].set_ylabel("power (all trials; type I error under the null)")
    _title(fig, title or "Simulated power, all trials (±1.96 Monte Carlo SE)")
    _legend_outside(fig, axes)
    return fig


def _power_bars(rows, *, title, alpha, ax, closed_form, cf_label):
    fig, (ax,) = _axes(ax)
    estimators = list(dict.fromkeys(r["estimator"] for r in rows))
    values = [next(r for r in rows if r["estimator"] == e) for e in estimators]
    power = [v["rejection_all"] for v in values]
    ax.bar(estimators, power, color=COLOURS[0], label="simulated",
           yerr=[1.96 * v["rejection_all_mcse"] for v in values], capsize=4)
    _failed_notes(ax, range(len(values)), power, [v["n_failed"] for v in values], "black")
    if closed_form:
        ax.axhline(closed_form[0]["closed_form_power"], color="black", ls="--", lw=1.2,
                   label=cf_label)
    _reference_lines(ax, alpha)
    ax.set_xlabel("estimator")
    ax.set_ylabel("power (all trials; type I error under the null)")
    _title(fig, title or "Simulated power, all trials (±1.96 Monte Carlo SE)")
    _legend_outside(fig, [ax])
    return fig


def _point_labels(rows, swept_keys):
    """x positions of the design points: the swept value when one numeric key, else 0..n-1."""
    combos = list(dict.fromkeys(tuple(r[k] for k in swept_keys) for r in rows))
    if len(swept_keys) == 1 and _numeric([c[0] for c in combos]):
        return {c: float(c[0]) for c in combos}, None, swept_keys[0]
    labels = [", ".join(f"{v:g}" if _numeric([v]) else str(v) for v in c) or "design"
              for c in combos]
    return {c: float(i) for i, c in enumerate(combos)}, labels, ", ".join(swept_keys) or ""


def plot_bias_coverage(summary: Sequence[dict], swept_keys: Sequence[str], *, title: str = "",
                       alpha: float = 0.05, unit: str = "outcome points",
                       estimand: str | None = None, axes=None):
    """Two panels per design point and estimator: bias ± 1.96 MCSE, and CI coverage ± 1.96 MCSE
    with the nominal 1 - α line."""
    rows = _rows(summary, estimand)
    fig, (left, right) = _axes(axes, 2, ncols=2, size=(11, 4.5))
    positions, labels, xlabel = _point_labels(rows, list(swept_keys))
    estimators = list(dict.fromkeys(r["estimator"] for r in rows))
    span = np.ptp(list(positions.values())) if len(positions) > 1 else 1.0
    step = 0.08 * (span / max(len(positions) - 1, 1))
    for i, e in enumerate(estimators):
        sel = [r for r in rows if r["estimator"] == e]
        x = np.array([positions[tuple(r[k] for k in swept_keys)] for r in sel]) \
            + (i - (len(estimators) - 1) / 2) * step
        style = dict(marker="o", ls="none", capsize=3, color=COLOURS[i % len(COLOURS)], label=e)
        left.errorbar(x, [r["bias"] for r in sel], yerr=[1.96 * r["bias_mcse"] for r in sel],
                      **style)
        right.errorbar(x, [r["coverage"] for r in sel],
                       yerr=[1.96 * r["coverage_mcse"] for r in sel], **style)
    left.axhline(0.0, color="grey", lw=1)
    right.axhline(1.0 - alpha, color="grey", ls="--", lw=1, label=f"nominal {1 - alpha:.0%}")
    _decorate_points(left, positions, labels, xlabel, f"bias ({unit})")
    _decorate_points(right, positions, labels, xlabel, "coverage of the CI (share of replicates)")
    which = f"{estimand} estimand" if estimand else "each estimator's own estimand"
    _title(fig, title or f"Bias and coverage, {which} (±1.96 Monte Carlo SE)")
    _legend_outside(fig, [left, right])
    return fig


def _decorate_points(ax, positions, labels, xlabel, ylabel) -> None:
    if labels is not None:
        ax.set_xticks(list(positions.values()), labels, rotation=30 if len(labels) > 4 else 0,
                      ha="right" if len(labels) > 4 else "center")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


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
    surviving teams, share of staff posts filled, cumulative patients lost to follow-up, teams
    disbanded (and, dashed, merged into another team); mean over replicates with a 10th-90th
    percentile band."""
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
    top = max(np.nanmax(data.disbanded, initial=0.0), np.nanmax(data.merged, initial=0.0))
    panels[3].set_ylim(0, max(1.0, float(top)) * 1.05)
    panels[3].yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    _title(fig, title or f"Trial timeline, {data.replicates} replicates (band: 10th-90th centile)")
    _legend_outside(fig, panels[:1])
    return fig


def plot_balance(values: dict, *, title: str = "", ax=None):
    """Distribution of the maximum absolute standardised mean difference between arms over team
    covariates (size, each site and team type), one box per design point (e.g. per allocation
    method)."""
    fig, (ax,) = _axes(ax, size=(8.0, 4.5))
    labels = list(values)
    data = [np.asarray(values[k], dtype=float) for k in labels]
    data = [d[np.isfinite(d)] for d in data]
    ax.boxplot(data, showmeans=True, whis=(5, 95), sym="")
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20, ha="right")
    ax.axhline(0.1, color="grey", ls=":", lw=1)
    ax.set_ylabel("max |standardised difference| between arms")
    ax.set_xlabel("design point")
    ax.set_title(title or "Chance imbalance at baseline (box 25-75 %, whiskers 5-95 %, ▲ mean)")
    return fig


def save_figure(fig, path) -> None:
    """Save atomically (temporary name, then rename) and release the figure."""
    from pathlib import Path
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    plt.close(fig)
