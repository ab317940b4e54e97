"""The fast engine's last stages for a chunk: each replicate's outcomes, dropout and observed
trial from its own streams (``replicate.observe_replicate``, shared with the SimPy engine),
then every replicate's diagnostics at once (``batch_diagnostics``), then each replicate's
secondary outcomes and record (``replicate.complete_replicate``)."""
from __future__ import annotations

from typing import Sequence

from simulator.model.fast.batch_diagnostics import chunk_diagnostics
from simulator.model.fast.batch_outcomes import chunk_observe
from simulator.model.replicate import Replicate, complete_replicate, _untimed
from simulator.scenario.schema import Scenario
from simulator.scenario.team_checks import used_columns


def finish_chunk(scenario: Scenario, bases: Sequence, histories: Sequence,
                 replicates: Sequence[int], streams, timed=_untimed) -> list[Replicate]:
    """The replicates' records from their (world, allocation) ``bases`` and timeline
    ``histories``; ``streams(r, stage)`` is replicate r's stream of a stage."""
    with timed("outcomes"):
        seen = chunk_observe(scenario, bases, histories, streams, replicates)
    with timed("diagnostics"):
        diags = chunk_diagnostics([w for w, _ in bases], [a.arm.astype(int) for _, a in bases],
                                  histories, [s.status for s in seen], used_columns(scenario))
    return [complete_replicate(scenario, world, allocation, history, s, diag, _own(streams, r),
                               timed)
            for r, (world, allocation), history, s, diag
            in zip(replicates, bases, histories, seen, diags)]


def _own(streams, r: int):
    """Replicate r's streams, by stage."""
    return lambda stage: streams(r, stage)
