"""Team-level covariates as allocation sees them: checks, strata codes and indicator columns.

Covariates are a mapping name -> (K,) array. Categorical columns are string (or object) arrays;
numeric columns are bool, int or float arrays without missing values.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

CATEGORICAL_KINDS = "USO"
NUMERIC_KINDS = "biuf"


def is_categorical(column: np.ndarray) -> bool:
    """True for string/object columns (each distinct value is a category)."""
    return np.asarray(column).dtype.kind in CATEGORICAL_KINDS


def check_covariates(covariates: Mapping[str, np.ndarray], names: Iterable[str]) -> int:
    """Number of teams K, after checking every named column exists and all columns are (K,).

    Raises ValueError listing every missing name and every malformed column together.
    """
    names = list(dict.fromkeys(names))
    problems = [f"covariate {n!r} is missing (have: {', '.join(covariates) or 'none'})"
                for n in names if n not in covariates]
    lengths = set()
    for name, column in covariates.items():
        col = np.asarray(column)
        if col.ndim != 1:
            problems.append(f"covariate {name!r} has shape {col.shape}, expected (K,)")
            continue
        lengths.add(col.shape[0])
        if col.dtype.kind not in CATEGORICAL_KINDS + NUMERIC_KINDS:
            problems.append(f"covariate {name!r} has unsupported dtype {col.dtype}")
        elif col.dtype.kind in "f" and not np.all(np.isfinite(col)):
            problems.append(f"covariate {name!r} has missing or infinite values")
    if len(lengths) > 1:
        problems.append(f"covariates differ in length: {sorted(lengths)}")
    if not lengths and not problems:
        problems.append("no covariates given: cannot tell the number of teams")
    if problems:
        raise ValueError("; ".join(problems))
    return lengths.pop()


def strata_codes(covariates: Mapping[str, np.ndarray], names: Iterable[str]) -> np.ndarray:
    """(K,) int codes 0..S-1 of the strata formed by every combination of the named columns.

    Codes follow the sorted order of the combinations; with no names every team is in stratum 0.
    """
    names = tuple(names)
    k = check_covariates(covariates, names)
    if not names:
        return np.zeros(k, dtype=np.int64)
    per_column = [np.unique(np.asarray(covariates[n]), return_inverse=True)[1].ravel()
                  for n in names]
    _, codes = np.unique(np.stack(per_column, axis=1), axis=0, return_inverse=True)
    return codes.ravel().astype(np.int64)


def level_codes(covariates: Mapping[str, np.ndarray], names: Iterable[str]) -> np.ndarray:
    """(F, K) int codes of each named column's levels, one row per factor (minimisation)."""
    names = tuple(names)
    k = check_covariates(covariates, names)
    rows = [np.unique(np.asarray(covariates[n]), return_inverse=True)[1].ravel() for n in names]
    return np.stack(rows).astype(np.int64) if rows else np.zeros((0, k), dtype=np.int64)


def expanded_columns(covariates: Mapping[str, np.ndarray],
                     names: Iterable[str]) -> tuple[np.ndarray, list[str]]:
    """(K, p) float matrix and labels: numeric columns as they are, every category of a
    categorical column as its own 0/1 indicator (none dropped), labelled ``name=level``."""
    names = tuple(names)
    k = check_covariates(covariates, names)
    blocks, labels = [np.zeros((k, 0))], []
    for name in names:
        col = np.asarray(covariates[name])
        if is_categorical(col):
            levels = np.unique(col)
            blocks.append((col[:, None] == levels[None, :]).astype(float))
            labels += [f"{name}={level}" for level in levels]
        else:
            blocks.append(col.astype(float)[:, None])
            labels.append(name)
    return np.hstack(blocks), labels


def factor_levels(column: np.ndarray, levels: Sequence | None = None) -> np.ndarray:
    """Levels of a categorical column, reference level first: R's ``factor(x)``.

    Without ``levels`` they are the sorted distinct values (numpy's code-point order, which is
    R's in the C locale; R in another locale may order mixed-case strings differently). Given
    ``levels`` (like R's ``factor(x, levels = ...)``), every value must be one of them; levels
    absent from the column are dropped, as ``model.matrix(~factor(x))`` does.
    """
    col = np.asarray(column)
    if levels is None:
        return np.unique(col)
    wanted = np.asarray(levels)
    unknown = sorted(set(np.unique(col).tolist()) - set(wanted.tolist()))
    if unknown:
        raise ValueError(f"values {unknown} are not among the levels {wanted.tolist()}")
    return wanted[np.isin(wanted, col)]


def dummy_columns(covariates: Mapping[str, np.ndarray], names: Iterable[str], *,
                  categorical: Iterable[str] = (),
                  levels: Mapping[str, Sequence] | None = None
                  ) -> tuple[np.ndarray, list[str], list[str]]:
    """(K, p) float matrix, labels and source covariate of each column, coded as cvcrand's
    ``cvrall`` codes them (cvcrand 0.1.1, R/cvrall.R: ``model.matrix(~factor(x))[, -1]``).

    A column is categorical if it holds strings or is named in ``categorical``; it becomes one
    0/1 dummy per level except the first (see :func:`factor_levels`), labelled ``name=level``.
    Column order is cvrall's: the numeric covariates in ``names`` order, then the dummies of
    each categorical covariate in ``names`` order.
    """
    names, categorical = tuple(names), set(categorical)
    k = check_covariates(covariates, names)
    numeric = [n for n in names if n not in categorical and not is_categorical(covariates[n])]
    blocks = [np.zeros((k, 0))] + [np.asarray(covariates[n], dtype=float)[:, None]
                                   for n in numeric]
    labels, sources = list(numeric), list(numeric)
    for name in (n for n in names if n not in numeric):
        col = np.asarray(covariates[name])
        found = factor_levels(col, (levels or {}).get(name))[1:]
        blocks.append((col[:, None] == found[None, :]).astype(float))
        labels += [f"{name}={level}" for level in found]
        sources += [name] * found.size
    return np.hstack(blocks), labels, sources
