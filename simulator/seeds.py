"""The seed tree: one independent stream per (design point, replicate, component).

SeedSequence(seed, spawn_key=(d, r, c)) (numpy "Parallel random number generation"; SPEC 7):
any replicate can be rebuilt alone, results do not depend on workers or chunking, and design
points share world draws for the same replicate (common random numbers).
"""
from __future__ import annotations

import numpy as np

COMPONENTS = ("world", "allocation", "timeline", "outcomes", "dropout", "analysis")


def stream(seed: int, design_point: int, replicate: int, component: str) -> np.random.Generator:
    key = (design_point, replicate, COMPONENTS.index(component))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))
