"""Reductions over the segments of a chunk's concatenated arrays (one segment per replicate),
with the same floating-point arithmetic as the per-replicate code, bit for bit.

numpy sums a contiguous run of doubles by pairwise summation (``numpy/_core/src/umath/
loops_utils.h.src``, ``pairwise_sum``: eight accumulators over blocks of 128, halves above
that), so a sum depends on the run's length and order, not only on its values. A reduction
along the last axis of a C-contiguous 2-D array runs that same loop on every row. Segments of
equal length are therefore gathered into one (segments, length) array and reduced along its
rows: each segment's sum is then the one ``segment.sum()`` gives, and its mean the one
``segment.mean()`` gives (the sum divided by the count). The number of distinct lengths,
not the number of replicates, sets the number of numpy calls.
"""
from __future__ import annotations

import numpy as np


def segment_starts(lengths: np.ndarray) -> np.ndarray:
    """(S,) first index of each segment, for segments of ``lengths`` laid end to end."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def segment_sums(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(S,) sum of ``values[starts[s]:starts[s] + lengths[s]]`` for each segment s, each the
    same number as numpy's 1-D sum of that segment (module docstring); 0 for an empty one."""
    out = np.zeros(lengths.size, dtype=np.result_type(values.dtype, np.int64)
                   if values.dtype.kind in "biu" else values.dtype)
    for n in np.unique(lengths[lengths > 0]).tolist():
        rows = np.flatnonzero(lengths == n)
        out[rows] = values[starts[rows, None] + np.arange(n)].sum(axis=1)
    return out


def masked_means(values: np.ndarray, segment: np.ndarray, mask: np.ndarray,
                 n_segments: int) -> np.ndarray:
    """(S,) mean of ``values[mask]`` within each segment (``segment``: (n,) each entry's
    segment, non-decreasing), as ``values[seg][mask[seg]].mean()`` computes it; nan where a
    segment selects nothing."""
    kept, owner = values[mask], segment[mask]
    lengths = np.bincount(owner, minlength=n_segments)
    sums = segment_sums(kept, segment_starts(lengths), lengths)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(lengths > 0, sums / lengths, np.nan)


def segment_counts(flags: np.ndarray, segment: np.ndarray, n_segments: int) -> np.ndarray:
    """(S,) int64 number of true ``flags`` in each segment."""
    return np.bincount(segment[flags], minlength=n_segments).astype(np.int64)


def segment_totals(values: np.ndarray, segment: np.ndarray, n_segments: int) -> np.ndarray:
    """(S,) int64 sum of integer ``values`` in each segment (exact, so order does not matter)."""
    out = np.zeros(n_segments, dtype=np.int64)
    np.add.at(out, segment, values.astype(np.int64))
    return out
