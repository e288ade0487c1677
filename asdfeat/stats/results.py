"""Build a proxy table from asdfeat's own scores and a per-model proxy file.

``asdfeat score --out`` writes one record per model, dataset, machine type and
protocol, with the AUC as a fraction. Rows with ``scope == "mean"`` (whose
``machine`` is ``mean``) hold the mean over machine types. The proxy file is a
CSV with ``model``, ``family``, ``proxy_metric``, ``proxy_value`` and
``proxy_direction``. The model name becomes the configuration name and each
protocol one ASD column (``lp-in`` becomes ``lp_in``).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asdfeat.errors import StatsError
from asdfeat.stats.table import (
    MIN_CONFIGS_PER_FAMILY,
    REQUIRED_COLUMNS,
    ProxyTable,
    make_proxy_table,
    parse_number,
    read_csv_records,
)

logger = logging.getLogger(__name__)

RESULT_COLUMNS = ("model", "dataset", "machine", "protocol", "auc")
PROXY_FILE_COLUMNS = ("model", "family", "proxy_metric", "proxy_value", "proxy_direction")
MEAN_SCOPE = "mean"
SECTION_SCOPE = "section"


def protocol_column(protocol: str) -> str:
    """Return the ASD column name of a scoring protocol (``lp-in`` becomes ``lp_in``)."""
    return protocol.strip().replace("-", "_")


def read_score_records(path: Path | str) -> tuple[list[dict[str, object]], list[str]]:
    """Read a scores file written by ``asdfeat score --out`` (CSV or JSON list).

    Returns
    -------
    records : list of dict
        One mapping per score row.
    row_labels : list of str
        ``line N`` for CSV, ``record N`` (1-based) for JSON.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise StatsError(f"scores file not found: {path}")
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise StatsError(f"{path}: invalid JSON ({error}); expected a list of score records") from None
        if not isinstance(loaded, list) or not all(isinstance(item, dict) for item in loaded):
            raise StatsError(f"{path}: expected a JSON list of objects, one per score row")
        return loaded, [f"record {i + 1}" for i in range(len(loaded))]

    columns, records, labels = read_csv_records(path)
    return records, labels


def _check_columns(records: Sequence[dict], required: Sequence[str], source: str) -> None:
    present = set().union(*(record.keys() for record in records)) if records else set()
    missing = [name for name in required if name not in present]
    if missing:
        raise StatsError(f"{source}: missing column(s) {missing}; expected at least {list(required)}")


def _select_dataset(records: list[dict], dataset: str | None, source: str) -> list[int]:
    """Return the indices of the rows to analyse.

    Per-section rows are dropped. ``asdfeat score`` writes its means over
    machine types with the dataset ``all``: they are used when no dataset is
    chosen, and left out (the chosen dataset's machine rows are averaged)
    when one is.
    """
    scored = [i for i, record in enumerate(records) if _scope(record) != SECTION_SCOPE]
    datasets = sorted({str(records[i]["dataset"]).strip() for i in scored if not _is_mean_row(records[i])})
    if dataset is None and len(datasets) > 1:
        raise StatsError(f"{source}: scores cover several datasets {datasets}; choose one with --dataset")
    if dataset is not None and dataset not in datasets:
        raise StatsError(f"{source}: dataset {dataset!r} not found; available datasets: {datasets}")

    chosen = dataset
    if chosen is None and datasets:
        chosen = datasets[0]
    return [
        i
        for i in scored
        if (_is_mean_row(records[i]) and dataset is None)
        or (not _is_mean_row(records[i]) and str(records[i]["dataset"]).strip() == chosen)
    ]


def _scope(record: dict) -> str:
    return str(record.get("scope", "") or "").strip()


def _is_mean_row(record: dict) -> bool:
    scope = _scope(record)
    if scope:
        return scope == MEAN_SCOPE
    return str(record["machine"]).strip() == MEAN_SCOPE


def aggregate_auc(
    records: Sequence[dict], labels: Sequence[str], source: str
) -> dict[tuple[str, str], float]:
    """Reduce score rows to one AUC per (model, protocol).

    The ``scope == "mean"`` row is used when present. Otherwise the machine
    rows are averaged with equal weight per machine type.

    Returns
    -------
    dict of (model, ASD column) to float
        AUC as stored in the file (a fraction for asdfeat's scores).
    """
    mean_rows: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    machine_rows: dict[tuple[str, str], dict[str, tuple[float, str]]] = defaultdict(dict)
    for record, label in zip(records, labels):
        key = (str(record["model"]).strip(), protocol_column(str(record["protocol"])))
        auc = parse_number(record["auc"], column="auc", row_label=label, source=source)
        if _is_mean_row(record):
            mean_rows[key].append((auc, label))
            continue
        machine = str(record["machine"]).strip()
        if machine in machine_rows[key]:
            raise StatsError(
                f"{source}: model {key[0]!r}, protocol {key[1]!r}, machine {machine!r} appears twice "
                f"({machine_rows[key][machine][1]} and {label}); keep one score per machine type"
            )
        machine_rows[key][machine] = (auc, label)

    aucs: dict[tuple[str, str], float] = {}
    for key in sorted(set(mean_rows) | set(machine_rows)):
        if len(mean_rows.get(key, [])) > 1:
            where = " and ".join(label for _, label in mean_rows[key])
            raise StatsError(f"{source}: model {key[0]!r}, protocol {key[1]!r} has several mean rows ({where}); keep one")
        if key in mean_rows:
            aucs[key] = mean_rows[key][0][0]
        else:
            aucs[key] = float(np.mean([auc for auc, _ in machine_rows[key].values()]))
            logger.debug("no mean row for %s; averaged %d machine rows", key, len(machine_rows[key]))
    return aucs


def proxy_table_from_results(
    scores_path: Path | str,
    proxy_path: Path | str,
    *,
    dataset: str | None = None,
    asd_metrics: Sequence[str] | None = None,
    text_columns: Sequence[str] = (),
    min_configs: int = MIN_CONFIGS_PER_FAMILY,
) -> ProxyTable:
    """Join asdfeat scores with a per-model proxy file into a :class:`ProxyTable`.

    Parameters
    ----------
    scores_path : path
        CSV or JSON scores with the columns ``model``, ``dataset``,
        ``machine``, ``protocol``, ``auc`` and optionally ``scope``.
    proxy_path : path
        CSV with ``model``, ``family``, ``proxy_metric``, ``proxy_value``,
        ``proxy_direction``; further columns (such as ``group``) are kept.
    dataset : str, optional
        Dataset to use when the scores cover several.
    asd_metrics : sequence of str, optional
        ASD columns to keep (``lp_in``, ``md``, ...); by default every
        protocol found.
    text_columns, min_configs
        Passed to :func:`asdfeat.stats.table.make_proxy_table`.

    Raises
    ------
    StatsError
        If a column is missing, a proxy model has no scores, a protocol is
        missing for some model, or the joined table fails validation.
    """
    scores_source = str(scores_path)
    records, labels = read_score_records(scores_path)
    if not records:
        raise StatsError(f"{scores_source}: the scores file has no rows")
    _check_columns(records, RESULT_COLUMNS, scores_source)
    selected = _select_dataset(records, dataset, scores_source)

    proxy_columns, proxy_records, proxy_labels = read_csv_records(Path(proxy_path))
    _check_columns(proxy_records, PROXY_FILE_COLUMNS, str(proxy_path))
    proxy_models = {record["model"].strip() for record in proxy_records}
    all_scored = {str(records[i]["model"]).strip() for i in selected}
    unused = sorted(all_scored - proxy_models)
    if unused:
        logger.info("ignoring %d scored model(s) without a proxy value: %s", len(unused), ", ".join(unused))

    # Only models in the proxy file are analysed, so only their AUCs must be defined.
    selected = [i for i in selected if str(records[i]["model"]).strip() in proxy_models]
    aucs = aggregate_auc([records[i] for i in selected], [labels[i] for i in selected], scores_source)
    protocols = sorted({protocol for _, protocol in aucs})
    scored_models = {model for model, _ in aucs}

    joined: list[dict[str, object]] = []
    joined_labels: list[str] = []
    for record, label in zip(proxy_records, proxy_labels):
        model = record["model"].strip()
        if model not in scored_models:
            raise StatsError(
                f"{proxy_path}: {label}, model {model!r} has no scores in {scores_source}; "
                "score it first or remove it from the proxy file"
            )
        row: dict[str, object] = {name: value for name, value in record.items() if name != "model"}
        row["config"] = model
        for protocol in protocols:
            row[protocol] = aucs.get((model, protocol), "")
        joined.append(row)
        joined_labels.append(f"model {model!r} ({proxy_path}, {label})")

    extra = [name for name in proxy_columns if name not in PROXY_FILE_COLUMNS]
    columns = list(REQUIRED_COLUMNS) + extra + protocols
    return make_proxy_table(
        joined,
        columns=columns,
        source=f"{scores_source} + {proxy_path}",
        row_labels=joined_labels,
        asd_metrics=asd_metrics if asd_metrics is not None else protocols,
        text_columns=text_columns,
        min_configs=min_configs,
    )
