"""Many replicates' streams of one stage at once: the generators ``seeds.stream`` makes,
state for state, with numpy's SeedSequence hash computed for all their spawn keys together.

``SeedSequence(seed, spawn_key=(r, c[, label]))`` mixes its entropy words into a pool of four
32-bit words, and ``PCG64`` seeds itself from ``generate_state(4, uint64)`` of that pool
(numpy ``numpy/random/bit_generator.pyx``: ``hashmix``, ``mix``, ``mix_entropy``,
``generate_state``; the constants are Melissa O'Neill's, "Developing a seed_seq alternative",
2015). The hash constants evolve the same way whatever the data, so each step is one uint32
array operation over every replicate's words (uint32 arithmetic wraps, as the C code's does).
Each generator's bit generator holds a ``ChunkSeed``: the words computed here, and the entropy,
spawn key and pool size of the SeedSequence it stands for (its ``spawn`` gives that sequence's
children), so ``rng.bit_generator.seed_seq`` reads as it does on a ``seeds.stream`` generator.
``tests/test_seed_batch.py`` holds the generators equal to ``seeds.stream``'s.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.random.bit_generator import ISpawnableSeedSequence

from simulator.montecarlo.seeds import spawn_key, stream

INIT_A, MULT_A = 0x43b0d7e5, 0x931e8875
INIT_B, MULT_B = 0x8b51f9dd, 0x58f38ded
MIX_MULT_L, MIX_MULT_R = 0xca01f9dd, 0x4973f715
POOL = 4
MASK = 0xFFFFFFFF


def _words(value: int) -> list[int]:
    """A non-negative int as little-endian 32-bit words (numpy's ``_coerce_to_uint32_array``)."""
    out = [value & MASK]
    value >>= 32
    while value:
        out.append(value & MASK)
        value >>= 32
    return out


class _Hash:
    """The running hash constant of ``hashmix`` (data-independent: a Python int)."""

    def __init__(self, start: int):
        self.value = start

    def mix_in(self, values: np.ndarray) -> np.ndarray:
        values = values ^ np.uint32(self.value)
        self.value = (self.value * MULT_A) & MASK
        values = values * np.uint32(self.value)
        return values ^ (values >> np.uint32(16))


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = np.uint32(MIX_MULT_L) * x - np.uint32(MIX_MULT_R) * y
    return result ^ (result >> np.uint32(16))


def pools(entropy: np.ndarray) -> np.ndarray:
    """(R, 4) uint32 pools of the (R, L) assembled entropy words (``mix_entropy``)."""
    h = _Hash(INIT_A)
    zeros = np.zeros(entropy.shape[0], dtype=np.uint32)
    mixer = [h.mix_in(entropy[:, i] if i < entropy.shape[1] else zeros) for i in range(POOL)]
    for src in range(POOL):
        for dst in range(POOL):
            if src != dst:
                mixer[dst] = _mix(mixer[dst], h.mix_in(mixer[src]))
    for src in range(POOL, entropy.shape[1]):
        for dst in range(POOL):
            mixer[dst] = _mix(mixer[dst], h.mix_in(entropy[:, src]))
    return np.stack(mixer, axis=1)


def states(pool: np.ndarray) -> np.ndarray:
    """(R, 4) uint64: ``generate_state(4, np.uint64)`` of each pool."""
    hash_const = INIT_B
    out = np.empty((pool.shape[0], 8), dtype=np.uint32)
    for i in range(8):
        value = pool[:, i % POOL] ^ np.uint32(hash_const)
        hash_const = (hash_const * MULT_B) & MASK
        value = value * np.uint32(hash_const)
        out[:, i] = value ^ (value >> np.uint32(16))
    return out.astype("<u4").view("<u8").astype(np.uint64)


class ChunkSeed(ISpawnableSeedSequence):
    """Stands for ``SeedSequence(entropy, spawn_key=spawn_key)``, its PCG64 words computed."""

    def __init__(self, entropy: int, spawn_key: tuple[int, ...], words: np.ndarray):
        self.entropy, self.spawn_key, self.pool_size = entropy, spawn_key, POOL
        self.n_children_spawned = 0
        self._words = words

    def generate_state(self, n_words, dtype=np.uint32):
        if n_words != 4 or np.dtype(dtype) != np.uint64:   # only PCG64's request is kept
            return np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key
                                          ).generate_state(n_words, dtype)
        return self._words.copy()

    def spawn(self, n_children):
        first = self.n_children_spawned
        self.n_children_spawned += n_children
        return [np.random.SeedSequence(self.entropy, spawn_key=(*self.spawn_key, first + i),
                                       pool_size=POOL) for i in range(n_children)]


def generators(seed: int, keys: Sequence[tuple[int, ...]]) -> list[np.random.Generator]:
    """``Generator(PCG64(SeedSequence(seed, spawn_key=key)))`` for every key (keys of equal
    length; non-negative ints)."""
    if not keys:
        return []
    if seed < 0 or any(part < 0 for key in keys for part in key):   # numpy's own error
        return [np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=k)))
                for k in keys]
    run = _words(seed)
    rows = [run + [0] * (POOL - len(run)) * (len(run) < POOL)
            + [w for part in key for w in _words(part)] for key in keys]
    if len({len(r) for r in rows}) > 1:
        return [g for key in keys for g in generators(seed, [key])]
    words = states(pools(np.array(rows, dtype=np.uint32)))
    return [np.random.Generator(np.random.PCG64(ChunkSeed(seed, tuple(key), w)))
            for key, w in zip(keys, words)]


class ReplicateStreams:
    """The seed tree of one scenario: ``(replicate, stage[, label]) -> seeds.stream(...)``, and
    ``many(replicates, stage[, label])``, the same generators for a chunk at once."""

    def __init__(self, seed: int):
        self.seed = seed

    def __call__(self, replicate: int, stage: str, label: str | None = None):
        return stream(self.seed, replicate, stage, label)

    def many(self, replicates: Sequence[int], stage: str, label: str | None = None):
        return generators(self.seed, [spawn_key(r, stage, label) for r in replicates])
