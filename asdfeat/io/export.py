"""Export clip tables and embeddings to files that other tools read.

One file per (dataset, machine type), named ``<dataset>_<machine>.<ext>``:

* ``npz``: string arrays ``path``, ``file_name``, ``dataset``, ``machine``,
  ``section``, ``domain``, ``split``, ``label``, ``attributes`` and, when a
  model is exported, ``embeddings`` of shape (n_clips, dim), float32. The
  arrays load with ``numpy.load(..., allow_pickle=False)``.
* ``csv``: a header row, the clip-table columns, then ``e0000``, ``e0001``, ...
  with each float32 value written as the shortest decimal that reads back to
  the same float32.
* ``parquet`` (needs pyarrow): the clip-table columns as strings and, with a
  model, an ``embedding`` column of fixed-size float32 lists.

Each exported file is also a valid input of ``asdfeat import``, both as the
embedding file and as the clip list.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from asdfeat.data.clips import COLUMNS, ClipTable
from asdfeat.errors import StoreError
from asdfeat.store.base import EmbeddingKey

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("npz", "csv", "parquet")


def export_store(
    store,
    out_dir: str | Path,
    *,
    model: str | None = None,
    fmt: str = "npz",
    datasets: list[str] | None = None,
    machines: list[str] | None = None,
) -> list[Path]:
    """Write one file per selected clip table, with the model's embeddings if given.

    Parameters
    ----------
    store : FeatureStore
        Open store to read from.
    out_dir : str or path-like
        Output folder; created if needed. Existing files of the same name are
        replaced.
    model : str, optional
        Model whose embeddings to include. Only the clip tables that have
        embeddings of this model are exported then. Without a model, only the
        clip tables are exported.
    fmt : {"npz", "csv", "parquet"}
    datasets, machines : list of str, optional
        Keep only these datasets or machine types.

    Returns
    -------
    list of Path
        The written files, sorted.

    Raises
    ------
    StoreError
        If nothing matches the selection, or a selected embedding matrix has
        incomplete rows.
    ValueError
        If ``fmt`` is not one of :data:`EXPORT_FORMATS`.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {EXPORT_FORMATS}")

    pairs = _select_pairs(store, model, datasets, machines)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    written = []
    for dataset, machine in pairs:
        if model is None:
            embeddings, table = None, store.read_clips(dataset, machine)
        else:
            embeddings, table = store.read_embeddings(EmbeddingKey(model, dataset, machine))
        target = out_dir / f"{dataset}_{machine}.{fmt}"
        _WRITERS[fmt](target, table, embeddings)
        logger.info("exported %d clips of (%s, %s) to %s", len(table), dataset, machine, target)
        written.append(target)
    return sorted(written)


def _select_pairs(store, model, datasets, machines) -> list[tuple[str, str]]:
    if model is None:
        pairs = store.list_clip_tables()
    else:
        pairs = [(key.dataset, key.machine) for key in store.list_embeddings() if key.model == model]

    selected = sorted(
        (dataset, machine)
        for dataset, machine in pairs
        if (not datasets or dataset in datasets) and (not machines or machine in machines)
    )
    if not selected:
        what = f"embeddings of model {model!r}" if model else "clip tables"
        models = sorted({key.model for key in store.list_embeddings()})
        raise StoreError(
            f"the store has no {what} for datasets={datasets or 'all'} and "
            f"machines={machines or 'all'}; stored models: {models or 'none'}. "
            "Run 'asdfeat ls' to see what it contains"
        )
    return selected


def _write_npz(target: Path, table: ClipTable, embeddings: np.ndarray | None) -> None:
    arrays = {name: table[name] for name in COLUMNS}
    if embeddings is not None:
        arrays["embeddings"] = np.asarray(embeddings, dtype=np.float32)
    np.savez(target, **arrays)


def _write_csv(target: Path, table: ClipTable, embeddings: np.ndarray | None) -> None:
    # str() of a NumPy float32 is the shortest decimal that parses back to it.
    embeddings = None if embeddings is None else np.asarray(embeddings, dtype=np.float32)
    dim = 0 if embeddings is None else embeddings.shape[1]
    width = max(4, len(str(dim - 1)))
    header = list(COLUMNS) + [f"e{i:0{width}d}" for i in range(dim)]

    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in range(len(table)):
            metadata = [str(table[name][row]) for name in COLUMNS]
            values = [] if embeddings is None else [str(value) for value in embeddings[row]]
            writer.writerow(metadata + values)


def _write_parquet(target: Path, table: ClipTable, embeddings: np.ndarray | None) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise StoreError(
            "exporting Parquet files needs pyarrow, which is not installed; "
            "install it with: pip install 'asdfeat[parquet]', or use --format npz"
        ) from error

    columns = {name: pa.array(table[name].tolist(), type=pa.string()) for name in COLUMNS}
    if embeddings is not None:
        values = np.ascontiguousarray(embeddings, dtype=np.float32)
        flat = pa.array(values.reshape(-1), type=pa.float32())
        columns["embedding"] = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
    parquet.write_table(pa.table(columns), target)


_WRITERS = {"npz": _write_npz, "csv": _write_csv, "parquet": _write_parquet}
