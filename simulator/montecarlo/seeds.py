"""The seed tree: one independent stream per (replicate, component).

Replicate r's stage c draws from ``SeedSequence(seed, spawn_key=(r, c))`` (numpy "Parallel
random number generation"; SPEC 7): any replicate can be rebuilt alone, and results do not
depend on workers or chunking. The design point is not in the key, so design points that differ
only in a parameter draw from the same streams: replicate r has the same world and allocation
at every design point whose parameters allow it (common random numbers), and differences between
design points are paired. A per-trial estimator draws from its own stream (r, "analysis", label),
so adding or removing one estimator never changes another's numbers.

numpy's SeedSequence is used as it is here. The fast engine, whose replicates cost well under
2 ms, makes a chunk's streams of a stage at once instead (``seed_batch``: numpy's hash over
all the spawn keys in uint32 arrays, ~20 µs a stream fewer), the same generators.
"""
from __future__ import annotations

import hashlib

import numpy as np

# Append new components at the end: a component's index is in every spawn key.
COMPONENTS = ("world", "allocation", "timeline", "outcomes", "dropout", "analysis", "priors",
              "secondary_outcomes")


def label_word(label: str) -> int:
    """A stable 32-bit word naming an estimator label in the spawn key (sha256 prefix)."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:4], "little")


def spawn_key(replicate: int, component: str, label: str | None = None) -> tuple[int, ...]:
    """(r, component index) or, for one estimator's stream, (r, component index, label word).
    A component named "stage/label" is that stage's sub-stream ``label`` (a new random process
    of a stage gets one, so the stage's own stream, and every number drawn from it, stays)."""
    if label is None and "/" in component:
        component, label = component.split("/", 1)
    key = (replicate, COMPONENTS.index(component))
    return key if label is None else (*key, label_word(label))


def stream(seed: int, replicate: int, component: str, label: str | None = None
           ) -> np.random.Generator:
    """The generator of ``SeedSequence(seed, spawn_key=spawn_key(replicate, component, label))``."""
    sequence = np.random.SeedSequence(seed, spawn_key=spawn_key(replicate, component, label))
    return np.random.Generator(np.random.PCG64(sequence))
