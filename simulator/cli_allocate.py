"""``crtsim allocate SCENARIO --seed S --out DIR [--verify DIR]``: randomise the real trial
(``outputs.allocation_record``). Usage errors exit 2 with a message; a failed check exits 1."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from simulator.scenario.files import design_points, load_scenario

EXIT_USAGE = 2


def _seed(text: str) -> int:
    import argparse

    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_allocate_parser(sub) -> None:
    p = sub.add_parser("allocate", help="randomise the trial's listed teams with the simulated "
                                        "scheme, or check a recorded allocation")
    p.add_argument("scenario")
    p.add_argument("--seed", type=_seed, default=None, help="the randomisation seed (recorded)")
    p.add_argument("--out", default=None, help="new folder for the allocation files")
    p.add_argument("--verify", metavar="DIR", default=None,
                   help="re-derive the allocation recorded in DIR and compare")
    p.add_argument("--design-point", type=int, default=None,
                   help="which design point's scheme, when the scenario has a sweep")
    p.set_defaults(func=cmd_allocate)


def _point(points, index):
    from simulator.outputs.allocation_record import AllocationError

    if index is None and len(points) > 1:
        listed = "; ".join(f"{p.index}: " + ", ".join(f"{k} = {v}" for k, v in p.swept.items())
                           for p in points)
        raise AllocationError(f"the scenario has {len(points)} design points ({listed}); "
                              "choose the scheme with --design-point N")
    index = 0 if index is None else index
    if not 0 <= index < len(points):
        raise AllocationError(f"--design-point {index}: the scenario has design points "
                              f"0..{len(points) - 1}")
    return points[index]


def _request(args, points, seed, index):
    from simulator.outputs.allocation_record import Request

    point = _point(points, index)
    return Request(point.scenario, point.index, dict(point.swept), seed, args.scenario)


def _verify(args, points) -> int:
    from simulator.outputs.allocation_record import AllocationError, read_record, verify

    folder = Path(args.verify)
    record = read_record(folder)
    if args.seed is not None and args.seed != record.get("seed"):
        raise AllocationError(f"--seed {args.seed} differs from the recorded seed "
                              f"{record.get('seed')}; leave --seed out to verify")
    ok, lines = verify(folder, _request(args, points, record["seed"], record["design_point"]))
    for line in lines:
        print(f"{folder}: {line}")
    print(f"{folder}: {'verified' if ok else 'NOT verified'}")
    return 0 if ok else 1


def _report(paths: list[Path]) -> None:
    record = json.loads(next(p for p in paths if p.name == "allocation.json").read_text())
    print(f"randomised {record['teams']} teams ({record['intervention_teams']} intervention) "
          f"by {record['method']} allocation, seed {record['seed']}")
    space = next((p for p in paths if p.name == "space.json"), None)
    if space is not None:
        s = json.loads(space.read_text())
        print(f"constrained space: kept {s['n_kept']} of {s['n_allocations']} allocations "
              f"({s['metric']}); chosen score {s['chosen_score']:.4g}, cutoff {s['cutoff_score']}")
    if record.get("warning"):
        print(f"warning: {record['warning']}")
    for path in paths:
        print(f"wrote {path}")


def cmd_allocate(args) -> int:
    from simulator.outputs.allocation_record import AllocationError, write_allocation

    points = design_points(load_scenario(args.scenario))
    try:
        if args.verify is not None:
            return _verify(args, points)
        if args.seed is None or args.out is None:
            raise AllocationError("give --seed S and --out DIR (or --verify DIR)")
        _report(write_allocation(Path(args.out), _request(args, points, args.seed,
                                                          args.design_point)))
    except AllocationError as err:
        print(f"{args.scenario}: {err}", file=sys.stderr)
        return EXIT_USAGE
    return 0
