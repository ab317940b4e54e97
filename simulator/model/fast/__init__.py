"""The fast engine: a chunk of replicates simulated with array operations (issue 16).

Same model as the SimPy engine (``model/timeline/``), read from the same scenario objects and
returning the same ``Replicate`` records; ``coverage`` says which scenarios it simulates (the
rest run on SimPy). Modules: ``posts`` (staff posts as alternating renewal processes),
``training`` (every component's sessions, attendance, completion), ``reconfiguration``
(disbanding, merges and transfers), ``merges`` (whose team each post is in; spells cut at
merges), ``paths`` (fidelity paths of a chunk's teams and their exact
integrals), ``staff`` (each replicate's staff records), ``timeline`` (one replicate's draws;
the chunk's arrays), ``history`` (a replicate's ``TimelineHistory``), ``chunk`` (the stages
in order).
"""
from simulator.model.fast.chunk import FAST_TIMELINE, simulate_chunk
from simulator.model.fast.coverage import EngineNotCovered, choose_engine, uncovered

__all__ = ["FAST_TIMELINE", "simulate_chunk", "choose_engine", "uncovered", "EngineNotCovered"]
