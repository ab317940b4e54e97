"""Allocation spaces as 0/1 matrices: listing, uniform sampling and distinct sampling.

An allocation of K teams is a row of K int8 values (1 = intervention). A set of M allocations
is an (M, K) int8 matrix, the form randomizr's ``obtain_permutation_matrix`` returns
(transposed) and the form cvcrand scores.
"""
from __future__ import annotations

import itertools
import math

import numpy as np


def ranks(keys: np.ndarray) -> np.ndarray:
    """Rank (0 = smallest) of each entry within its row."""
    return np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")


def random_subsets(rng: np.random.Generator, m: int, k: int, n: int) -> np.ndarray:
    """(m, k) int8: m independent allocations, each uniform over the C(k, n) with n ones.

    The teams holding the n smallest of k iid uniform keys form the intervention arm.
    """
    arms = np.zeros((m, k), dtype=np.int8)
    if n == 0 or m == 0:
        return arms
    smallest = np.argpartition(rng.random((m, k)), n - 1, axis=1)[:, :n]
    arms[np.arange(m)[:, None], smallest] = 1
    return arms


def all_subsets(k: int, n: int) -> np.ndarray:
    """(C(k, n), k) int8: every allocation of n of k teams, in lexicographic order of index sets."""
    count = math.comb(k, n)
    flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(k), n)),
                       dtype=np.int32, count=count * n)
    arms = np.zeros((count, k), dtype=np.int8)
    arms[np.repeat(np.arange(count), n), flat] = 1
    return arms


def packed_rows(arms: np.ndarray) -> np.ndarray:
    """(M, W) uint64: each 0/1 row packed into W = ceil(K / 64) words (equal rows, equal words)."""
    packed = np.packbits(arms.astype(bool), axis=1)
    width = -(-packed.shape[1] // 8) * 8
    packed = np.pad(packed, ((0, 0), (0, width - packed.shape[1])))
    return np.ascontiguousarray(packed).view(np.uint64)


def first_unique_rows(arms: np.ndarray) -> np.ndarray:
    """The distinct rows of ``arms``, each at its first occurrence, in order of appearance."""
    words = packed_rows(arms)
    if words.shape[1] == 1:
        _, first = np.unique(words[:, 0], return_index=True)
    else:
        _, first = np.unique(words, axis=0, return_index=True)
    return arms[np.sort(first)]


def distinct_subsets(rng: np.random.Generator, m: int, k: int, n: int) -> np.ndarray:
    """(m, k) int8: m DISTINCT allocations with n ones, a uniform random m-subset of the space.

    Lists the space and picks m rows when it is at most twice m; otherwise draws uniform
    allocations in batches (sized for the expected share of repeats) and drops repeats.
    Needs m <= C(k, n).
    """
    total = math.comb(k, n)
    if m > total:
        raise ValueError(f"cannot draw {m} distinct allocations from a space of {total}")
    if total <= 2 * m:
        return all_subsets(k, n)[np.sort(rng.choice(total, size=m, replace=False))]
    found = np.zeros((0, k), dtype=np.int8)
    while found.shape[0] < m:
        need = m - found.shape[0]
        batch = random_subsets(rng, int(need / (1 - m / total) * 1.05) + 16, k, n)
        found = first_unique_rows(np.vstack([found, batch]))
    return found[:m]


def block_product(blocks: list[np.ndarray]) -> np.ndarray:
    """All sums of one row from each block: the Cartesian product of allocations of disjoint
    sets of teams (each block is (m_i, K) with zeros outside its own teams)."""
    out = blocks[0]
    for block in blocks[1:]:
        out = (out[:, None, :] + block[None, :, :]).reshape(-1, out.shape[1])
    return out


def placed_subsets(teams: np.ndarray, k: int, c: int) -> np.ndarray:
    """(C(len(teams), c), k) int8: every way to put c of ``teams`` in arm 1, others zero."""
    local = all_subsets(teams.size, c)
    arms = np.zeros((local.shape[0], k), dtype=np.int8)
    arms[:, teams] = local
    return arms
