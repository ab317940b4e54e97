"""Linear algebra on stacks of small matrices, one trial per row, with row independence:
row r's result is bit-for-bit the same whichever rows share its stack and wherever it sits.
Every sum runs along a row's own contiguous axis and nothing reduces across rows (no
``einsum``, whose loop order may follow the strides of the whole stack)."""
from __future__ import annotations

import numpy as np


def inner(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_k a_k b_k along the last axis (broadcasting the others): the product is laid out
    C-contiguous, so each sum runs along a row's own contiguous run whatever the number of
    rows."""
    return np.multiply(a, b, order="C").sum(-1)


def mv(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A x for stacks of matrices and vectors (one matrix product per matrix)."""
    return (A @ x[..., None])[..., 0]


def sweep(H: np.ndarray):
    """(H⁻¹, log|H|, positive definite, zero pivot) for a stack of symmetric matrices:
    sweep every pivot in turn (Gauss-Jordan, no pivoting; Goodnight 1979, Am. Stat. 33:149),
    on a (p, p, N) copy so that each operation runs over contiguous stacks (elementwise:
    each matrix's arithmetic is its own). A zero pivot gives inf/nan, never an exception."""
    A = np.moveaxis(H, (-2, -1), (0, 1)).copy()
    logdet = np.zeros(H.shape[:-2])
    pd, zero = np.ones(H.shape[:-2], bool), np.zeros(H.shape[:-2], bool)
    for k in range(H.shape[-1]):
        d = A[k, k].copy()
        pd &= d > 0
        zero |= d == 0
        logdet += np.log(np.abs(d))
        row, col = A[k] / d, A[:, k].copy()
        A -= col[:, None] * row[None, :]
        A[k], A[:, k] = row, -col / d
        A[k, k] = 1.0 / d
    # A C-contiguous result: its strides, and so the loops that later reduce over it, do
    # not depend on the number of matrices.
    return np.ascontiguousarray(np.moveaxis(A, (0, 1), (-2, -1))), logdet, pd, zero
