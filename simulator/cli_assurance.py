"""Assurance on the command line: ``crtsim power`` on a scenario with priors, and the goal of
``crtsim solve`` (``--target-power`` or ``--target-assurance``).

Power is at the file's values (the point guesses); assurance is the power averaged over the
priors (``planning.assurance``).  ``--target-power`` on a scenario with priors therefore
simulates without them, and ``--target-assurance`` needs them.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Callable

from simulator.scenario.schema import Scenario

ASSURANCE_WORDS = "assurance (power over all trials, each drawing its inputs from the priors)"


def _assurance_measure() -> Callable[[Scenario, "str | None"], float]:
    """The closed-form assurance of a scenario, each distinct scenario computed once (the
    solver's search asks for some values twice; each costs up to 256 closed-form powers)."""
    from simulator.planning.assurance import closed_form_assurance

    seen: dict[str, float] = {}

    def measure(s: Scenario, estimator: str | None) -> float:
        key = json.dumps([s.model_dump(mode="json"), estimator], sort_keys=True)
        if key not in seen:
            seen[key] = closed_form_assurance(s, estimator=estimator).assurance
        return seen[key]
    return measure


@dataclass(frozen=True)
class Goal:
    scenario: Scenario          # what is simulated: with priors for assurance, without for power
    target: float
    words: str                  # "power" or ASSURANCE_WORDS
    measure: Callable | None    # the closed form solved for the start (None: closed-form power)


def solve_goal(scenario: Scenario, args) -> Goal | None:
    """The goal of ``crtsim solve`` from its arguments; None (after a message) if impossible."""
    from simulator.scenario.prior_keys import with_values

    if args.target_assurance is None:
        if scenario.priors:
            print(f"{args.scenario}: --target-power is the power at the file's values; the "
                  "priors are left out (use --target-assurance to average over them)",
                  file=sys.stderr)
            scenario = with_values(scenario, {})
        return Goal(scenario, args.target_power, "power", None)
    if not scenario.priors:
        print(f"{args.scenario}: --target-assurance needs a priors: section (the uncertain "
              "inputs to average the power over)", file=sys.stderr)
        return None
    if args.vary in scenario.priors:
        print(f"{args.scenario}: {args.vary} has a prior, so solve cannot vary it",
              file=sys.stderr)
        return None
    return Goal(scenario, args.target_assurance, ASSURANCE_WORDS, _assurance_measure())


def assurance_lines(scenario: Scenario, rows: list[dict]) -> list[str]:
    """The terminal lines after the power table: the priors, then assurance per design point."""
    from simulator.scenario.prior_keys import prior_lines

    lines = prior_lines(scenario)
    for row in rows:
        where = ", ".join(f"{k} = {row[k]}" for k in scenario.sweep)
        lines.append(f"{where + ': ' if where else ''}closed-form assurance "
                     f"{row['closed_form_assurance']:.4f} against power "
                     f"{row['closed_form_power_at_point']:.4f} at the point guesses "
                     f"(numerical error {row['assurance_error']:.1g}: "
                     f"{row['assurance_method']}, "
                     f"{row['assurance_evaluations']} closed-form powers)")
    return lines


def print_assurance(scenario: Scenario, rows: list[dict], args) -> int:
    """``crtsim power`` with priors: the closed-form power at the point guesses and the
    closed-form assurance of each design point (JSON: one object per point with both)."""
    from simulator.outputs.tables import power_table
    from simulator.planning.assurance import assurance_rows

    extra = assurance_rows(scenario, estimator=args.estimator)
    rows = [{**row, **more} for row, more in zip(rows, extra)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{scenario.name}: closed-form power at the point guesses (the file's values) and "
          f"assurance over the priors, two-sided alpha {scenario.analysis.alpha:g} "
          f"({'baseline-adjusted' if rows[0]['baseline_adjusted'] else 'unadjusted'} analysis)")
    print(power_table(rows, list(scenario.sweep)))
    for line in assurance_lines(scenario, rows):
        print(line)
    return 0
