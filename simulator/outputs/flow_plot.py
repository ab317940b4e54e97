"""``plot_flow``: the simulated CONSORT diagram, drawn the way trialists draw it — the arms side
by side, each a column of stage boxes joined by arrows, with the boxes that leave the flow
(exits), join it (entries) or happen along it (events, dashed) to the side of the arrow.

Pure: the flow dict of ``flow.flow_counts`` in, a Figure out (nothing shown, nothing written).
Any number of side boxes between two stages is laid out one row each, so new boxes need no
change here.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from simulator.outputs.plots import ARM_COLOURS  # noqa: E402

ROW = 1.0            # one box row, in data units (y grows downwards as -row)
BOX_H = 0.72
MAIN_X, MAIN_W = 0.27, 0.46     # within an arm's column of width 1
SIDE_X, SIDE_W = 0.76, 0.40
FILL = {"main": "white", "exit": "#f1f1f1", "entry": "#eef5ec", "event": "white"}
INK = "#333333"


def _number(x: float) -> str:
    return "–" if not math.isfinite(x) else (f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}")


def box_text(box: dict, arm: str, replicates: int) -> str:
    """Label, then 'n = x' (one replicate) or 'mean (10th–90th centile)'."""
    s = box[arm]
    if replicates == 1:
        return f"{box['label']}\nn = {_number(s['mean'])}"
    if s["p10"] == s["p90"] == s["mean"]:
        return f"{box['label']}\n{_number(s['mean'])} in every trial"
    return f"{box['label']}\n{s['mean']:.1f}  ({_number(s['p10'])}–{_number(s['p90'])})"


def layout(boxes: list[dict]) -> tuple[list[tuple[dict, int, bool]], int]:
    """(box, row, at the side) for one group, and the rows used: a main box takes a row, the
    side boxes between two main boxes one row each below it."""
    if not boxes or boxes[0]["kind"] != "main" or boxes[-1]["kind"] != "main":
        raise ValueError("a flow group must start and end with a 'main' box")
    placed, row = [], -1
    for box in boxes:
        row += 1
        placed.append((box, row, box["kind"] != "main"))
    return placed, row + 1


def _rect(ax, x: float, y: float, w: float, text: str, *, edge: str, kind: str) -> None:
    ax.add_patch(Rectangle((x - w / 2, y - BOX_H / 2), w, BOX_H, facecolor=FILL[kind],
                           edgecolor=edge, linewidth=1.3 if kind == "main" else 1.0,
                           linestyle="--" if kind == "event" else "-"))
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, color=INK,
            fontweight="bold" if kind == "main" else "normal", linespacing=1.35)


def _arrow(ax, start, end, *, dashed: bool = False) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(
        arrowstyle="-|>", color=INK, lw=1.0, shrinkA=0, shrinkB=0, mutation_scale=11,
        linestyle="--" if dashed else "-"))


def _side_arrow(ax, x0: float, y: float, kind: str) -> None:
    """From the stage line to a side box (exit, event), or from it to the line (entry)."""
    line, edge = x0 + MAIN_X, x0 + SIDE_X - SIDE_W / 2
    if kind == "entry":
        _arrow(ax, (edge, y), (line, y))
    else:
        _arrow(ax, (line, y), (edge, y), dashed=kind == "event")


def _draw_arm(ax, placed, top: float, x0: float, arm: str, replicates: int) -> None:
    colour = ARM_COLOURS[arm]
    mains = [(box, row) for box, row, side in placed if not side]
    for (_, r0), (_, r1) in zip(mains, mains[1:]):
        _arrow(ax, (x0 + MAIN_X, top - r0 * ROW - BOX_H / 2), (x0 + MAIN_X, top - r1 * ROW + BOX_H / 2))
    for box, row, side in placed:
        y = top - row * ROW
        text = box_text(box, arm, replicates)
        if side:
            _side_arrow(ax, x0, y, box["kind"])
            _rect(ax, x0 + SIDE_X, y, SIDE_W, text, edge="#777777", kind=box["kind"])
        else:
            _rect(ax, x0 + MAIN_X, y, MAIN_W, text, edge=colour, kind="main")


def _arm_headers(ax, arms, y: float) -> None:
    for i, arm in enumerate(arms):
        ax.add_patch(Rectangle((i + 0.02, y - 0.3), 0.96, 0.6, facecolor=ARM_COLOURS[arm],
                               edgecolor="none", alpha=0.9))
        ax.text(i + 0.5, y, f"{arm.capitalize()} arm", ha="center", va="center",
                fontsize=11, fontweight="bold", color="white")


def _footnote(counts: dict) -> str:
    n = counts["replicates"]
    if n == 1:
        return "One simulated trial (crtsim draw): counts of that trial."
    return (f"Mean over {n} simulated trials (10th–90th centile). Patients are counted in the "
            "arm they were randomised to; dashed: events that do not change the count; grey: "
            "leaving the flow; green: joining it.")


def plot_flow(counts: dict, *, title: str = ""):
    """The CONSORT-style flow of ``flow.flow_counts`` (module docstring) as a Figure."""
    groups = [(g, *layout(g["boxes"])) for g in counts["groups"]]
    rows = sum(used + 1 for _, _, used in groups)
    fig, ax = plt.subplots(figsize=(12, 0.62 * rows + 1.4))
    ax.set_xlim(0, len(counts["arms"]))
    ax.set_ylim(-rows + 0.1, 1.0)
    ax.axis("off")
    _arm_headers(ax, counts["arms"], 0.6)
    top = -0.4
    for group, placed, used in groups:
        ax.text(0.005, top, group["title"], ha="left", va="center", fontsize=11,
                fontweight="bold", color=INK)
        ax.axhline(top - 0.3, color="#cccccc", lw=0.8)
        for i, arm in enumerate(counts["arms"]):
            _draw_arm(ax, placed, top - ROW, float(i), arm, counts["replicates"])
        top -= (used + 1) * ROW
    where = f" ({counts['where']})" if counts.get("where") else ""
    fig.suptitle((title or "Simulated CONSORT flow") + where, fontsize=12)
    height = fig.get_figheight()
    fig.text(0.5, 0.15 / height, _footnote(counts), ha="center", fontsize=8.5, color="#555555")
    fig.subplots_adjust(left=0.02, right=0.98, top=1 - 0.55 / height, bottom=0.4 / height)
    return fig
