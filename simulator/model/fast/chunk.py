"""A chunk of replicates through the fast engine: world and allocation (shared with the SimPy
engine), the array timeline for the whole chunk, then outcomes, dropout and diagnostics.

Each replicate draws only from its own streams — ``streams(r, stage)`` for the stages both
engines share ("world", "allocation", "outcomes", "dropout"), and ``streams(r, "timeline",
"fast")`` for the fast timeline (its draws differ from the SimPy engine's, so its stream is
its own) — and the chunk's arrays hold each team in a row of its own (``paths``), so a
replicate's numbers do not depend on the chunk it is in, the workers or the executor.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from simulator.model.fast.batch_world import chunk_baselines, stage_streams
from simulator.model.fast.finish import finish_chunk
from simulator.model.fast.history import replicate_history
from simulator.model.fast.timeline import chunk_timeline, draw_timeline
from simulator.model.fast.training import schedule_of
from simulator.model.replicate import Replicate, StageClock, _untimed
from simulator.scenario.schema import Scenario

ChunkStreams = Callable[..., np.random.Generator]   # (replicate, stage[, label]) -> Generator
FAST_TIMELINE = ("timeline", "fast")                 # the fast timeline's stream: stage, label


def simulate_chunk(scenario: Scenario, replicates: Sequence[int], streams: ChunkStreams, *,
                   detail: bool = False, clock: StageClock | None = None) -> list[Replicate]:
    """The replicates ``replicates`` of ``scenario`` (a scenario ``model.fast.coverage``
    covers). ``detail`` also builds each history's event log and team paths (``crtsim draw``)."""
    timed = clock or _untimed
    bases, draws = chunk_baselines(scenario, replicates, streams, timed), []
    with timed("timeline"):
        rngs = stage_streams(streams, replicates, *FAST_TIMELINE)
        schedule = schedule_of(scenario)
    for (world, allocation), rng in zip(bases, rngs):
        with timed("timeline"):
            draws.append(draw_timeline(world, allocation.arm.astype(int), scenario, rng,
                                       schedule))
    with timed("timeline"):
        chunk = chunk_timeline(draws, [w for w, _ in bases], scenario, rngs)
    teams = np.cumsum([0] + [w.n_teams for w, _ in bases])
    patients = np.cumsum([0] + [w.patient_team.size for w, _ in bases])
    histories = []
    for i in range(len(bases)):
        with timed("timeline"):
            histories.append(replicate_history(chunk, slice(teams[i], teams[i + 1]),
                                               slice(patients[i], patients[i + 1]), draws[i],
                                               scenario.trial.months, detail=detail))
    return finish_chunk(scenario, bases, histories, replicates, streams, timed)
