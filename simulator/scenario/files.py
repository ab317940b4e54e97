"""Scenario files: YAML -> validated Scenario -> design points (sweep expansion).

All problems of a file are collected and reported together, each as
``FILE: field.path: value -- what is allowed`` (STYLE.md principle 8).
"""
from __future__ import annotations

import copy
import itertools
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ValidationError

from simulator.scenario.schema import Scenario, check_consistency
from simulator.scenario.outcome_sections import SECONDARY_TYPES
from simulator.scenario.teams import resolve_team_file


class ScenarioError(Exception):
    """A scenario the user must fix; ``problems`` are ready-to-print lines."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


@dataclass(frozen=True)
class DesignPoint:
    """One cell of the sweep grid: a fully resolved scenario and the swept values that made it."""

    index: int
    scenario: Scenario
    swept: Mapping[str, Any]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(model: type[BaseModel], loc: tuple) -> str:
    """The keys allowed where an unknown key was found, for the error message."""
    parts = list(loc[:-1])
    if len(parts) >= 3 and parts[0] == "secondary_outcomes" and parts[2] in SECONDARY_TYPES:
        model, parts = SECONDARY_TYPES[parts[2]], parts[3:]   # [i].<type>.key of the union
    while parts:
        field = model.model_fields.get(str(parts.pop(0)))
        ann = getattr(field, "annotation", None) if field else None
        if typing.get_origin(ann) is tuple and parts and isinstance(parts[0], int):
            ann, parts = typing.get_args(ann)[0], parts[1:]    # an entry of a list of sections
        entry = typing.get_args(ann)[-1] if typing.get_origin(ann) is dict else None
        if isinstance(entry, type) and issubclass(entry, BaseModel) and parts:
            model, parts = entry, parts[1:]      # a mapping of sections, e.g. priors.<key>
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return ""
    return ", ".join(model.model_fields)


def _format_pydantic(err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        if e["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key; allowed here: {_allowed_keys(Scenario, loc)}")
        elif e["type"] == "missing":
            lines.append(f"{path}: required key is missing")
        else:
            lines.append(f"{path}: {_describe(e.get('input'))} -- {e['msg']}")
    return lines


def parse_scenario(data: Any, source: str = "<scenario>", *, base_dir: str | Path | None = None,
                   problems: tuple[str, ...] = ()) -> Scenario:
    """Validate a plain mapping (as read from YAML) into a Scenario, or raise ScenarioError.

    ``trial.teams_file`` is read relative to ``base_dir`` (default: the working folder) into
    ``trial.team_list``; ``problems`` found by the caller are reported with the others."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(source, [f"the file is {kind}; a scenario is a mapping with at least `name:`"])
    data, file_problems = resolve_team_file(data, Path(base_dir) if base_dir else Path.cwd())
    problems = [*problems, *file_problems]
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(source, problems + _format_pydantic(err)) from None
    problems += [f"{p}: {_describe(v)} -- {msg}" for p, v, msg in check_consistency(scenario)]
    problems += _sweep_problems(scenario, data)
    problems += _prior_problems(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def _prior_problems(scenario: Scenario) -> list[str]:
    """Problems of the ``priors:`` section (``prior_keys``; imported here, as it builds on
    this module's key resolution)."""
    if not scenario.priors:
        return []
    from simulator.scenario.prior_keys import prior_problems
    return prior_problems(scenario)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(source, [f"cannot read the file ({err.__class__.__name__}: {err})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ScenarioError(source, [f"not valid YAML: {err}".replace("\n", " ")]) from None
    return parse_scenario(data, source, base_dir=path.parent, problems=_both_lists(data))


def _both_lists(data: Any) -> tuple[str, ...]:
    """A file may give its teams as a file or inline, not both."""
    trial = data.get("trial") if isinstance(data, dict) else None
    if isinstance(trial, dict) and trial.get("teams_file") is not None \
            and trial.get("team_list") is not None:
        return ("trial.teams_file, trial.team_list: give the teams in a file or inline, not both",)
    return ()


def set_dotted(data: dict, dotted: str, value: Any) -> dict:
    """A deep copy of ``data`` with ``a.b.c`` set to ``value``."""
    out = copy.deepcopy(data)
    node = out
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise KeyError(dotted)
    node[leaf] = value
    return out


def _known_path(dotted: str) -> bool:
    """A sweep key names a leaf parameter (or one entry of a share/effect mapping)."""
    model: type[BaseModel] = Scenario
    parts = dotted.split(".")
    if parts[0] in ("name", "sweep") or dotted in ("trial.teams_file", "trial.team_list"):
        return False
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        ann = field.annotation
        last = i == len(parts) - 1
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
            if last:
                return False
        elif not last:
            return isinstance(field.default, dict) and i == len(parts) - 2
    return True


def _sweep_problems(scenario: Scenario, data: dict) -> list[str]:
    """Problems of the sweep keys and of each design point (none without a sweep: the file's
    own problems are reported once, by ``parse_scenario``)."""
    if not scenario.sweep:
        return []
    problems = []
    for key, values in scenario.sweep.items():
        if key in ("trial.teams_file", "trial.team_list"):
            problems.append(f"sweep.{key}: a team list cannot be swept; write one scenario "
                            "file per list")
        elif not _known_path(key):
            problems.append(f"sweep.{key}: unknown parameter; use a dotted key such as trial.teams")
        elif len(values) == 0:
            problems.append(f"sweep.{key}: empty list; give at least one value")
    if problems:
        return problems
    for point in _grid(scenario.sweep):
        resolved = _resolved_data(data, point)
        try:
            check = Scenario.model_validate(resolved)
        except ValidationError as err:
            problems += [f"sweep {_describe(point)}: {line}" for line in _format_pydantic(err)]
            continue
        problems += [f"sweep {_describe(point)}: {p}: {_describe(v)} -- {m}"
                     for p, v, m in check_consistency(check)]
    return sorted(set(problems), key=problems.index)


def _grid(sweep: Mapping[str, tuple]) -> list[dict[str, Any]]:
    keys = list(sweep)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(sweep[k] for k in keys))]


def _resolved_data(data: dict, point: Mapping[str, Any]) -> dict:
    out = {k: v for k, v in data.items() if k != "sweep"}
    for key, value in point.items():
        out = set_dotted(out, key, value)
    return out


def design_points(scenario: Scenario) -> list[DesignPoint]:
    """Expand the sweep into its cross-product (first key varies slowest); no sweep -> one point."""
    if not scenario.sweep:
        return [DesignPoint(index=0, scenario=scenario, swept={})]
    base = scenario.model_dump(exclude={"sweep"})
    points = []
    for i, point in enumerate(_grid(scenario.sweep)):
        resolved = Scenario.model_validate(_resolved_data(base, point))
        points.append(DesignPoint(index=i, scenario=resolved, swept=point))
    return points
