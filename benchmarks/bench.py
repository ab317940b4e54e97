"""``make bench``: throughput, peak memory and time per stage, written to outputs/bench/bench.csv.

Cases: (a) a plain design — 14 teams per arm × 20 patients, ICC 0.05, no dynamics, mixed_ancova;
(b) REFOCUS (scenarios/refocus.yaml: six strategies, full dynamics, mixed_ancova +
cluster_summary); (c) REFOCUS as one kind of session (tests/reference/refocus_one_component.yaml,
the refocus.yaml of before issue 13, the case earlier figures were measured on); (d) REFOCUS as
run with half the leavers moving to another team of their Trust (scenarios/staff_moves.yaml,
move_share 0.5: the fast engine's per-replicate moves loop). For each case and
each engine (SimPy, fast): replicates/s serial and with 2 workers, parallel efficiency (the
2-worker rate over twice the serial rate), time per stage, the ratio against the SimPy engine
and against a naive loop that fits statsmodels MixedLM per replicate on the same data. Peak RSS
is measured on a separate ``crtsim run`` of many replicates (results stream to disk), and the
time of ``crtsim solve`` on (b) ``--target-power 0.8`` on the fast engine.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from simulator.analysis.registry import analysis_plan, run_analysis
from simulator.montecarlo.engine import batch_fit
from simulator.outputs.files import write_columns
from simulator.model.replicate import StageClock
from simulator.montecarlo.engine import draw_replicate
from simulator.model.fast import simulate_chunk
from simulator.montecarlo.engine import _streams
from simulator.montecarlo.runner import DEFAULT_CHUNK, FAST_CHUNK, RunSettings, run_scenario
from simulator.scenario.files import design_points, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parent.parent
REFOCUS = ROOT / "scenarios" / "refocus.yaml"                                          # case (b)
REFOCUS_ONE_COMPONENT = ROOT / "tests" / "reference" / "refocus_one_component.yaml"   # case (c)
PLAIN = {
    "name": "bench_plain", "seed": 1,
    "trial": {"teams": 28, "patients_per_team": {"mean": 20, "cv": 0.0}, "team_types": {"cmht": 1.0}},
    "outcome": {"icc": 0.05, "team_type_effects": {}},
    "intervention": {"attendance": 1.0, "session_months": [0], "sessions_to_train": 1},
    "staff_turnover": {"annual_rate": 0.0}, "dropout": {"attrition": 0.0},
    "analysis": {"estimators": ["mixed_ancova"]},
}


STAFF_MOVES = ROOT / "scenarios" / "staff_moves.yaml"   # case (d): its point with half moving


def cases() -> dict:
    return {"plain": parse_scenario(PLAIN), "refocus": load_scenario(REFOCUS),
            "refocus_one_component": load_scenario(REFOCUS_ONE_COMPONENT),
            "staff_moves": design_points(load_scenario(STAFF_MOVES))[3].scenario}


ENGINES = ("simpy", "fast")


def throughput(scenario, replicates: int, executor: str, workers: int, engine: str) -> float:
    s = scenario.model_copy(update={"replicates": replicates})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_scenario(s, RunSettings(out_dir=Path(tmp), executor=executor, workers=workers,
                                    quiet=True, fresh=True, engine=engine))
        return replicates / (time.perf_counter() - start)


def stage_seconds(scenario, replicates: int, engine: str) -> dict[str, float]:
    """Mean seconds per replicate in each stage and each estimator, simulating and analysing
    chunks the way the engine does (batched where a batched estimator exists)."""
    clock = StageClock()
    plan = analysis_plan(scenario.analysis)
    chunk = FAST_CHUNK if engine == "fast" else DEFAULT_CHUNK
    for first in range(0, replicates, chunk):
        stop = min(first + chunk, replicates)
        if engine == "fast":
            trials = [r.trial for r in simulate_chunk(scenario, range(first, stop),
                                                      _streams(scenario), clock=clock)]
        else:
            trials = [draw_replicate(scenario, r, clock=clock).trial for r in range(first, stop)]
        for planned in plan:
            fit = batch_fit(planned)
            with clock(planned.label + (" (batched)" if fit else "")):
                if fit:
                    fit(trials)
                else:
                    for i, trial in enumerate(trials):
                        run_analysis(trial, planned, rng=np.random.default_rng(i))
    return {k: v / replicates for k, v in clock.seconds.items()}


def naive_seconds(scenario, replicates: int) -> float:
    """Seconds per replicate of simulate + statsmodels MixedLM (REML) on the same data."""
    import warnings

    import statsmodels.api as sm

    start = time.perf_counter()
    for r in range(replicates):
        t = draw_replicate(scenario, r).trial
        keep = t.observed
        X = sm.add_constant(np.column_stack([t.arm[t.team][keep], t.baseline[keep]]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sm.MixedLM(t.followup[keep], X, groups=t.team[keep]).fit(reml=True)
    return (time.perf_counter() - start) / replicates


def peak_rss_mb(scenario_path: Path, replicates: int, workers: int) -> float:
    """Peak resident memory (MB) of the largest process of a ``crtsim run`` (engine auto),
    read in a fresh wrapper process so that no other run of the benchmark counts."""
    wrapper = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "simulator",
                               "run", str(scenario_path), "--replicates", str(replicates),
                               "--workers", str(workers), "--out", tmp, "--quiet", "--no-plots",
                               "--fresh"], check=True, capture_output=True, text=True)
    return float(done.stdout.split()[-1]) / 1024


def solve_seconds(engine: str, limit: float) -> float:
    """Wall seconds of ``crtsim solve scenarios/refocus.yaml --target-power 0.8``; nan when it
    has not finished after ``limit`` seconds (it is then stopped: its workers die with it)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        try:
            subprocess.run([sys.executable, "-m", "simulator", "solve",
                            str(REFOCUS), "--target-power", "0.8",
                            "--quiet", "--out", tmp, "--engine", engine], check=True,
                           stdout=subprocess.DEVNULL, timeout=limit)
        except subprocess.TimeoutExpired:
            return float("nan")
        return time.perf_counter() - start


def engine_rows(name, scenario, engine, args, naive) -> list[tuple[str, str, float, str]]:
    """One engine on one case: rates, parallel efficiency, stages, speed-up over naive."""
    case = f"{name}_{engine}"
    serial = throughput(scenario, args.replicates, "serial", 1, engine)
    parallel = throughput(scenario, args.replicates, "local", 2, engine)
    rows = [(case, "replicates_per_s_serial", serial, "1/s"),
            (case, "replicates_per_s_2_workers", parallel, "1/s"),
            (case, "parallel_efficiency", parallel / (2 * serial), "fraction")]
    stages = stage_seconds(scenario, args.stage_replicates, engine)
    total = sum(stages.values())
    rows += [(case, f"share_{k}", v / total, "fraction") for k, v in stages.items()]
    rows += [(case, f"ms_per_replicate_{k}", 1e3 * v, "ms") for k, v in stages.items()]
    rows.append((case, "speedup_serial_vs_naive", naive * serial, "x"))
    return rows


def measure(args) -> list[tuple[str, str, float, str]]:
    rows = []
    for name, scenario in cases().items():
        naive = naive_seconds(scenario, args.naive_replicates)
        rows.append((name, "naive_statsmodels_s_per_replicate", naive, "s"))
        per_engine = {e: engine_rows(name, scenario, e, args, naive) for e in ENGINES}
        for e in ENGINES:
            rows += per_engine[e]
        rate = {e: {m: v for _, m, v, _ in per_engine[e]} for e in ENGINES}
        for m in ("replicates_per_s_serial", "replicates_per_s_2_workers"):
            rows.append((name, f"fast_over_simpy_{m[len('replicates_per_s_'):]}",
                         rate["fast"][m] / rate["simpy"][m], "x"))
    if args.solve:   # nan: not finished within --solve-limit seconds
        rows.append(("refocus_fast", "solve_target_power_0.8_seconds",
                     solve_seconds("fast", args.solve_limit), "s"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plain.yaml"
        import yaml
        path.write_text(yaml.safe_dump(PLAIN))
        rows.append(("plain", f"peak_rss_mb_{args.rss_replicates}_replicates",
                     peak_rss_mb(path, args.rss_replicates, 2), "MB"))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--stage-replicates", type=int, default=300)
    parser.add_argument("--naive-replicates", type=int, default=40)
    parser.add_argument("--rss-replicates", type=int, default=1_000_000)   # issue 16's target
    parser.add_argument("--solve", action=argparse.BooleanOptionalAction, default=True,
                        help="time crtsim solve on REFOCUS with the fast engine")
    parser.add_argument("--solve-limit", type=float, default=900.0,
                        help="seconds after which the solve is stopped (reported as nan)")
    parser.add_argument("--out", default=str(ROOT / "outputs" / "bench" / "bench.csv"))
    args = parser.parse_args(argv)
    rows = measure(args)
    write_columns(args.out, {"case": [r[0] for r in rows], "metric": [r[1] for r in rows],
                             "value": [r[2] for r in rows], "unit": [r[3] for r in rows]})
    width = max(len(r[1]) for r in rows)
    for case, metric, value, unit in rows:
        print(f"{case:<14} {metric:<{width}} {value:>12.4g} {unit}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
