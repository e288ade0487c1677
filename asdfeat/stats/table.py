"""The proxy-metric table: one row per configuration, validated.

A table has the columns ``family``, ``config``, ``proxy_metric``,
``proxy_value``, ``proxy_direction`` (``higher`` or ``lower`` is better) and
one column per ASD metric (AUC, as a percentage or a fraction). Both input
paths, a hand-written CSV (:func:`read_proxy_table`) and asdfeat's own scores
joined with a proxy file (:func:`proxy_table_from_results` in
:mod:`asdfeat.stats.results`), end in :func:`make_proxy_table`, which applies
every check.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asdfeat.errors import StatsError

REQUIRED_COLUMNS = ("family", "config", "proxy_metric", "proxy_value", "proxy_direction")
DIRECTIONS = ("higher", "lower")

AUXILIARY_COLUMNS = ("group", "alignment", "uniformity", "proxy_resolution")
"""Optional columns that are never taken as ASD metrics by default.

``group`` names a robustness group, ``alignment`` and ``uniformity`` feed the
collapse check of the three-stage report, and ``proxy_resolution`` is the
smallest meaningful difference of the proxy metric.
"""

MIN_CONFIGS_PER_FAMILY = 3


@dataclass(frozen=True)
class ProxyTable:
    """Validated configurations with their proxy metric and ASD metrics.

    Attributes
    ----------
    family, config, proxy_metric, proxy_direction : numpy.ndarray of str, shape (n_rows,)
        One entry per configuration. ``proxy_direction`` is ``higher`` or
        ``lower``, and one family has one proxy metric and direction.
    proxy_value : numpy.ndarray of float64, shape (n_rows,)
        Proxy metric as given, before direction adjustment.
    asd : dict of str to numpy.ndarray of float64, shape (n_rows,)
        One array per ASD metric, in column order.
    extra : dict of str to numpy.ndarray of str, shape (n_rows,)
        Every other column as text (for example ``group``).
    row_labels : tuple of str, length n_rows
        Where each row came from (file line or model name), for messages.
    source : str
        The file or files the table was read from.
    """

    family: np.ndarray
    config: np.ndarray
    proxy_metric: np.ndarray
    proxy_value: np.ndarray
    proxy_direction: np.ndarray
    asd: dict[str, np.ndarray]
    extra: dict[str, np.ndarray]
    row_labels: tuple[str, ...]
    source: str

    @property
    def asd_metrics(self) -> tuple[str, ...]:
        """Names of the ASD metric columns, in column order."""
        return tuple(self.asd)

    @property
    def families(self) -> tuple[str, ...]:
        """Family names in order of first appearance."""
        return tuple(dict.fromkeys(self.family.tolist()))

    @property
    def adjusted_proxy(self) -> np.ndarray:
        """Proxy values with ``lower``-is-better metrics sign-reversed, shape (n_rows,)."""
        return np.where(self.proxy_direction == "lower", -self.proxy_value, self.proxy_value)

    def family_rows(self, family: str) -> np.ndarray:
        """Return the row indices of one family, shape (n_family,)."""
        return np.flatnonzero(self.family == family)


def parse_number(text: object, *, column: str, row_label: str, source: str) -> float:
    """Parse one numeric cell, raising :class:`StatsError` that names the cell."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        cleaned = str(text).strip() if text is not None else ""
        if not cleaned:
            raise StatsError(f"{source}: {row_label}, column {column!r} is empty; fill in a number or drop the column")
        try:
            value = float(cleaned)
        except ValueError:
            raise StatsError(
                f"{source}: {row_label}, column {column!r} has the non-numeric value {cleaned!r}; "
                "write a plain number such as 87.5 or 0.875"
            ) from None
    if not math.isfinite(value):
        raise StatsError(f"{source}: {row_label}, column {column!r} is {value}; every value must be finite")
    return value


def _is_number(text: object) -> bool:
    try:
        float(str(text).strip())
    except ValueError:
        return False
    return True


def _choose_asd_columns(
    columns: Sequence[str],
    records: Sequence[Mapping[str, object]],
    asd_metrics: Sequence[str] | None,
    excluded: set[str],
    source: str,
) -> list[str]:
    if asd_metrics is not None:
        missing = [name for name in asd_metrics if name not in columns]
        if missing:
            raise StatsError(f"{source}: ASD metric column(s) {missing} not found; available columns: {list(columns)}")
        return list(asd_metrics)

    # A remaining column is an ASD metric when any of its cells is a number, so a
    # typo in one cell raises below instead of turning the column into text.
    candidates = [name for name in columns if name not in REQUIRED_COLUMNS and name not in excluded]
    chosen = [name for name in candidates if any(_is_number(record.get(name, "")) for record in records)]
    if not chosen:
        raise StatsError(
            f"{source}: no numeric ASD metric column found besides {list(REQUIRED_COLUMNS)}; "
            "add one column per ASD metric (for example lp_in, lp_out, md)"
        )
    return chosen


def _check_direction(text: object, row_label: str, source: str) -> str:
    direction = str(text).strip().lower()
    if direction not in DIRECTIONS:
        raise StatsError(
            f"{source}: {row_label}, column 'proxy_direction' has the unknown value {text!r}; "
            "write 'higher' or 'lower' (which direction of the proxy metric is better)"
        )
    return direction


def _check_families(table: ProxyTable, min_configs: int) -> None:
    seen: dict[tuple[str, str], str] = {}
    for family, config, label in zip(table.family, table.config, table.row_labels):
        key = (family, config)
        if key in seen:
            raise StatsError(
                f"{table.source}: configuration {config!r} of family {family!r} appears twice ({seen[key]} and {label}); "
                "give each configuration a unique name within its family"
            )
        seen[key] = label

    for family in table.families:
        rows = table.family_rows(family)
        if rows.size < min_configs:
            raise StatsError(
                f"{table.source}: family {family!r} has {rows.size} configuration(s); a rank correlation needs at "
                f"least {min_configs}, so add configurations or remove the family"
            )
        for column in ("proxy_metric", "proxy_direction"):
            values = sorted(set(getattr(table, column)[rows].tolist()))
            if len(values) > 1:
                raise StatsError(
                    f"{table.source}: family {family!r} mixes {column} values {values}; a family is ranked by one "
                    "proxy metric, so split it into one family per metric"
                )


def make_proxy_table(
    records: Sequence[Mapping[str, object]],
    *,
    columns: Sequence[str],
    source: str,
    row_labels: Sequence[str] | None = None,
    asd_metrics: Sequence[str] | None = None,
    text_columns: Sequence[str] = (),
    min_configs: int = MIN_CONFIGS_PER_FAMILY,
) -> ProxyTable:
    """Validate records and build a :class:`ProxyTable`.

    Parameters
    ----------
    records : sequence of mapping, length n_rows
        One mapping of column name to cell (text or number) per configuration.
    columns : sequence of str
        Column names in file order.
    source : str
        File name used in error messages.
    row_labels : sequence of str, optional
        Where each record came from; defaults to ``row 1``, ``row 2``, ...
    asd_metrics : sequence of str, optional
        ASD metric columns to use. By default every column other than the
        required ones, :data:`AUXILIARY_COLUMNS` and ``text_columns`` that
        contains a number.
    text_columns : sequence of str
        Columns kept as text even if they look numeric (for example the column
        named by ``--group-by``).
    min_configs : int, default 3
        Fewest configurations a family may have.

    Returns
    -------
    ProxyTable

    Raises
    ------
    StatsError
        If a required column is missing, a direction is unknown, a value is not
        numeric, a configuration is duplicated, a family mixes proxy metrics or
        has fewer than ``min_configs`` configurations. The message names the
        row or column and the fix.
    """
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise StatsError(
            f"{source}: missing required column(s) {missing}; a proxy table needs the columns "
            f"{list(REQUIRED_COLUMNS)} plus one column per ASD metric"
        )
    if not records:
        raise StatsError(f"{source}: the table has no rows")
    labels = list(row_labels) if row_labels is not None else [f"row {i + 1}" for i in range(len(records))]

    excluded = set(AUXILIARY_COLUMNS) | set(text_columns)
    asd_columns = _choose_asd_columns(columns, records, asd_metrics, excluded, source)
    extra_columns = [name for name in columns if name not in REQUIRED_COLUMNS and name not in asd_columns]

    def text(column: str) -> np.ndarray:
        return np.array([str(record.get(column, "") or "").strip() for record in records], dtype=object)

    for column in ("family", "config", "proxy_metric"):
        for value, label in zip(text(column), labels):
            if not value:
                raise StatsError(f"{source}: {label}, column {column!r} is empty; every row needs a {column}")

    table = ProxyTable(
        family=text("family"),
        config=text("config"),
        proxy_metric=text("proxy_metric"),
        proxy_value=np.array(
            [parse_number(r.get("proxy_value"), column="proxy_value", row_label=l, source=source) for r, l in zip(records, labels)]
        ),
        proxy_direction=np.array(
            [_check_direction(r.get("proxy_direction", ""), l, source) for r, l in zip(records, labels)], dtype=object
        ),
        asd={
            column: np.array(
                [parse_number(r.get(column), column=column, row_label=l, source=source) for r, l in zip(records, labels)]
            )
            for column in asd_columns
        },
        extra={column: text(column) for column in extra_columns},
        row_labels=tuple(labels),
        source=source,
    )
    _check_families(table, min_configs)
    return table


def read_csv_records(path: Path) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """Read a CSV file whose lines starting with ``#`` are comments.

    Returns
    -------
    columns : list of str
        Header names, stripped.
    records : list of dict
        One mapping per data line.
    row_labels : list of str
        ``line N`` for each record, counting every line of the file from 1.
    """
    path = Path(path)
    if not path.is_file():
        raise StatsError(f"table file not found: {path}")
    with path.open(newline="", encoding="utf-8") as handle:
        numbered = [(number, line) for number, line in enumerate(handle, start=1) if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise StatsError(f"{path}: the file has no header line")

    reader = csv.reader(line for _, line in numbered)
    rows = list(reader)
    columns = [name.strip() for name in rows[0]]
    records: list[dict[str, str]] = []
    labels: list[str] = []
    for (number, _), cells in zip(numbered[1:], rows[1:]):
        if len(cells) != len(columns):
            raise StatsError(f"{path}: line {number} has {len(cells)} cells but the header has {len(columns)}; fix the commas")
        records.append(dict(zip(columns, cells)))
        labels.append(f"line {number}")
    return columns, records, labels


def read_proxy_table(
    path: Path | str,
    *,
    asd_metrics: Sequence[str] | None = None,
    text_columns: Sequence[str] = (),
    min_configs: int = MIN_CONFIGS_PER_FAMILY,
) -> ProxyTable:
    """Read and validate a proxy table from CSV (see :func:`make_proxy_table`)."""
    columns, records, labels = read_csv_records(Path(path))
    return make_proxy_table(
        records,
        columns=columns,
        source=str(path),
        row_labels=labels,
        asd_metrics=asd_metrics,
        text_columns=text_columns,
        min_configs=min_configs,
    )
