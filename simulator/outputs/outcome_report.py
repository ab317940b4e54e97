"""Every outcome in the report (issue 15): a power bar per outcome (outcome_power.png), a
performance table per outcome, and the multiplicity families of families.csv."""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Sequence

import numpy as np

from simulator.outputs.files import parse_cell, read_csv
from simulator.outputs.report_html import fmt, summary_section, table


def outcome_labels(summary: Sequence[dict]) -> list[str]:
    return list(dict.fromkeys(r.get("outcome") for r in summary if r.get("outcome")))


def first_estimator_rows(summary: Sequence[dict], outcome: str) -> list[dict]:
    """The ITT rows of an outcome's first estimator, one per design point."""
    rows = [r for r in summary if r.get("outcome") == outcome and r["estimand"] == "itt"]
    return [r for r in rows if r["estimator"] == rows[0]["estimator"]] if rows else []


def plot_outcome_power(summary: Sequence[dict], swept_keys: Sequence[str], *, alpha: float,
                       title: str = ""):
    """Grouped bars: each outcome's power (its first analysis, all trials, ±1.96 MCSE), one
    bar per design point."""
    import matplotlib.pyplot as plt

    outcomes = outcome_labels(summary)
    groups = [first_estimator_rows(summary, o) for o in outcomes]
    points = max(len(g) for g in groups)
    width = 0.8 / points
    fig, ax = plt.subplots(figsize=(max(7.5, 1.3 * len(outcomes)), 4.5), layout="constrained")
    x = np.arange(len(outcomes))
    for j in range(points):
        rows = [g[j] if j < len(g) else None for g in groups]
        power = [r["rejection_all"] if r else np.nan for r in rows]
        err = [1.96 * r["rejection_all_mcse"] if r else 0.0 for r in rows]
        label = ", ".join(f"{k} = {rows[0][k]}" for k in swept_keys) if rows[0] else ""
        ax.bar(x + (j - (points - 1) / 2) * width, power, width, yerr=err, capsize=3,
               label=label or None)
    ax.axhline(alpha, color="grey", ls=":", lw=1)
    ax.axhline(0.8, color="grey", ls="--", lw=1)
    names = [f"{o.split(':', 1)[-1]}\n({g[0]['estimator']})" for o, g in zip(outcomes, groups)]
    ax.set_xticks(x, names, fontsize="small")
    ax.set_ylim(0, 1)
    ax.set_ylabel("power (all trials; type I error under the null)")
    ax.set_title(title or "Power of each outcome (±1.96 MCSE)", fontsize="medium")
    if swept_keys:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def outcomes_section(summary: Sequence[dict], swept_keys: list[str]) -> str:
    """One performance table per secondary outcome (the primary's is the main table)."""
    outcomes = outcome_labels(summary)
    if len(outcomes) < 2:
        return ""
    parts = ["<h2>Every outcome</h2>"]
    for o in outcomes[1:]:
        rows = [r for r in summary if r.get("outcome") == o]
        section = summary_section(rows, swept_keys).replace("<h2>Performance</h2>", "", 1)
        section = section.replace('id="summary-table"', f'id="summary-{escape(o)}"', 1)
        parts.append(f"<h3>{escape(o)}</h3>\n{section}")
    return "\n".join(parts)


FAMILY_MEASURES = ("disjunctive_power", "conjunctive_power", "fwer")


def families_section(path: Path, swept_keys: list[str]) -> str:
    """families.csv as a table (each measure with its MCSE); "" when there are no families."""
    if not Path(path).exists():
        return ""
    header, raw = read_csv(path)
    if not raw:
        return ""
    rows = [dict(zip(header, map(parse_cell, r))) for r in raw]
    outcomes = [h[len("power."):] for h in header if h.startswith("power.") and not h.endswith("_mcse")]
    head = [*map(escape, swept_keys), "family", "method", "outcomes",
            *(f"power {escape(o)}" for o in outcomes), "any rejects", "all reject", "FWER"]
    cells = []
    for r in rows:
        pair = lambda k: f"{fmt(r.get(k))} ({fmt(r.get(k + '_mcse'))})" \
            if fmt(r.get(k)) != "–" else "–"  # noqa: E731
        cells.append([*(fmt(r[k]) for k in swept_keys), fmt(r["family"]), fmt(r["method"]),
                      fmt(r["outcomes"]), *(pair(f"power.{o}") for o in outcomes),
                      *(pair(k) for k in FAMILY_MEASURES)])
    note = ("<p class=note>families.csv: each family's p-values adjusted together per replicate "
            "(family_p_values.csv); power per outcome after adjustment, any rejects "
            "(disjunctive), all reject (conjunctive: the co-primary success probability), "
            "FWER over the outcomes whose true effect is null; MCSE in brackets.</p>")
    return "<h2>Multiplicity and co-primary outcomes</h2>\n" + \
        table(head, cells, left=len(swept_keys) + 3) + note
