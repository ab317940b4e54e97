"""``crtsim solve``: the smallest integer number of teams (or patients per team) whose
*simulated* power reaches a target.

Classification of a value v from n replicates, p̂ its power over all trials (a failed
analysis counts as no rejection) and MCSE = sqrt(p̂(1-p̂)/n)
(Morris, White & Crowther 2019, Stat Med 38:2074):
    reaches: p̂ >= target      above: p̂ - 2 MCSE > target      below: p̂ + 2 MCSE < target
The answer is the smallest v that reaches the target (point estimate).  It is settled when v is
above and v - 1 below (or not a valid design): the answer's power exceeds the target by more
than 2 MCSE while that of v - 1 falls short by more than 2 MCSE.  Until then the replicates are
doubled (runs are extended: replicate r always has the same seeds, so values share common random
numbers) up to the cap, where an unsettled answer is reported as ambiguous.  The search starts
at the closed-form answer (closed_form.py), gallops up (steps 1, 2, 4, ...) or down, and bisects.
Like statsmodels' solve_power, a target out of reach gives no value (None) with a message,
never a made-up number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from simulator.planning.closed_form import closed_form_power
from simulator.montecarlo.runner import RunSettings, run_scenario
from simulator.scenario.schema import Scenario
from simulator.scenario.files import ScenarioError, parse_scenario, set_dotted

VARIABLES = ("trial.teams", "trial.patients_per_team.mean")
LIMITS = {"trial.teams": (4, 10_000), "trial.patients_per_team.mean": (1, 100_000)}
SEARCH_FACTOR = 4   # simulate at most up to 4 x the starting value


@dataclass(frozen=True)
class Evaluation:
    value: int
    replicates: int
    power: float
    mcse: float
    failed: int = 0

    def reaches(self, target: float) -> bool:
        return self.power >= target

    def above(self, target: float) -> bool:
        return self.power - 2.0 * self.mcse > target

    def below(self, target: float) -> bool:
        return self.power + 2.0 * self.mcse < target


@dataclass(frozen=True)
class Solution:
    parameter: str
    value: int | None
    simulated_power: float
    mcse: float
    closed_form_value: int | None
    replicates: int
    ambiguous: bool
    message: str
    evaluations: tuple[Evaluation, ...] = field(default=())
    failed: int = 0     # failed analyses at the answer (counted as no rejection)

    def as_json(self) -> dict:
        return {"parameter": self.parameter, "value": self.value,
                "simulated_power": self.simulated_power, "mcse": self.mcse,
                "closed_form_value": self.closed_form_value,
                "n_failed": self.failed}


def with_value(scenario: Scenario, parameter: str, value: int, **updates) -> Scenario | None:
    """The scenario with ``parameter`` set (and top-level ``updates``), or None if invalid."""
    data = {**scenario.model_dump(mode="json"), "sweep": {}, **updates}
    try:
        return parse_scenario(set_dotted(data, parameter, value))
    except ScenarioError:
        return None


def smallest_integer(ok: Callable[[int], bool], start: int, lower: int, upper: int) -> int | None:
    """Smallest v in [lower, upper] with ok(v), for ok monotone (False then True): gallop from
    ``start`` then bisect.  None when ok(upper) is False."""
    start = min(max(start, lower), upper)
    if ok(start):
        lo, hi, step = start, start, 1          # ok(hi); find a lo with not ok(lo)
        while lo > lower and ok(lo):
            hi, lo, step = lo, max(lower, lo - step), step * 2
        if ok(lo):
            return lo
    else:
        lo, hi, step = start, start, 1
        while not ok(hi):
            if hi >= upper:
                return None
            lo, hi, step = hi, min(upper, hi + step), step * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


Measure = Callable[[Scenario, "str | None"], float]   # (scenario, estimator) -> closed form


def closed_form_value(scenario: Scenario, parameter: str, target: float,
                      estimator: str | None = None, measure: Measure | None = None) -> int | None:
    """Smallest integer value whose closed-form power (or ``measure``, e.g. the closed-form
    assurance) reaches ``target``."""
    def ok(v: int) -> bool:
        s = with_value(scenario, parameter, v)
        if s is None:
            return False
        if measure is not None:
            return measure(s, estimator) >= target
        return closed_form_power(s, estimator=estimator)["closed_form_power"] >= target

    current = int(round(_get(scenario, parameter)))
    return smallest_integer(ok, current, *LIMITS[parameter])


def _get(scenario: Scenario, dotted: str):
    node = scenario
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


@dataclass
class Simulator:
    """Runs (and caches) the simulated power of one value at n replicates."""

    scenario: Scenario
    parameter: str
    estimator: str
    out_dir: Path
    executor: str = "local"
    workers: int | None = None
    log: Callable[[str], None] = lambda text: None
    seen: dict = field(default_factory=dict)
    engine: str = "simpy"   # simpy | fast | auto

    def evaluate(self, value: int, replicates: int) -> Evaluation | None:
        if (value, replicates) in self.seen:
            return self.seen[(value, replicates)]
        s = with_value(self.scenario, self.parameter, value, replicates=replicates,
                       analysis={**self.scenario.analysis.model_dump(mode="json"),
                                 "estimators": [self.estimator]})
        result = None
        if s is not None:
            folder = self.out_dir / f"{self.parameter}={value}_{self.estimator}"
            run = run_scenario(s, RunSettings(out_dir=folder, executor=self.executor,
                                              workers=self.workers, quiet=True,
                                              engine=self.engine))
            row = next(r for r in run.summary if r["estimand"] == "itt")
            result = Evaluation(value, replicates, float(row["rejection_all"]),
                                float(row["rejection_all_mcse"]), int(row["n_failed"]))
            failed = f", {result.failed} failed analyses" if result.failed else ""
            self.log(f"{self.parameter} = {value}: power (all trials) {result.power:.4f} "
                     f"(MCSE {result.mcse:.4f}), {replicates} replicates{failed}")
        self.seen[(value, replicates)] = result
        return result


def solve(scenario: Scenario, parameter: str, target: float, *, estimator: str | None = None,
          max_replicates: int = 4000, start_replicates: int = 250, out_dir: Path,
          executor: str = "local", workers: int | None = None,
          log: Callable[[str], None] = lambda text: None,
          measure: Measure | None = None, engine: str = "simpy") -> Solution:
    """Smallest integer ``parameter`` value whose simulated power reaches ``target``.  With
    priors the simulated power over all trials is the assurance; ``measure`` then gives the
    closed-form start (``assurance.closed_form_assurance``)."""
    estimator = estimator or scenario.analysis.estimators[0]
    cf = closed_form_value(scenario, parameter, target, estimator, measure)
    sim = Simulator(scenario, parameter, estimator, Path(out_dir), executor, workers, log,
                    engine=engine)
    lower, upper = LIMITS[parameter]
    start = cf if cf is not None else int(round(_get(scenario, parameter)))
    n = min(start_replicates, max_replicates)
    while True:
        value = _bracket(sim, start, n, target, lower, min(upper, SEARCH_FACTOR * start))
        if value is None:
            return _unreached(parameter, cf, n, sim)
        found = sim.evaluate(value, n)
        before = sim.evaluate(value - 1, n) if value > lower else None
        settled = found.above(target) and (before is None or before.below(target))
        if settled or n >= max_replicates:
            return _solution(parameter, found, cf, before, target, sim, settled)
        start, n = value, min(max_replicates, 2 * n)


def _bracket(sim: Simulator, start: int, n: int, target: float, lower: int, upper: int):
    def ok(v: int) -> bool:
        ev = sim.evaluate(v, n)
        return ev is not None and ev.reaches(target)

    return smallest_integer(ok, start, lower, upper)


def _solution(parameter, ev: Evaluation, cf, before, target, sim, settled: bool) -> Solution:
    failed = f", {ev.failed} failed analyses counted as no rejection" if ev.failed else ""
    message = f"{parameter} = {ev.value}: power (all trials) {ev.power:.4f} " \
              f"(MCSE {ev.mcse:.4f}, {ev.replicates} replicates{failed}); closed form {cf}"
    if not settled:
        shown = [e for e in (before, ev) if e is not None]
        detail = "; ".join(f"{parameter} = {e.value}: {e.power:.4f} (MCSE {e.mcse:.4f})"
                           for e in shown)
        message += f". Ambiguous at the replicate cap: {detail}; the answer and the value " \
                   f"below it are not both more than 2 MCSE from the target {target:g}"
    return Solution(parameter, ev.value, ev.power, ev.mcse, cf, ev.replicates, not settled,
                    message, tuple(v for v in sim.seen.values() if v is not None), ev.failed)


def _unreached(parameter, cf, n, sim) -> Solution:
    tried = max((k[0] for k in sim.seen), default=None)
    return Solution(parameter, None, math.nan, math.nan, cf, n, True,
                    f"target not reached by {parameter} = {tried} ({n} replicates)",
                    tuple(v for v in sim.seen.values() if v is not None))
