"""The trial's own teams: ``trial.teams_file`` (CSV) or ``trial.team_list`` (inline rows).

A team table is an input the user owns and is validated like the YAML (STYLE.md principle 16):
every problem is collected, each naming the file, row, column, value and what is allowed.
Rows are held as text cells (``{column: text}``), as a CSV has them, so a resolved scenario
round-trips; :func:`parse_table` types them once per validated scenario.

Columns: ``team`` (a unique name, required); ``site``, ``team_type``; ``patients`` (expected
recruits, a whole number >= 1), ``staff`` (posts, a whole number >= 1), ``leadership`` (a
z-score); each of those five is drawn as without a list when its column is absent. A column
named note, notes, comment or comments is free text and ignored. Any other column is a team
covariate: numeric when every cell is a number, else categorical.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

STANDARD = ("team", "site", "team_type", "patients", "staff", "leadership")
WHOLE = ("patients", "staff")
FREE_TEXT = ("note", "notes", "comment", "comments")
Problem = tuple[str, object, str]


@dataclass(frozen=True, eq=False)
class TeamTable:
    """A validated team list: (K,) arrays; a standard column absent from the list is None."""

    names: np.ndarray                       # (K,) str
    columns: tuple[str, ...]                # every column, in the table's order
    site: np.ndarray | None = None          # (K,) str
    team_type: np.ndarray | None = None     # (K,) str
    patients: np.ndarray | None = None      # (K,) int, expected recruits
    staff: np.ndarray | None = None         # (K,) int, posts
    leadership: np.ndarray | None = None    # (K,) float
    covariates: Mapping[str, np.ndarray] = field(default_factory=dict)  # float or str columns

    @property
    def n_teams(self) -> int:
        return int(self.names.shape[0])

    def complete_covariates(self) -> dict[str, np.ndarray]:
        """The covariates without an empty cell (the only ones a scenario may use)."""
        return {k: v for k, v in self.covariates.items()
                if (np.all(np.isfinite(v)) if v.dtype.kind == "f" else np.all(v != ""))}

    def numeric(self, name: str) -> bool:
        return name in self.covariates and self.covariates[name].dtype.kind == "f"

    def __eq__(self, other: object) -> bool:
        """Equal columns, so a scenario equals its own round trip through model_dump."""
        if not isinstance(other, TeamTable):
            return NotImplemented
        mine, theirs = self._arrays(), other._arrays()
        return self.columns == other.columns and mine.keys() == theirs.keys() and all(
            np.array_equal(mine[k], theirs[k], equal_nan=mine[k].dtype.kind == "f")
            for k in mine)

    __hash__ = None

    def _arrays(self) -> dict[str, np.ndarray]:
        standard = {k: getattr(self, k) for k in ("names", *STANDARD[1:])}
        return {**{k: v for k, v in standard.items() if v is not None}, **self.covariates}


def number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _cell(value: Any) -> Any:
    """An inline YAML value as a CSV cell would hold it (None -> empty); lists and mappings
    are left for the schema to reject."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bool, int)):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def text_rows(rows: Any) -> Any:
    """Inline ``trial.team_list`` rows with every cell as text (anything else unchanged)."""
    if not isinstance(rows, (list, tuple)):
        return rows
    return [{str(k): _cell(v) for k, v in row.items()} if isinstance(row, dict) else row
            for row in rows]


def table_columns(rows: Sequence[Mapping[str, str]]) -> list[str]:
    """The union of the rows' columns, in order of first appearance."""
    return list(dict.fromkeys(c for row in rows for c in row))


def parse_table(rows: Sequence[Mapping[str, str]]) -> TeamTable:
    """Typed columns of text rows (missing or malformed cells become '' or nan: check first)."""
    columns = table_columns(rows)
    text = {c: np.array([str(row.get(c, "")).strip() for row in rows], dtype=str)
            for c in columns}
    numbers = {c: np.array([number(v) if number(v) is not None else np.nan for v in col])
               for c, col in text.items()}
    whole = {c: np.nan_to_num(numbers[c], nan=0).round().astype(int) for c in WHOLE if c in text}
    covariates = {c: numbers[c] if _is_numeric(text[c]) else text[c]
                  for c in columns if c not in STANDARD and c not in FREE_TEXT}
    return TeamTable(names=text.get("team", np.array([""] * len(rows), dtype=str)),
                     columns=tuple(columns), site=text.get("site"),
                     team_type=text.get("team_type"), patients=whole.get("patients"),
                     staff=whole.get("staff"), leadership=numbers.get("leadership"),
                     covariates=covariates)


def _is_numeric(cells: np.ndarray) -> bool:
    filled = [c for c in cells.tolist() if c != ""]
    return bool(filled) and all(number(c) is not None for c in filled)


def read_team_file(path: Path) -> tuple[list[dict[str, str]] | None, list[str]]:
    """Rows of a team CSV (header row first), or None and what is wrong with the file."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        return None, [f"{path}: cannot read the team file ({err.__class__.__name__}: {err})"]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return None, [f"{path}: not a CSV text file (binary content; a spreadsheet must be "
                      "saved as CSV, comma-separated, UTF-8)"]
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as err:
        return None, [f"{path}: not a readable CSV file ({err})"]
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    return _rows_from_cells(path, rows)


def _rows_from_cells(path: Path, rows: list[list[str]]) -> tuple[list | None, list[str]]:
    if not rows:
        return None, [f"{path}: the team file is empty; it needs a header row with a "
                      "'team' column and one row per team"]
    header = [h.strip() for h in rows[0]]
    problems = _header_problems(path, header)
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            problems.append(f"{path} row {number}: {len(row)} cell(s), but the header has "
                            f"{len(header)} columns; every row needs one cell per column")
    if problems:
        return None, problems
    return [dict(zip(header, (c.strip() for c in row))) for row in rows[1:]], []


def _header_problems(path: Path, header: list[str]) -> list[str]:
    out = []
    if "team" not in header:
        hint = (" (is it separated by ';' or tabs? save it comma-separated)"
                if len(header) == 1 and any(s in header[0] for s in ";\t") else "")
        out.append(f"{path} row 1: header {header!r} has no 'team' column{hint}; the "
                   f"columns are team (required), {', '.join(STANDARD[1:])} and covariates")
    for i, name in enumerate(header):
        if name == "":
            out.append(f"{path} row 1, column {i + 1}: empty column name; name every column")
        elif name in header[:i]:
            out.append(f"{path} row 1: column {name!r} appears twice; names must be unique")
    return out


def resolve_team_file(data: Any, base_dir: Path) -> tuple[Any, list[str]]:
    """``data`` with ``trial.team_list`` read from ``trial.teams_file`` (relative to
    ``base_dir``, the scenario file's folder), and the file's problems. A mapping already
    holding both (a resolved scenario, as run.json records it) is left as it is."""
    trial = data.get("trial") if isinstance(data, dict) else None
    if not isinstance(trial, dict) or not isinstance(trial.get("teams_file"), str) \
            or trial.get("team_list") is not None:
        return data, []
    rows, problems = read_team_file(base_dir / trial["teams_file"])
    if rows is None:
        return data, problems
    return {**data, "trial": {**trial, "team_list": rows}}, []


def _shares(values: list[str]) -> dict[str, float]:
    counts = {v: values.count(v) for v in dict.fromkeys(values)}
    return {v: n / len(values) for v, n in counts.items()}


def fill_from_team_list(data: Any) -> Any:
    """Before validation: cells as text, and the trial keys that follow from the list where
    not given: ``teams``, ``sites``, ``team_types``, ``patients_per_team.mean`` (the listed
    mean, for the closed forms) and ``patients_per_team.cv`` 0 (recruitment as listed)."""
    trial = data.get("trial") if isinstance(data, dict) else None
    if not isinstance(trial, dict) or not isinstance(trial.get("team_list"), (list, tuple)):
        return data
    rows = text_rows(trial["team_list"])
    trial = {**trial, "team_list": rows}
    good = [r for r in rows if isinstance(r, dict)]
    if len(good) >= 4:
        trial.setdefault("teams", len(good))
    for column, key in (("site", "sites"), ("team_type", "team_types")):
        values = [r.get(column, "") for r in good]
        if good and all(isinstance(v, str) and v for v in values):
            trial.setdefault(key, _shares(values))
    sizes = trial.get("patients_per_team", {})
    listed = [number(r.get("patients", "")) for r in good]
    if good and isinstance(sizes, dict) and all(v is not None for v in listed):
        trial["patients_per_team"] = {"mean": sum(listed) / len(listed), "cv": 0.0, **sizes}
    return {**data, "trial": trial}


def locator(teams_file: str | None) -> Callable[[int, str], str]:
    """Where row i, column c of the table is, as the user would look for it."""
    if teams_file:
        return lambda i, c: f"{teams_file} row {i + 2}, column {c}"
    return lambda i, c: f"trial.team_list[{i}].{c}"


def _cell_problem(column: str, text: str) -> str | None:
    """What is wrong with a non-empty cell of a standard numeric column (None if fine)."""
    value = number(text)
    if column in WHOLE and (value is None or value != round(value) or value < 1):
        return f"{column} must be a whole number >= 1"
    if column == "leadership" and value is None:
        return "leadership must be a number (a z-score, e.g. -0.5)"
    return None


def row_problems(rows: Sequence[Mapping[str, str]], where: Callable[[int, str], str],
                 used: set[str]) -> list[Problem]:
    """Names missing or repeated, empty cells in used columns, malformed sizes."""
    out, first = [], {}
    columns = ["team", *(c for c in table_columns(rows)
                         if c != "team" and (c in used or c in STANDARD))]
    for i, row in enumerate(rows):
        name = str(row.get("team", "")).strip()
        if name in first:
            out.append((where(i, "team"), name, f"repeats the name at {where(first[name], 'team')}; "
                        "team names must be unique"))
        first.setdefault(name, i) if name else None
        for column in columns:
            text = str(row.get(column, "")).strip()
            if text == "":
                out.append((where(i, column), "", "every team needs a name" if column == "team"
                            else f"empty cell in column '{column}', which the scenario uses; "
                            "give a value (or drop the column)"))
            elif (why := _cell_problem(column, text)) is not None:
                out.append((where(i, column), text, why))
    return out
