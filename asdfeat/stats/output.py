"""Machine-readable output of an analysis: one row per family x ASD-metric test."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from asdfeat.errors import StatsError
from asdfeat.stats.analysis import StatsResult

RESULT_COLUMNS = (
    "family",
    "asd_metric",
    "n",
    "rho",
    "p",
    "q",
    "best_by_proxy",
    "best_by_asd",
    "reversal",
    "p_method",
    "n_resamples",
    "note",
)
"""Columns of the results file; tied best configurations are joined with ``|``."""


def _json_safe(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def result_records(result: StatsResult) -> list[dict[str, object]]:
    """Return one flat record per test, with keys in :data:`RESULT_COLUMNS` order."""
    return [{column: test.as_record()[column] for column in RESULT_COLUMNS} for test in result.tests]


def write_results(result: StatsResult, path: Path | str) -> Path:
    """Write the tests as CSV, or as JSON when the name ends in ``.json``.

    JSON contains ``{"settings": {...}, "tests": [...]}`` with NaN written as
    ``null``. CSV writes NaN as ``nan``, the spelling NumPy and pandas read back.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise StatsError(f"output folder not found: {path.parent}; create it first")
    records = result_records(result)

    if path.suffix.lower() == ".json":
        document = {
            "settings": {
                "fdr_scope": result.fdr_scope,
                "max_exact_n": result.max_exact_n,
                "n_resamples": result.n_resamples,
                "seed": result.seed,
                "p_value": "two-sided, min(1, 2 * min(P(T <= t), P(T >= t))) over permutations",
            },
            "tests": [{key: _json_safe(value) for key, value in record.items()} for record in records],
        }
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        return path

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    return path
