"""Write a run's outputs: summary.csv, run.json, plots, and the terminal summary table."""
from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from simulator.outputs.files import csv_text, fixed_width, format_cell, json_safe, write_atomic
from simulator.scenario.schema import Scenario
from simulator.montecarlo.store import code_hash
from simulator.planning.design_checks import design_record
from simulator.scenario.files import design_points
from simulator.montecarlo.comparisons import comparison_columns
from simulator.montecarlo.summary import summary_columns


def versions() -> dict[str, str]:
    out = {}
    for pkg in ("crtsim", "numpy", "scipy", "simpy", "pydantic", "matplotlib"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    out["python"] = platform.python_version()
    return out


def write_summary(out_dir: Path, summary: list[dict], swept_keys: list[str]) -> Path:
    header = summary_columns(swept_keys)
    return write_atomic(out_dir / "summary.csv",
                        csv_text(header, ([row.get(h) for h in header] for row in summary)))


def write_comparisons(out_dir: Path, rows: list[dict], swept_keys: list[str]) -> Path:
    """comparisons.csv: paired differences between design points (``montecarlo.comparisons``);
    the header alone when nothing is swept."""
    header = comparison_columns(swept_keys)
    return write_atomic(out_dir / "comparisons.csv",
                        csv_text(header, ([row.get(h) for h in header] for row in rows)))


def write_run_json(out_dir: Path, scenario: Scenario, result, settings,
                   command: list[str] | None = None) -> Path:
    """run.json; ``command`` is the ``crtsim run`` command line that reproduces the run."""
    info = {
        "scenario": scenario.model_dump(mode="json"),
        "seed": scenario.seed,
        "replicates": scenario.replicates,
        "design_points": len(set(result.data["design_point"].tolist())),
        "versions": versions(),
        "executor": settings.executor,
        "workers": settings.workers,
        "chunk_size": getattr(result, "chunk_size", settings.chunk_size),
        "engine": getattr(result, "engine", "simpy"),
        "engine_reason": getattr(result, "engine_reason", ""),
        "code_hash": code_hash(),
        "wall_seconds": round(result.seconds, 3),
        "replicates_computed": result.computed_replicates,
        "replicates_total": result.total_replicates,
        "replicates_per_second": round(result.computed_replicates / result.seconds, 2)
        if result.seconds > 0 else None,
        "command": command,
        "design": design_record(design_points(scenario)),
    }
    return write_atomic(out_dir / "run.json", json.dumps(json_safe(info), indent=2) + "\n")



TABLE_COLUMNS = {"teams_int": "teams int", "teams_ctl": "teams ctl", "teams_per_arm": "k",
                 "patients_analysed": "m analysed", "vif": "VIF",
                 "expected_exposure": "E[exposure]", "expected_itt_effect": "ITT effect",
                 "closed_form_power": "power"}


def power_table(rows: list[dict], swept_keys: list[str]) -> str:
    """Fixed-width text table of ``planning.closed_form.closed_form_rows`` for the terminal."""
    cells = [[_short(row[k]) for k in (*swept_keys, *TABLE_COLUMNS)] for row in rows]
    return fixed_width([*swept_keys, *TABLE_COLUMNS.values()], cells)


TABLE_HEADINGS = {"rejection_all": "power (all trials)", "rejection_all_mcse": "mcse"}


def summary_table(summary: list[dict], swept_keys: list[str]) -> str:
    """A short fixed-width table for the terminal (each estimator against its own estimand)."""
    several = len({row.get("outcome") for row in summary}) > 1
    cols = [*swept_keys, *(["outcome"] if several else []), "estimator", "estimand",
            "rejection_all", "rejection_all_mcse", "true_value", "bias", "empse", "modse",
            "coverage"]
    rows = [row for row in summary if row.get("is_target", 1)]
    if any(row.get("n_failed") for row in rows):
        cols.append("n_failed")
    cells = [[_short(row.get(c)) for c in cols] for row in rows]
    return fixed_width([TABLE_HEADINGS.get(c, c) for c in cols], cells)


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return format_cell(value)
