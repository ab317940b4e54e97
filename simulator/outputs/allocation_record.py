"""``crtsim allocate``: randomise the real trial's listed teams with the scheme that was
simulated, and record it so that it can be re-derived and checked (``--verify``).

The scheme is the design point's ``allocation:`` section applied to the team list's own
columns (nothing drawn: a column the scheme needs must be listed). The generator is replicate
0's allocation stream, ``SeedSequence(seed, spawn_key=(0, "allocation"))``
(``montecarlo.seeds``), so with recruitment as listed (cv 0) the real allocation is the one
the simulation's replicate 0 drew with that seed.

Files: ``allocation.csv`` (team, arm, and the stratum or pair), ``allocation.json`` (method,
seed, hashes of the scenario and of the allocation's inputs, crtsim version, time) and, for
constrained randomisation, ``space.json`` (``space_summary``: sizes, cutoff and chosen
scores, score distribution, tie rule; NaN written as null).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from simulator import __version__
from simulator.allocation import Allocation, allocate, intervention_count
from simulator.model.replicate import allocation_settings
from simulator.montecarlo.seeds import stream
from simulator.outputs.files import csv_text, json_safe, write_atomic

FILES = ("allocation.csv", "allocation.json", "space.json")
STRATIFIED = ("stratified", "minimisation")


class AllocationError(Exception):
    """A real allocation that cannot be made or checked; the message says why."""


def needed_columns(scenario) -> tuple[str, ...]:
    """The team-list columns the scheme reads."""
    a = scenario.allocation
    if a.method == "constrained":
        return tuple(a.balance_on)
    return tuple(a.strata) if a.method != "simple" else ()


def listed_covariates(scenario) -> dict[str, np.ndarray]:
    """The team list's columns as allocation sees them; AllocationError if the scheme needs a
    column the list does not have (a real allocation uses only what is known)."""
    table = scenario.trial.team_table
    if table is None:
        raise AllocationError("allocate randomises the trial's own teams: give them in "
                              "trial.teams_file or trial.team_list")
    standard = {"site": table.site, "team_type": table.team_type,
                "patients": None if table.patients is None else table.patients.astype(float),
                "staff": None if table.staff is None else table.staff.astype(float)}
    covariates = {k: v for k, v in standard.items() if v is not None} | table.complete_covariates()
    missing = [n for n in needed_columns(scenario) if n not in covariates]
    if missing:
        raise AllocationError(f"allocation.{scenario.allocation.method} uses "
                              f"{', '.join(missing)}, which the team list does not give; a "
                              "real allocation can only use listed columns")
    return covariates


def real_allocation(scenario, seed: int) -> Allocation:
    """The listed teams randomised by the scenario's scheme from the seed's stream (the
    settings name only the columns the method reads, so others need not be listed)."""
    covariates = listed_covariates(scenario)
    n_int = intervention_count(scenario.trial.teams, scenario.trial.intervention_share)
    constrained = scenario.allocation.method == "constrained"
    settings = replace(allocation_settings(scenario),
                       strata=() if constrained else needed_columns(scenario),
                       balance_on=needed_columns(scenario) if constrained else ())
    return allocate(settings, covariates, n_int, rng=stream(seed, 0, "allocation"))


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def hashes(scenario) -> dict[str, str]:
    """scenario_hash: the resolved design point (replicates and description aside);
    inputs_hash: what the allocation depends on (team list, arm share, allocation section)."""
    dump = scenario.model_dump(mode="json", exclude={"replicates", "description", "sweep"})
    inputs = {"team_list": dump["trial"]["team_list"], "allocation": dump["allocation"],
              "intervention_share": dump["trial"]["intervention_share"]}
    return {"scenario_hash": _digest(dump), "inputs_hash": _digest(inputs)}


def _stratum_labels(scenario, covariates, k: int) -> list[str]:
    names = scenario.allocation.strata
    return ["; ".join(f"{n}={_text(covariates[n][j])}" for n in names) for j in range(k)]


def _text(value) -> str:
    return format(float(value), "g") if isinstance(value, (float, np.floating)) else str(value)


def allocation_table(scenario, allocation: Allocation) -> dict[str, list]:
    """allocation.csv columns: team, arm, then stratum (stratified, minimisation) or pair."""
    table = scenario.trial.team_table
    arm = allocation.arm
    out = {"team": table.names.tolist(),
           "arm": ["intervention" if a == 1 else "control" for a in arm.tolist()]}
    method = scenario.allocation.method
    if method in STRATIFIED:
        out["stratum"] = _stratum_labels(scenario, listed_covariates(scenario), arm.size)
    elif method == "matched_pairs":
        labels = allocation.scheme.pair_labels(arm)
        out["pair"] = [int(p) + 1 if p >= 0 else None for p in labels.tolist()]
    return out


def json_text(value) -> str:
    return json.dumps(json_safe(value), indent=2) + "\n"


@dataclass(frozen=True)
class Request:
    """What to allocate: a design point's scenario, the seed, where the scenario came from."""

    scenario: object
    design_point: int
    swept: dict
    seed: int
    source: str


def allocation_files(request: Request, created: str) -> dict[str, str]:
    """The text of each file of the allocation (allocation.json last)."""
    s = request.scenario
    allocation = real_allocation(s, request.seed)
    table = allocation_table(s, allocation)
    files = {"allocation.csv": csv_text(list(table), zip(*table.values()))}
    if s.allocation.method == "constrained":
        files["space.json"] = json_text(allocation.scheme.space_record(allocation.arm))
    record = {"method": s.allocation.method, "seed": request.seed,
              "design_point": request.design_point, "swept": request.swept,
              "scenario": request.source, **hashes(s), "crtsim_version": __version__,
              "created": created, "teams": allocation.n_teams,
              "intervention_teams": allocation.n_intervention,
              "team_list": s.trial.teams_file or "trial.team_list",
              "stream": "SeedSequence(seed, spawn_key=(0, 'allocation')): replicate 0's",
              "allocation": s.allocation.model_dump(mode="json"), "files": list(files),
              "warning": allocation.info.get("warning")}
    return {**files, "allocation.json": json_text(record)}


def write_allocation(out: Path, request: Request) -> list[Path]:
    """Write the allocation's files into ``out``; AllocationError if it holds one already."""
    present = [f for f in FILES if (out / f).exists()]
    if present:
        raise AllocationError(f"{out} already holds an allocation ({', '.join(present)}); a "
                              "trial is randomised once: choose a new --out folder, or check "
                              f"this one with --verify {out}")
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return [write_atomic(out / name, text)
            for name, text in allocation_files(request, created).items()]


def read_record(folder: Path) -> dict:
    try:
        return json.loads((folder / "allocation.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AllocationError(f"{folder}: no readable allocation.json "
                              f"({err.__class__.__name__}: {err})") from None


def verify(folder: Path, request: Request) -> tuple[bool, list[str]]:
    """Re-derive the allocation from its record (seed, design point) and compare the files."""
    record = read_record(folder)
    now = hashes(request.scenario)
    if record.get("inputs_hash") != now["inputs_hash"]:
        return False, [f"the allocation's inputs (team list, arm share, allocation section) "
                       f"changed since it was made: hash {record.get('inputs_hash')}, now "
                       f"{now['inputs_hash']}"]
    fresh = allocation_files(request, record.get("created", ""))
    lines = []
    for name in (n for n in fresh if n != "allocation.json"):
        path = folder / name
        same = path.exists() and path.read_text(encoding="utf-8") == fresh[name]
        lines.append(f"{name}: {'matches' if same else 'DOES NOT MATCH'} the allocation "
                     f"re-derived from seed {request.seed}")
    if record.get("scenario_hash") != now["scenario_hash"]:
        lines.append("note: other parts of the scenario changed since (not the allocation's)")
    return all("DOES NOT" not in line for line in lines), lines
