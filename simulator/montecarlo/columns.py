"""The summary's replicate columns, kept on disk while a run streams (issue 16: memory that
does not grow with the replicates).

Every unit's columns (``engine.CHUNK_COLUMNS``) are written, as the unit arrives and in any
order, to their place in one unnamed temporary file beside the run's outputs: column by column,
unit by unit in ``work_units`` order, so each design point's rows are one contiguous range of
every column. The outcome and estimator labels are stored as codes. Nothing is left behind if
the run is killed (the file has no name), and memory holds no column of the whole run: the
summary, families and comparisons read a design point's columns when they ask for them
(``point``), keeping the last ones read while they fit in ``CACHE_BYTES``.
"""
from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

LABELS = ("outcome", "estimator")              # text columns, stored as int32 codes
INTEGERS = ("design_point", "replicate")
CACHE_BYTES = 48 * 2**20   # a point's columns kept in memory once read (all of them up to 300k rows)


def _dtype(name: str) -> np.dtype:
    return np.dtype(np.int32 if name in LABELS else np.int64 if name in INTEGERS else np.float64)


class ColumnStore:
    """``names`` columns of ``sizes[u]`` rows for each unit key, in that order, on disk."""

    def __init__(self, keys, sizes, points_of, names, folder: Path):
        starts = np.cumsum([0, *sizes])
        self.rows = {k: (int(starts[i]), int(sizes[i])) for i, k in enumerate(keys)}
        self.total, self.names = int(starts[-1]), tuple(names)
        self.offset = dict(zip(self.names, np.cumsum(
            [0, *(self.total * _dtype(n).itemsize for n in self.names)]).tolist()))
        self.ranges: dict[int, tuple[int, int]] = {}
        for k, point in zip(keys, points_of):
            at, n = self.rows[k]
            lo, hi = self.ranges.get(point, (at, at))
            self.ranges[point] = (min(lo, at), max(hi, at + n))
        self.codes: dict[str, dict[str, int]] = {n: {} for n in LABELS}
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.file = tempfile.TemporaryFile(dir=folder, prefix=".columns")

    def put(self, key, columns: Mapping[str, np.ndarray]) -> None:
        at, n = self.rows[key]
        for name in self.names:
            values = columns[name]
            if len(values) != n:   # the plan and the rows disagree: a bug, not bad input
                raise RuntimeError(f"chunk {key}: {len(values)} rows, expected {n}")
            raw = self._encode(name, values) if name in LABELS else values
            data = np.ascontiguousarray(raw, dtype=_dtype(name))
            os.pwrite(self.file.fileno(), data.tobytes(), self.offset[name] + at * data.itemsize)

    def _encode(self, name: str, values: np.ndarray) -> np.ndarray:
        codes = self.codes[name]
        return np.array([codes.setdefault(v, len(codes)) for v in values.tolist()], np.int32)

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        dtype = _dtype(name)
        out = np.empty(stop - start, dtype)
        if out.size:
            os.preadv(self.file.fileno(), [memoryview(out).cast("B")],
                      self.offset[name] + start * dtype.itemsize)
        if name in LABELS:
            labels = np.array(list(self.codes[name]) or [""], dtype=object)
            return labels[out]
        return out

    def point(self, index: int) -> "StoredColumns":
        """The rows of one design point (none if it has no rows)."""
        return StoredColumns(self, *self.ranges.get(index, (0, 0)))

    def whole(self) -> "StoredColumns":
        return StoredColumns(self, 0, self.total)

    def close(self) -> None:
        self.file.close()


class StoredColumns(Mapping):
    """Rows ``start:stop`` of every column, read on access; the most recent kept while they
    fit in ``CACHE_BYTES``."""

    def __init__(self, store: ColumnStore, start: int, stop: int):
        self.store, self.start, self.stop = store, start, stop
        self.kept: OrderedDict[str, np.ndarray] = OrderedDict()

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.store.names:
            raise KeyError(name)
        if name in self.kept:
            self.kept.move_to_end(name)
            return self.kept[name]
        values = self.store.read(name, self.start, self.stop)
        self.kept[name] = values
        while len(self.kept) > 1 and sum(v.nbytes for v in self.kept.values()) > CACHE_BYTES:
            self.kept.popitem(last=False)
        return values

    def __iter__(self):
        return iter(self.store.names)

    def __len__(self) -> int:
        return len(self.store.names)
