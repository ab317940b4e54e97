"""Files: atomic writing (a temporary name in the same folder, then ``os.replace``, so an
interrupted run never leaves a truncated file under a final name), CSV cells written with
repr-exact floats and read back, the one CSV reader, and the one fixed-width text table.

A leaf module (no crtsim imports): the chunk store of ``montecarlo`` writes through it too.
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


def _format_float(value: float) -> str:
    return "" if value != value else repr(value)   # value != value: nan


# ``format_cell`` for the exact types most cells have (the same text, without its checks)
_FORMAT_BY_TYPE = {float: _format_float, int: str, str: str}


def csv_text(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    fast, slow = _FORMAT_BY_TYPE.get, format_cell
    for row in rows:
        writer.writerow([fast(type(v), slow)(v) for v in row])
    return buf.getvalue()


def csv_text_shared(rows: Sequence[tuple[Sequence, Sequence]]) -> str:
    """CSV lines (no header) of rows given as (own cells, shared cells): each row is
    ``own + shared``, and a shared list (the same object in several rows) is formatted once.
    The same text as ``csv_text`` gives the joined rows, as the writer quotes cell by cell."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    fast, slow = _FORMAT_BY_TYPE.get, format_cell
    shared: dict[int, str] = {}
    for own, tail in rows:
        if id(tail) not in shared:
            shared[id(tail)] = csv_text((), [tail])[1:]   # without the empty header line
        writer.writerow([fast(type(v), slow)(v) for v in own])
        buf.seek(buf.tell() - 1)                          # over the row's line end
        buf.write("," + shared[id(tail)])
    return buf.getvalue()


def json_safe(value):
    """A JSON-ready copy of ``value``: NaN and infinities become None (null), recursively."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_columns(path: str | Path, columns: Mapping[str, Sequence]) -> Path:
    """Write equal-length columns as a CSV file, atomically."""
    header = list(columns)
    return write_atomic(path, csv_text(header, zip(*(columns[h] for h in header))))


def parse_cell(cell: str):
    """A cell as written by ``format_cell``: int, float (exact: written with repr), bool, nan
    for an empty cell, else the text."""
    if cell == "":
        return float("nan")
    if cell in ("True", "False"):
        return cell == "True"
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell


def read_rows(path: str | Path) -> list[list[str]]:
    """Every row of a CSV file as text cells (the header, if any, is the first row)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def read_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV file with a header row."""
    rows = read_rows(path)
    return (rows[0], rows[1:]) if rows else ([], [])


def fixed_width(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Right-aligned text table for the terminal, columns two spaces apart."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    return "\n".join(lines + ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows])
