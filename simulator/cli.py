"""Command line: ``crtsim validate | draw | run | power | solve | report | allocate``.

User mistakes (a bad scenario file, a missing folder) print a clear message and exit 2, never
a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.cli_validate import cmd_validate
from simulator.cli_args import add_engine, fraction as _fraction, \
    non_negative as _non_negative, positive as _positive
from simulator.model.fast.coverage import EngineNotCovered, choose_engine
from simulator.scenario.files import ScenarioError, design_points, load_scenario

EXIT_USAGE = 2


def _print_errors(err: ScenarioError) -> int:
    print(f"{err.source}: {len(err.problems)} problem(s) in the scenario:", file=sys.stderr)
    for line in err.problems:
        print(f"  {err.source}: {line}", file=sys.stderr)
    return EXIT_USAGE


def cmd_draw(args) -> int:
    from simulator.outputs.draw import write_replicate
    from simulator.montecarlo.engine import draw_replicate

    scenario = load_scenario(args.scenario)
    points = design_points(scenario)
    if not 0 <= args.design_point < len(points):
        print(f"--design-point {args.design_point}: the scenario has design points 0..{len(points) - 1}",
              file=sys.stderr)
        return EXIT_USAGE
    engine, why = choose_engine([p.scenario for p in points], args.engine)   # as run would
    rep = draw_replicate(points[args.design_point].scenario, args.replicate, engine=engine)
    out = Path(args.out) if args.out else Path("outputs") / scenario.name / "draw" / \
        f"d{args.design_point}_r{args.replicate}"
    for path in write_replicate(rep, out, label=f"design point {args.design_point}, "
                                f"replicate {args.replicate}"):
        print(f"wrote {path}")
    d = rep.diagnostics
    print(f"patients randomised {d['patients_randomised']}, analysed {d['patients_analysed']}; "
          f"teams disbanded {d['teams_disbanded']}; mean fidelity at follow-up (intervention) "
          f"{d['mean_fidelity_int']:.3f}; true ITT effect " + "; ".join(
              f"{o.label} {o.true_itt:.4g}" for o in rep.outcome_trials))
    print(f"engine {engine}: {why}")
    return 0


def cmd_run(args) -> int:
    from simulator.outputs.tables import (summary_table, write_comparisons, write_families,
                                          write_run_json, write_summary)
    from simulator.montecarlo.runner import RunSettings, run_scenario
    from simulator.montecarlo.executors import DaskUnavailable
    from simulator.montecarlo.store import StaleChunksError

    scenario = _with_overrides(load_scenario(args.scenario), args)
    out = Path(args.out) if args.out else Path("outputs") / scenario.name
    settings = RunSettings(out_dir=out, executor=args.executor, workers=args.workers,
                           chunk_size=args.chunk_size, fresh=args.fresh, quiet=args.quiet,
                           scheduler=args.scheduler, engine=args.engine)
    try:
        result = run_scenario(scenario, settings)
    except (StaleChunksError, DaskUnavailable) as err:
        print(str(err), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"interrupted: completed chunks are kept in {out}/chunks; run again to resume",
              file=sys.stderr)
        return 130
    write_summary(out, result.summary, result.swept_keys)
    write_comparisons(out, result.comparisons, result.swept_keys)
    write_families(out, scenario, result)
    write_run_json(out, scenario, result, settings, command=[   # workers etc. change no number
        "crtsim", "run", str(args.scenario), "--replicates", str(scenario.replicates),
        "--seed", str(scenario.seed)])
    images = _flow(out, scenario, result) if args.no_plots else _plots(out, scenario, result)
    _report(out, scenario, result, images)
    if not args.quiet:
        print(summary_table(result.summary, result.swept_keys))
        rate = result.computed_replicates / result.seconds if result.seconds else float("nan")
        print(f"{result.total_replicates} replicates ({result.computed_replicates} computed) in "
              f"{result.seconds:.1f} s, {rate:.0f} replicates/s, {result.engine} engine "
              f"({result.engine_reason}); outputs in {out}/")
    return 0


def _plots(out: Path, scenario, result) -> list[Path]:
    """power_curve.png, bias_coverage.png and timeline.png; returns the files written."""
    from simulator.outputs.report import draw_plots

    return draw_plots(out, scenario, result.summary, result.swept_keys, timeline=True,
                      engine=result.engine)   # the timeline shows the run's own replicates


def _flow(out: Path, scenario, result) -> list[Path]:
    """flow.png and flow.svg only: every run writes its CONSORT flow, --no-plots or not."""
    from simulator.outputs.report import draw_flow

    return draw_flow(out, scenario, result.summary)


def _report(out: Path, scenario, result, images: list[Path]) -> None:
    from simulator.outputs.report import read_run_info, write_report

    write_report(out, scenario, result.summary, result.swept_keys, read_run_info(out), images)


def cmd_power(args) -> int:
    import json

    from simulator.outputs.tables import power_table
    from simulator.planning.closed_form import closed_form_rows

    scenario = load_scenario(args.scenario)
    rows = closed_form_rows(scenario, estimator=args.estimator)
    if scenario.priors:
        from simulator.cli_assurance import print_assurance
        return print_assurance(scenario, rows, args)
    keys = list(scenario.sweep)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{scenario.name}: closed-form power, two-sided alpha {scenario.analysis.alpha:g} "
          f"({'baseline-adjusted' if rows[0]['baseline_adjusted'] else 'unadjusted'} analysis)")
    print(power_table(rows, keys))
    if "proportion_int" in rows[0]:
        from simulator.outputs.tables import BINARY_NOTE
        print(BINARY_NOTE)
        return 0
    print("k: harmonic mean teams per arm; m analysed: after dropout and disbanding losses;\n"
          "VIF: design effect x baseline-adjustment factor; "
          "ITT effect: delta_full x E[g(exposure)]")
    return 0


def cmd_report(args) -> int:
    from simulator.outputs.report import rebuild_report

    out = Path(args.output_dir)
    missing = [f for f in ("summary.csv", "run.json") if not (out / f).exists()]
    if missing:
        print(f"{out}: missing {', '.join(missing)}; run `crtsim run` first", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {rebuild_report(out)}")
    return 0


def cmd_solve(args) -> int:
    from simulator.cli_assurance import solve_goal
    from simulator.planning.solver import solve

    scenario = load_scenario(args.scenario)
    if scenario.sweep:
        print(f"{args.scenario}: solve works on one design point; remove the sweep "
              f"({', '.join(scenario.sweep)})", file=sys.stderr)
        return EXIT_USAGE
    goal = solve_goal(scenario, args)   # power, or assurance over the priors
    if goal is None:
        return EXIT_USAGE
    estimator = args.estimator or scenario.analysis.estimators[0]
    out = Path(args.out) if args.out else Path("outputs") / scenario.name / "solve"
    log = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr))
    solution = solve(goal.scenario, args.vary, goal.target, estimator=estimator,
                     max_replicates=args.max_replicates, out_dir=out, executor=args.executor,
                     workers=args.workers, log=log, measure=goal.measure, engine=args.engine)
    if args.json:
        import json
        print(json.dumps(solution.as_json()))
        if solution.ambiguous:
            print(solution.message, file=sys.stderr)
    else:
        print(f"target {goal.words} {goal.target:g} with {estimator}: {solution.message}")
    return 0 if solution.value is not None else 1


def _with_overrides(scenario, args):
    update = {}
    if args.replicates is not None:
        update["replicates"] = args.replicates
    if args.seed is not None:
        update["seed"] = args.seed
    if not update:
        return scenario
    from simulator.scenario.files import parse_scenario
    return parse_scenario({**scenario.model_dump(mode="json"), **update}, args.scenario)


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
    add_engine(p)
    p.set_defaults(func=cmd_draw)
    p = sub.add_parser("run", help="simulate every design point and write outputs")
    p.add_argument("scenario")
    p.add_argument("--replicates", type=_positive, default=None)
    p.add_argument("--seed", type=_non_negative, default=None)
    p.add_argument("--workers", type=_positive, default=None)
    p.add_argument("--executor", choices=("serial", "local", "dask"), default="local")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address")
    p.add_argument("--chunk-size", type=_positive, default=None,
                   help="replicates per chunk (default 25 on SimPy; 200 on the fast engine, "
                        "fewer for trials of more than 30 teams)")
    add_engine(p)
    p.add_argument("--out", default=None, help="output folder (default outputs/<name>)")
    p.add_argument("--fresh", action="store_true", help="discard completed chunks")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_run)
    _add_power_solve_report(sub)
    from simulator.cli_allocate import add_allocate_parser
    add_allocate_parser(sub)
    return parser


def _add_power_solve_report(sub) -> None:
    from simulator.scenario.schema import EstimatorName
    from simulator.planning.solver import VARIABLES

    estimators = EstimatorName.__args__
    p = sub.add_parser("power", help="closed-form power for each design point, instant")
    p.add_argument("scenario")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per point")
    p.add_argument("--estimator", choices=estimators, default=None,
                   help="baseline-adjusted unless the (first) estimator is unadjusted")
    p.set_defaults(func=cmd_power)
    p = sub.add_parser("solve", help="smallest teams / team size reaching a simulated power")
    p.add_argument("scenario")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-power", type=_fraction)
    target.add_argument("--target-assurance", type=_fraction, help="power averaged over the priors")
    p.add_argument("--vary", choices=VARIABLES, default="trial.teams")
    p.add_argument("--estimator", choices=estimators, default=None)
    p.add_argument("--max-replicates", type=_positive, default=4000)
    p.add_argument("--executor", choices=("serial", "local"), default="local")
    p.add_argument("--workers", type=_positive, default=None)
    p.add_argument("--out", default=None, help="folder for the runs (default outputs/<name>/solve)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_engine(p)
    p.set_defaults(func=cmd_solve)
    p = sub.add_parser("report", help="rebuild plots and report.html from saved results")
    p.add_argument("output_dir")
    p.set_defaults(func=cmd_report)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as err:
        return _print_errors(err)
    except EngineNotCovered as err:   # --engine fast for a scenario it does not simulate
        print(f"{args.scenario}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # output piped into e.g. `head`: stop quietly
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
