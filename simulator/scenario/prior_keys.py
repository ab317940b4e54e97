"""The ``priors:`` section against the scenario: which keys may carry a prior, their allowed
ranges, and the scenario a set of drawn values gives.

A prior may sit on any numeric parameter of the model sections (trial, outcome, intervention,
staff_turnover, reconfiguration, dropout, allocation), named by a dotted key as a sweep key is
(``files._known_path``), including one entry of an effect mapping
(``outcome.team_type_effects.assertive_outreach``).  Not allowed: keys that are not numbers,
the analysis (a choice, not an uncertain input, and fixed across a batch of trials), and a key
that is also swept (the sweep fixes what the prior would draw).

Allowed range.  A prior must stay inside the key's range (the schema's bounds): more than
``TAIL`` = 1e-9 of probability beyond a bound is an error, found by its quantiles at ``TAIL``
and 1 - ``TAIL`` (use beta, gamma, lognormal or truncated_normal to respect a bound).  A draw
beyond a bound, possible only in those tails, is moved onto the bound (the nearest allowed
number for a strict bound).  An integer key takes the draw rounded to the nearest integer.
The scenarios at both tail quantiles of each prior (the others at the file's values) must pass
every cross-field check too, so that no draw can give an invalid trial.
"""
from __future__ import annotations

import math
import typing
from typing import Any, Mapping

import numpy as np
from pydantic import BaseModel

from simulator.scenario.files import ScenarioError, _known_path, parse_scenario, set_dotted
from simulator.scenario.priors import describe, parameter_problems, quantile
from simulator.scenario.schema import Scenario

TAIL = 1e-9
SECTIONS = ("trial", "outcome", "intervention", "staff_turnover", "reconfiguration", "dropout",
            "allocation")


def _leaf(dotted: str) -> tuple[Any, list]:
    """(annotation, constraint metadata) of the field a known dotted key names."""
    model: type[BaseModel] = Scenario
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        field = model.model_fields[part]
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            model = field.annotation
            continue
        if i == len(parts) - 1:
            return field.annotation, list(field.metadata)
        value = typing.get_args(field.annotation)[1]          # dict[str, value]: one entry
        inner = typing.get_args(value)
        return (inner[0], list(inner[1].metadata)) if inner else (value, [])
    raise KeyError(dotted)


def numeric_type(annotation) -> type | None:
    """int or float for a numeric annotation (Optional allowed), else None (bool is not)."""
    options = [a for a in (typing.get_args(annotation) or (annotation,)) if a is not type(None)]
    if len(options) == 1 and options[0] in (int, float):
        return options[0]
    return None


def allowed_range(dotted: str) -> tuple[float, float, bool, bool]:
    """(low, high, low is strict, high is strict) of a key, from its schema bounds."""
    low, high, strict_low, strict_high = -math.inf, math.inf, False, False
    for m in _leaf(dotted)[1]:
        for name, strict in (("ge", False), ("gt", True)):
            if getattr(m, name, None) is not None:
                low, strict_low = float(getattr(m, name)), strict
        for name, strict in (("le", False), ("lt", True)):
            if getattr(m, name, None) is not None:
                high, strict_high = float(getattr(m, name)), strict
    return low, high, strict_low, strict_high


def _range_text(dotted: str) -> str:
    low, high, sl, sh = allowed_range(dotted)
    return f"{'(' if sl else '['}{low:g}, {high:g}{')' if sh else ']'}"


def bounded(dotted: str, values: np.ndarray) -> np.ndarray:
    """Draws moved into the key's allowed range, and rounded for an integer key."""
    low, high, strict_low, strict_high = allowed_range(dotted)
    if numeric_type(_leaf(dotted)[0]) is int:
        low = math.floor(low) + 1 if strict_low and low == math.floor(low) else math.ceil(low)
        high = math.ceil(high) - 1 if strict_high and high == math.ceil(high) else math.floor(high)
        return np.clip(np.rint(values), low, high).astype(int)
    low = np.nextafter(low, math.inf) if strict_low else low
    high = np.nextafter(high, -math.inf) if strict_high else high
    return np.clip(values, low, high)


def values_at(scenario: Scenario, u: np.ndarray) -> list[dict[str, float]]:
    """The priors' values at uniform numbers u, shape (points, priors) in ``scenario.priors``
    order: one {key: value} per row (bounded and rounded as the module docstring says)."""
    u = np.atleast_2d(np.asarray(u, dtype=float))
    columns = [bounded(key, quantile(prior, u[:, j]))
               for j, (key, prior) in enumerate(scenario.priors.items())]
    return [{key: col[i].item() for key, col in zip(scenario.priors, columns)}
            for i in range(u.shape[0])]


def with_values(scenario: Scenario, values: Mapping[str, float]) -> Scenario:
    """The validated scenario with these values set and no priors (one replicate's trial)."""
    data = {**scenario.model_dump(mode="json"), "priors": {}}
    for key, value in values.items():
        data = set_dotted(data, key, value)
    return parse_scenario(data, source="the scenario with values drawn from its priors")


def point_values(scenario: Scenario) -> dict[str, Any]:
    """The file's values of the keys that carry a prior (the point guesses)."""
    out = {}
    for key in scenario.priors:
        node = scenario.model_dump()
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out[key] = node
    return out


def _key_problem(key: str, scenario: Scenario) -> str | None:
    if key.split(".")[0] not in SECTIONS:
        what = "the analysis is a choice, not an uncertain input" if key.startswith("analysis.") \
            else "not a model parameter"
        return f"{what}; a prior goes on a key of {', '.join(SECTIONS)}"
    if not _known_path(key):
        return "unknown parameter; use a dotted key such as outcome.icc"
    if numeric_type(_leaf(key)[0]) is None:
        return "not a number; a prior needs a numeric parameter"
    if key in scenario.sweep:
        return "also swept; a key is either swept (fixed per design point) or given a prior"
    return None


def _tail_problems(key: str, prior, scenario: Scenario) -> list[str]:
    """The prior's tails inside the key's range, and valid scenarios at both tails."""
    low, high, strict_low, strict_high = allowed_range(key)
    ends = quantile(prior, np.array([TAIL, 1.0 - TAIL]))
    if numeric_type(_leaf(key)[0]) is int:
        ends = np.rint(ends)
    outside = [(ends[0] < low or (strict_low and ends[0] <= low)), (ends[1] > high or (
        strict_high and ends[1] >= high))]
    if any(outside):
        side, end = ("below", ends[0]) if outside[0] else ("above", ends[1])
        return [f"{describe(prior)} puts more than {TAIL:g} of its probability {side} the "
                f"allowed range {_range_text(key)} (its {TAIL:g}-tail quantile is {end:.4g}); "
                "use beta, gamma, lognormal or truncated_normal to stay inside"]
    out = []
    for end in ends:
        value = bounded(key, np.array([end]))[0].item()
        try:
            with_values(scenario, {key: value})
        except ScenarioError as err:
            out += [f"a draw of {value:.4g} gives an invalid scenario: {p}" for p in err.problems]
    return out


def prior_problems(scenario: Scenario) -> list[str]:
    """Every problem of the ``priors:`` section, as ``priors.KEY: ... -- what is allowed``."""
    out = []
    for key, prior in scenario.priors.items():
        problems = [p for p in [_key_problem(key, scenario)] if p]
        problems = problems or parameter_problems(prior)
        problems = problems or _tail_problems(key, prior, scenario)
        out += [f"priors.{key}: {p}" for p in problems]
    return out


def central_range(key: str, prior) -> tuple[float, float]:
    """The 5 % and 95 % quantiles of the values drawn for ``key`` (bounded, rounded)."""
    lo, hi = bounded(key, quantile(prior, np.array([0.05, 0.95]))).tolist()
    return lo, hi


def prior_lines(scenario: Scenario) -> list[str]:
    """One line per prior for ``crtsim validate``: key, distribution, 5-95 % range, file value."""
    points = point_values(scenario)
    lines = []
    for key, prior in scenario.priors.items():
        lo, hi = central_range(key, prior)
        lines.append(f"prior {key} ~ {describe(prior)}; 90 % between {lo:.4g} and {hi:.4g} "
                     f"(value in the file, the point guess: {points[key]})")
    return lines
