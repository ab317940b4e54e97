"""Command line: ``crtsim validate | draw | run | power | solve | report``.

User mistakes (a bad scenario file, a missing folder) print a clear message and exit 2, never
a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .scenario_file import ScenarioError, design_points, load_scenario

EXIT_USAGE = 2


def _print_errors(err: ScenarioError) -> int:
    print(f"{err.source}: {len(err.problems)} problem(s) in the scenario:", file=sys.stderr)
    for line in err.problems:
        print(f"  {err.source}: {line}", file=sys.stderr)
    return EXIT_USAGE


def cmd_validate(args) -> int:
    from .derived import derived_quantities

    scenario = load_scenario(args.scenario)
    points = design_points(scenario)
    print(f"{args.scenario}: valid scenario '{scenario.name}' "
          f"({len(points)} design point(s) x {scenario.replicates} replicates, seed {scenario.seed})")
    if scenario.description:
        print(f"  {scenario.description}")
    for point in points:
        if point.swept:
            print("design point " + ", ".join(f"{k} = {v}" for k, v in point.swept.items()))
        for name, value in derived_quantities(point.scenario).items():
            print(f"  {name:<58} {value}")
    return 0


def cmd_draw(args) -> int:
    from .draw import write_replicate
    from .replicate import simulate_replicate

    scenario = load_scenario(args.scenario)
    points = design_points(scenario)
    if not 0 <= args.design_point < len(points):
        print(f"--design-point {args.design_point}: the scenario has design points 0..{len(points) - 1}",
              file=sys.stderr)
        return EXIT_USAGE
    rep = simulate_replicate(points[args.design_point].scenario, args.design_point, args.replicate)
    out = Path(args.out) if args.out else Path("outputs") / scenario.name / "draw" / \
        f"d{args.design_point}_r{args.replicate}"
    for path in write_replicate(rep, out):
        print(f"wrote {path}")
    d = rep.diagnostics
    print(f"patients randomised {d['patients_randomised']}, analysed {d['patients_analysed']}; "
          f"teams disbanded {d['teams_disbanded']}; mean fidelity at follow-up (intervention) "
          f"{d['mean_fidelity_int']:.3f}; true ITT effect {rep.outcomes.true_itt:.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crtsim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a scenario and print derived quantities")
    p.add_argument("scenario")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("draw", help="simulate one replicate and write its tables")
    p.add_argument("scenario")
    p.add_argument("--replicate", type=int, default=0)
    p.add_argument("--design-point", type=int, default=0)
    p.add_argument("--out", default=None, help="folder (default outputs/<name>/draw/d<D>_r<R>)")
    p.set_defaults(func=cmd_draw)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as err:
        return _print_errors(err)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
