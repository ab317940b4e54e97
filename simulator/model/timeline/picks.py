"""Which members of a roster cell attend a session: ``Generator.choice(n, k, replace=False)``,
its numbers exactly, without its per-call overhead (about a quarter of a REFOCUS timeline).

numpy (≥ 1.17, PCG64) draws such a choice by Floyd's algorithm and then shuffles the picks,
each step a bounded integer by Lemire's method on 32-bit halves of the generator's 64-bit
words (the high half kept for the next draw); a population over 10,000 with more than 1/50 of
it drawn is a partial shuffle instead. ``Picks`` does the same arithmetic in Python on the raw
words (``BitGenerator.random_raw``, fetched in blocks), so the members chosen are the ones
``choice`` chose. The stream must serve only these picks (``Draws.who``): its state after the
run is not the one ``choice`` would leave. ``tests/test_timeline_picks.py`` pins the equality.
"""
from __future__ import annotations

import numpy as np

MASK32 = 0xFFFFFFFF


class Picks:
    """``choice(n, k)`` == ``who.choice(n, k, replace=False).tolist()`` for a PCG64 ``who``."""

    def __init__(self, who: np.random.Generator, block: int = 256):
        state = who.bit_generator.state
        if state["bit_generator"] != "PCG64":
            raise ValueError("Picks follows numpy's PCG64 arithmetic only")
        self.raw, self.block = who.bit_generator.random_raw, block
        self.words: list[int] = []   # raw 64-bit words, the next one last
        self.half = state["uinteger"] if state["has_uint32"] else -1   # buffered high half

    def _uint32(self) -> int:
        if self.half >= 0:
            half, self.half = self.half, -1
            return half
        if not self.words:
            self.words = self.raw(self.block).tolist()[::-1]
        word = self.words.pop()
        self.half = word >> 32
        return word & MASK32

    def _bounded(self, top: int) -> int:
        """Uniform on 0..top (Lemire's rejection method; numpy's ``random_bounded_uint64``)."""
        if top == 0:
            return 0
        span = top + 1
        m = self._uint32() * span
        if (m & MASK32) < span:
            threshold = (MASK32 - top) % span
            while (m & MASK32) < threshold:
                m = self._uint32() * span
        return m >> 32

    def _shuffle(self, data: list, first: int) -> None:
        for i in range(len(data) - 1, first - 1, -1):
            j = self._bounded(i)
            data[i], data[j] = data[j], data[i]

    def choice(self, n: int, k: int) -> list[int]:
        """``k`` distinct indices of ``range(n)``, in numpy's order."""
        if n > 10000 and k > n // 50:   # numpy's tail shuffle
            data = list(range(n))
            self._shuffle(data, max(n - k, 1))
            return data[n - k:]
        chosen: set[int] = set()
        out = []
        for j in range(n - k, n):   # Floyd's algorithm
            v = self._bounded(j)
            if v in chosen:
                v = j
            chosen.add(v)
            out.append(v)
        self._shuffle(out, 1)
        return out
