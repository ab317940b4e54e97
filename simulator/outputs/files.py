"""Atomic file writing: a temporary name in the same folder, then ``os.replace``.

An interrupted run never leaves a truncated file under a final name.
"""
from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping, Sequence


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600; outputs are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def format_cell(value) -> str:
    """CSV cell: empty for None/nan, repr-precise floats (round-trip exact), plain otherwise."""
    if value is None:
        return ""
    if isinstance(value, float) or hasattr(value, "dtype") and getattr(value, "dtype").kind == "f":
        value = float(value)
        return "" if math.isnan(value) else repr(value)
    if hasattr(value, "item"):
        value = value.item()
    return str(value)


def csv_text(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([format_cell(v) for v in row])
    return buf.getvalue()


def write_columns(path: str | Path, columns: Mapping[str, Sequence]) -> Path:
    """Write equal-length columns as a CSV file, atomically."""
    header = list(columns)
    return write_atomic(path, csv_text(header, zip(*(columns[h] for h in header))))
