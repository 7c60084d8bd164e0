"""Results tables: the CSV files under ``results/`` as typed rows that remember where they came from.

Every reader of a committed table goes through :func:`read_table`, and every metric it averages or
tests goes through :func:`metric_value`: a metric cell that is empty, NaN, infinite or text is
refused with the file, the line, the row's point and seed and the column (a diverged run or a
hand-edited file), never averaged into a mean or a test.

>>> row = TableRow({"point": "tau=4.0", "seed": 2, "val_map@r": float("nan")}, source="results/tau.csv", line=7)
>>> metric_value(row, "val_map@r")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
histlib.tables.MetricError: results/tau.csv, line 7 (point 'tau=4.0', seed 2): val_map@r is nan, not a number, so it is neither averaged nor compared; ...
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["TableError", "MetricError", "TableRow", "read_table", "write_table", "metric_value", "where",
           "has_metric", "grouped_values", "committed_table", "regenerate_command", "TEXT_COLUMNS"]

#: Columns that hold text even when a value looks like a number (a commit "1528444", a fingerprint "12e4...").
TEXT_COLUMNS = ("grid", "point", "fingerprint", "commit", "machine", "loss")

#: The columns that say which run a row is (in this order, where a table has them).
IDENTITY_COLUMNS = ("point", "loss", "trial", "seed", "epoch")


class TableError(ValueError):
    """A results table that cannot be read as one (the message names the file)."""


class MetricError(TableError):
    """A metric cell that is missing, NaN, infinite or not a number (the message names file, row and column)."""


class TableRow(dict):
    """One row of a results table: its cells by column, plus ``source`` (the file) and ``line`` (its
    line in the file; the header is line 1). Compares equal to a plain dict of the same cells."""

    __slots__ = ("source", "line")

    def __init__(self, cells=(), source: str | None = None, line: int | None = None):
        super().__init__(cells)
        self.source, self.line = source, line

    def __reduce__(self):
        return TableRow, (dict(self), self.source, self.line)


def where(row: dict) -> str:
    """Which row ``row`` is, for a message: its file and line when it came from one, and its point,
    loss, trial, seed or epoch where it has them.

    >>> where({"point": "alpha=16", "seed": 3})
    "the row (point 'alpha=16', seed 3)"
    """
    identity = ", ".join(f"{column} {row[column]!r}" for column in IDENTITY_COLUMNS if column in row)
    source, line = getattr(row, "source", None), getattr(row, "line", None)
    place = f"{source}, line {line}" if source and line else (source or "the row")
    return f"{place} ({identity})" if identity else place


def metric_value(row: dict, column: str) -> float:
    """``row[column]`` as a finite float, or a :class:`MetricError` that names the file, row and column
    and what to do (an empty, NaN, infinite or text cell is a run that did not finish or diverged, or
    a hand-edited table).

    >>> metric_value({"seed": 1, "test_map@r": 0.25}, "test_map@r")
    0.25
    """
    value = row.get(column)
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if column not in row:
        found = "has no such column"
    elif value is None:
        found = "is empty"
    elif isinstance(value, str) and _typed(value) != value:
        found = (f"is the text {value!r}, not a number: read the table with histlib.tables.read_table, which "
                 "types its cells (csv's rows are strings)")
    else:
        found = f"is {value!r}, not a number"
    grid = row.get("grid")
    rerun = f"`python -m histlib.sweep {grid}` retrains it" if grid else "rerun the command that wrote the table"
    raise MetricError(f"{where(row)}: {column} {found}, so it is neither averaged nor compared; {rerun}, "
                      "or restore the file from git (git checkout -- <file>)")


def has_metric(row: dict, column: str) -> bool:
    """Whether ``row`` has a cell for ``column`` at all (an empty cell is none: a metric that does not
    apply to the row, like HIST's statistics in a Proxy-Anchor row). NaN and text are cells."""
    return row.get(column) is not None


def read_table(path: Path) -> list[TableRow]:
    """A results table as typed rows (numbers as floats/ints, empty cells as None, text columns as str),
    each a :class:`TableRow` that knows its file and line.

    A missing file is an empty table; a file that is not a CSV table raises :class:`TableError`.
    """
    path = Path(path)
    if path.is_dir():
        raise TableError(f"{path} is a folder, not a results table (a .csv file)")
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # a spreadsheet's byte-order mark is not a column
            reader = csv.DictReader(f)
            rows = [(reader.line_num, row) for row in reader]
            header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error, OSError) as error:
        raise TableError(f"{path} is not a readable results table ({type(error).__name__}: {error}); restore it "
                         "from git (git checkout -- <file>) or delete it to regenerate it") from None
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise TableError(f"{path} names the column(s) {twice} more than once; restore it from git or delete it "
                         "to regenerate it")
    if rows and any(None in row or None in row.values() for _, row in rows):
        raise TableError(f"{path} is not a well-formed results table (rows and header differ in length); restore it "
                         "from git or delete it to regenerate it")
    return [TableRow({k: (v if k in TEXT_COLUMNS else _typed(v)) for k, v in row.items()}, str(path), line)
            for line, row in rows]


def _typed(text: str):
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def write_table(path: Path, rows: Sequence[dict]) -> None:
    """Write ``rows`` as a CSV table (columns in order of first appearance), atomically."""
    from .training.runs import atomic_write_bytes

    columns = list(dict.fromkeys(k for row in rows for k in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.getvalue().encode())


def grouped_values(rows: Iterable[dict], keys: Sequence[str], metric: str) -> dict[tuple, list[tuple[dict, float]]]:
    """``(row, value of metric)`` per group (the tuple of the ``keys`` columns), in order of appearance.

    A group where no row has the metric (it does not apply there) is left out; a group where some rows
    have it and others do not, or where a value is NaN or text, raises :class:`MetricError` naming the row.
    """
    members: dict[tuple, list[dict]] = {}
    for row in rows:
        members.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    out = {}
    for key, group in members.items():
        if any(has_metric(row, metric) for row in group):
            out[key] = [(row, metric_value(row, metric)) for row in group]
    return out


def regenerate_command(name: str) -> str:
    """The command that writes ``results/<name>.csv`` (a sweep grid, a tuning study or the verdicts;
    ``<name>_curves`` is written with its table).

    >>> regenerate_command("alpha_tau_curves"), regenerate_command("frozen_tuning"), regenerate_command("verdicts")
    ('python -m histlib.sweep alpha_tau', 'python -m histlib.tuning frozen_tuning', 'python -m histlib.verdicts')
    """
    from .training.grids import GRIDS, TUNINGS

    stem = name.removesuffix("_curves")
    if stem == "verdicts":
        return "python -m histlib.verdicts"
    if stem in TUNINGS:
        return f"python -m histlib.tuning {stem}"
    if stem in GRIDS:
        return f"python -m histlib.sweep {stem}"
    return "the command in results/README.md"


def committed_table(name: str, results: Path | str | None = None) -> list[TableRow]:
    """The committed table ``results/<name>.csv`` (``results``: default :data:`histlib.paths.RESULTS`,
    i.e. ``HISTLIB_RESULTS``), or a FileNotFoundError naming the file and how to get it back: what the
    notebooks read, so a folder without the committed tables is one clear line, not a failed check."""
    from .paths import RESULTS

    path = Path(results if results is not None else RESULTS) / f"{name}.csv"
    rows = read_table(path)
    if not rows:
        state = "is empty" if path.is_file() else "is missing"
        raise FileNotFoundError(f"{path} {state}: this notebook reads the committed table {name}.csv. Restore it "
                                f"with `git checkout -- results/{name}.csv` (or point HISTLIB_RESULTS at the "
                                f"checkout's results/), or regenerate it with `{regenerate_command(name)}`")
    return rows
