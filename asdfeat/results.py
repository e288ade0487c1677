"""Writing and reading result tables as CSV or JSON."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from asdfeat.errors import AsdfeatError


def write_rows(rows: list[dict], path, columns=None) -> Path:
    """Write dict rows to ``path``: JSON (a list of records) when it ends in .json, else CSV.

    NaN becomes an empty CSV field or JSON ``null``.
    """
    path = Path(path)
    columns = list(columns or (rows[0].keys() if rows else []))
    path.parent.mkdir(parents=True, exist_ok=True)

    if path.suffix.lower() == ".json":
        records = [{c: _json_value(row.get(c)) for c in columns} for row in rows]
        path.write_text(json.dumps(records, indent=1) + "\n")
        return path

    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _csv_value(row.get(c)) for c in columns})
    return path


def read_rows(path) -> list[dict]:
    """Read rows written by :func:`write_rows` (CSV values stay strings)."""
    path = Path(path)
    if not path.is_file():
        raise AsdfeatError(f"results file {path} not found")
    if path.suffix.lower() == ".json":
        return json.loads(path.read_text())
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _json_value(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return _json_value(value.item())
    return value


def _csv_value(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value
