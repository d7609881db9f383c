"""Uploaded tables: CSV validation (every bad row/column named) and the on-disk format.

A table CSV has a header; one column named `id` (unique, non-empty row ids), an
optional label column `y`, and numeric feature columns (an empty cell is a missing value). Stored tables are `.npz`
files loaded with `allow_pickle=False`, so a stored table can never run code.
"""

from __future__ import annotations

import _csv
import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from fate.flow.errors import BadRequest
from fate.ml.component import Table

ID_COLUMN = "id"
LABEL_COLUMN = "y"
MAX_PROBLEMS = 20


class _Problems:
    """Collects problems up to a cap so one bad column does not flood the client."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.dropped = 0

    def add(self, message: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(message)
        else:
            self.dropped += 1

    def raise_if_any(self, what: str) -> None:
        if not self.items:
            return
        items = list(self.items)
        if self.dropped:
            items.append(f"... and {self.dropped} more problems")
        raise BadRequest(f"{what} is not a valid table", items)


def _check_header(header: list[str], problems: _Problems) -> None:
    seen: set[str] = set()
    for pos, name in enumerate(header, start=1):
        if not name.strip():
            problems.add(f"line 1, column {pos}: empty column name")
        elif name in seen:
            problems.add(f"line 1, column {pos}: duplicate column name {name!r}")
        seen.add(name)
    if ID_COLUMN not in header:
        problems.add(f"line 1: no {ID_COLUMN!r} column in the header (columns: {', '.join(header)})")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_csv(source: Path | str, *, label: str | None = "infer", what: str = "") -> Table:
    """Parse and validate a table CSV (a path, or the text itself); BadRequest lists every problem.

    `label="infer"` takes column `y` as the label when present; None forbids a label.
    """
    text_stream: io.TextIOBase
    if isinstance(source, Path):
        what = what or source.name
        text_stream = open(source, encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    else:
        what, text_stream = what or "table", io.StringIO(source, newline="")
    try:
        return _parse(csv.reader(text_stream), what, label)
    except UnicodeDecodeError as err:
        raise BadRequest(f"{what} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise BadRequest(f"{what} is not valid CSV: {err}") from None
    finally:
        text_stream.close()


def _parse(reader: _csv.Reader, what: str, label: str | None) -> Table:
    problems = _Problems()
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise BadRequest(f"{what} is empty: expected a header line with an {ID_COLUMN!r} column")
    header = [h.strip() for h in header]
    _check_header(header, problems)
    problems.raise_if_any(what)

    id_pos = header.index(ID_COLUMN)
    label_pos = header.index(LABEL_COLUMN) if label == "infer" and LABEL_COLUMN in header else None
    feature_pos = [i for i in range(len(header)) if i not in (id_pos, label_pos)]
    ids: list[str] = []
    first_line: dict[str, int] = {}
    rows: list[list[float]] = []
    labels: list[float] = []
    for fields in reader:
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank lines carry no row
        if len(fields) != len(header):
            problems.add(f"line {line}: {len(fields)} fields, the header has {len(header)}")
            continue
        row_id = fields[id_pos].strip()
        if not row_id:
            problems.add(f"line {line}, column {ID_COLUMN!r}: empty id")
        elif row_id in first_line:
            problems.add(
                f"line {line}, column {ID_COLUMN!r}: duplicate id {row_id!r} (first on line {first_line[row_id]})"
            )
        else:
            first_line[row_id] = line
        values: list[float] = []
        for pos in feature_pos:
            # An empty feature cell is a missing value (NaN): binning and SecureBoost give it its own
            # bin and a learned direction; components that cannot use one refuse it by name.
            value = math.nan if not fields[pos].strip() else _number(fields[pos])
            if value is None:
                problems.add(f"line {line}, column {header[pos]!r}: {fields[pos]!r} is not a finite number")
                value = 0.0
            values.append(value)
        if label_pos is not None:
            y = _number(fields[label_pos])
            if y is None:
                problems.add(
                    f"line {line}, column {LABEL_COLUMN!r}: label {fields[label_pos]!r} is not a number"
                )
                y = 0.0
            labels.append(y)
        ids.append(row_id)
        rows.append(values)
    if not ids and not problems.items:
        problems.add("no data rows after the header")
    problems.raise_if_any(what)
    features = np.array(rows, dtype=np.float64).reshape(len(ids), len(feature_pos))
    return Table(
        ids=tuple(ids),
        header=tuple(header[p] for p in feature_pos),
        features=features,
        labels=np.array(labels, dtype=np.float64) if label_pos is not None else None,
    )


def write_table(table: Table, path: Path) -> None:
    """Atomically store a table (write to a temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    arrays: dict[str, np.ndarray] = {
        "ids": np.array(table.ids, dtype=np.str_),
        "header": np.array(table.header, dtype=np.str_),
        "features": table.features,
    }
    if table.labels is not None:
        arrays["labels"] = table.labels
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def read_table(path: Path) -> Table:
    with np.load(path, allow_pickle=False) as data:
        header = tuple(str(h) for h in data["header"])
        ids = tuple(str(i) for i in data["ids"])
        features = data["features"].reshape(len(ids), len(header))
        labels = data["labels"] if "labels" in data.files else None
    return Table(ids=ids, header=header, features=features, labels=labels)


def to_csv(table: Table) -> str:
    """The table in the upload format (id, y when labelled, features); parse_csv reads it back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    label = [LABEL_COLUMN] if table.labels is not None else []
    writer.writerow([ID_COLUMN, *label, *table.header])
    for i, row_id in enumerate(table.ids):
        y = [repr(float(table.labels[i]))] if table.labels is not None else []
        writer.writerow([row_id, *y, *(repr(float(v)) for v in table.features[i])])
    return out.getvalue()


def describe(table: Table) -> dict[str, object]:
    return {
        "rows": len(table),
        "features": list(table.header),
        "label": table.labels is not None,
    }
