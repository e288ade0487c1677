"""Readers for embedding matrices and clip lists written by other tools.

An embedding file contains one (n_clips, dim) numeric matrix in one of these
formats, chosen by the file suffix:

* ``.npy``: the array itself.
* ``.npz``: the array named by ``key``, the only array, or the array named
  ``embeddings`` (the name that ``asdfeat export`` writes).
* ``.csv``: numeric columns, with or without a header row. Header columns
  named like clip-table columns (``path``, ``file_name``, ...) are skipped, so
  a CSV written by ``asdfeat export`` reads back as it is.
* ``.parquet`` / ``.pq`` (needs pyarrow): numeric columns, or one list column
  (the one named by ``key`` when there are several). Clip-table columns are
  skipped as in CSV.
* ``.h5`` / ``.hdf5`` / ``.hdf``: the dataset named by ``key`` or written as
  ``FILE.h5:/group/name``, or the only dataset in the file.

A clip list gives, in the embedding rows' order, each clip's path relative to
the dataset root: a CSV or Parquet file with a ``path`` column, or with
``machine`` and ``file_name`` columns (and optionally ``split``), or an
``.npz`` file with a ``path`` array.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asdfeat.data.clips import COLUMNS
from asdfeat.errors import AsdfeatError

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
PARQUET_SUFFIXES = (".parquet", ".pq")
EMBEDDING_SUFFIXES = (".npy", ".npz", ".csv", *PARQUET_SUFFIXES, *HDF5_SUFFIXES)
CLIP_LIST_SUFFIXES = (".csv", ".npz", *PARQUET_SUFFIXES)

# Columns that describe clips rather than embedding dimensions.
METADATA_COLUMNS = frozenset(COLUMNS)

# Columns of a clip list that identify clips.
CLIP_LIST_COLUMNS = ("path", "machine", "file_name", "split")


class EmbeddingFileError(AsdfeatError):
    """An embedding file or clip list cannot be read or does not match the store."""


@dataclass(frozen=True)
class ClipListEntry:
    """One row of a clip list: a path, or a machine type and file name to resolve.

    Attributes
    ----------
    path : str or None
        Path relative to the dataset root, when the list has a ``path`` column.
    machine, file_name, split : str or None
        The other identification, used when ``path`` is None. ``split`` may be
        None, in which case the importer resolves it from the store or the name.
    """

    path: str | None
    machine: str | None = None
    file_name: str | None = None
    split: str | None = None


def split_source(source: str | Path, key: str | None = None) -> tuple[Path, str | None]:
    """Split ``FILE.h5:/group/name`` into the file and the dataset name.

    Returns
    -------
    (Path, str or None)
        The file path and ``key``, or the part after the colon for an HDF5 file
        whose name has that form. A path that exists as it is stays whole.

    Raises
    ------
    EmbeddingFileError
        If ``key`` is given as well as a ``:/path`` suffix, and they differ.
    """
    text = str(source)
    if Path(text).exists():
        return Path(text), key

    file_part, separator, inner = text.rpartition(":")
    if separator and file_part.lower().endswith(HDF5_SUFFIXES):
        if key is not None and key.strip("/") != inner.strip("/"):
            raise EmbeddingFileError(
                f"{text!r} names the HDF5 dataset {inner!r} but --key is {key!r}; give only one"
            )
        return Path(file_part), inner
    return Path(text), key


def read_embedding_file(source: str | Path, *, key: str | None = None) -> np.ndarray:
    """Read one embedding matrix from a file.

    Parameters
    ----------
    source : str or path-like
        The file; for HDF5 also ``FILE.h5:/group/name``.
    key : str, optional
        Array name in an ``.npz`` file, dataset in an HDF5 file, or list column
        in a Parquet file.

    Returns
    -------
    ndarray of shape (n_clips, dim)
        Real numbers in the file's own dtype; finiteness is checked later by
        the importer, which can name the clips.

    Raises
    ------
    EmbeddingFileError
        If the file is missing, has an unknown suffix, or contains no 2-D numeric
        matrix under the given key.
    """
    path, key = split_source(source, key)
    if not path.is_file():
        raise EmbeddingFileError(f"embedding file {str(path)!r} not found")

    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = _read_npy(path, key)
    elif suffix == ".npz":
        array = _read_npz(path, key)
    elif suffix == ".csv":
        array = _read_csv_matrix(path, key)
    elif suffix in PARQUET_SUFFIXES:
        array = _read_parquet_matrix(path, key)
    elif suffix in HDF5_SUFFIXES:
        array = _read_hdf5(path, key)
    else:
        raise EmbeddingFileError(
            f"embedding file {str(path)!r} has the unsupported suffix {suffix!r}; "
            f"use one of {', '.join(EMBEDDING_SUFFIXES)}"
        )
    return _check_matrix(array, path)


def read_clip_list(source: str | Path) -> list[ClipListEntry]:
    """Read a clip list, keeping its row order.

    Raises
    ------
    EmbeddingFileError
        If the file is missing, has an unknown suffix, or has neither a
        ``path`` column nor ``machine`` and ``file_name`` columns.
    """
    path = Path(source)
    if not path.is_file():
        raise EmbeddingFileError(f"clip list {str(path)!r} not found")

    suffix = path.suffix.lower()
    if suffix == ".csv":
        columns = _read_csv_columns(path)
    elif suffix == ".npz":
        with _load_numpy(path) as archive:
            names = [name for name in archive.files if name in CLIP_LIST_COLUMNS]
            columns = {name: archive[name].astype(str).tolist() for name in names}
    elif suffix in PARQUET_SUFFIXES:
        table = _import_pyarrow(path)[1].read_table(path)
        names = [name for name in table.column_names if name in CLIP_LIST_COLUMNS]
        columns = {name: [str(v) for v in table.column(name).to_pylist()] for name in names}
    else:
        raise EmbeddingFileError(
            f"clip list {str(path)!r} has the unsupported suffix {suffix!r}; "
            f"use one of {', '.join(CLIP_LIST_SUFFIXES)}"
        )
    return _entries_from_columns(columns, path)


# -- embedding formats ---------------------------------------------------------


def _read_npy(path: Path, key: str | None) -> np.ndarray:
    if key is not None:
        raise EmbeddingFileError(f"{str(path)!r} is a .npy file, which contains one array, so --key does not apply; drop it")
    return _load_numpy(path)


def _read_npz(path: Path, key: str | None) -> np.ndarray:
    with _load_numpy(path) as archive:
        names = list(archive.files)
        if key is not None:
            if key not in names:
                raise EmbeddingFileError(f"{str(path)!r} has no array {key!r}; it contains {names}")
            return archive[key]
        if len(names) == 1:
            return archive[names[0]]
        if "embeddings" in names:
            return archive["embeddings"]
    raise EmbeddingFileError(
        f"{str(path)!r} contains the arrays {names}; choose one with --key"
    )


def _load_numpy(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        raise EmbeddingFileError(
            f"{str(path)!r} cannot be read without unpickling objects ({error}); "
            "save a numeric array instead"
        ) from error
    except OSError as error:
        raise EmbeddingFileError(f"{str(path)!r} is not a valid NumPy file: {error}") from error


def _read_csv_matrix(path: Path, key: str | None) -> np.ndarray:
    if key is not None:
        raise EmbeddingFileError(f"{str(path)!r} is a CSV file; --key applies to .npz, HDF5 and Parquet")

    rows = _read_csv_rows(path)
    if not rows:
        raise EmbeddingFileError(f"{str(path)!r} is empty")

    has_header = not all(_is_number(cell) for cell in rows[0])
    header = rows[0] if has_header else [str(i) for i in range(len(rows[0]))]
    body = rows[1:] if has_header else rows
    keep = [i for i, name in enumerate(header) if name not in METADATA_COLUMNS]
    if not keep:
        raise EmbeddingFileError(f"{str(path)!r} has no numeric columns")

    first_line = 2 if has_header else 1
    matrix = np.empty((len(body), len(keep)), dtype=np.float64)
    for i, row in enumerate(body):
        line = first_line + i
        if len(row) != len(header):
            raise EmbeddingFileError(
                f"{str(path)!r} line {line} has {len(row)} fields, expected {len(header)}"
            )
        for out_column, column in enumerate(keep):
            matrix[i, out_column] = _parse_number(row[column], path, line, header[column])
    return matrix


def _read_parquet_matrix(path: Path, key: str | None) -> np.ndarray:
    pa, parquet = _import_pyarrow(path)
    table = parquet.read_table(path)
    list_columns = [
        name for name in table.column_names
        if pa.types.is_list(table.schema.field(name).type)
        or pa.types.is_fixed_size_list(table.schema.field(name).type)
        or pa.types.is_large_list(table.schema.field(name).type)
    ]

    if key is not None:
        if key not in table.column_names:
            raise EmbeddingFileError(f"{str(path)!r} has no column {key!r}; it has {table.column_names}")
        if key not in list_columns:
            raise EmbeddingFileError(f"{str(path)!r}: --key must name a list column, {key!r} is not one")
        return _stack_list_column(table.column(key).to_pylist(), path, key)
    if len(list_columns) == 1:
        return _stack_list_column(table.column(list_columns[0]).to_pylist(), path, list_columns[0])
    if list_columns:
        raise EmbeddingFileError(f"{str(path)!r} has the list columns {list_columns}; choose one with --key")

    numeric = []
    for name in table.column_names:
        field_type = table.schema.field(name).type
        if pa.types.is_integer(field_type) or pa.types.is_floating(field_type):
            numeric.append(name)
        elif name not in METADATA_COLUMNS:
            raise EmbeddingFileError(
                f"{str(path)!r} column {name!r} has the type {field_type}, which is not numeric; "
                "drop it or name it after a clip-table column"
            )
    if not numeric:
        raise EmbeddingFileError(f"{str(path)!r} has no numeric columns")
    return np.column_stack([table.column(name).to_numpy(zero_copy_only=False) for name in numeric])


def _stack_list_column(values: list, path: Path, name: str) -> np.ndarray:
    lengths = {len(value) for value in values if value is not None}
    if None in values or len(lengths) > 1:
        raise EmbeddingFileError(
            f"{str(path)!r} column {name!r} has empty or unequal-length lists; every row needs one vector"
        )
    return np.asarray(values, dtype=np.float64)


def _import_pyarrow(path: Path):
    try:
        import pyarrow
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise EmbeddingFileError(
            f"reading the Parquet file {str(path)!r} needs pyarrow, which is not installed; "
            "install it with: pip install 'asdfeat[parquet]'"
        ) from error
    return pyarrow, parquet


def _read_hdf5(path: Path, key: str | None) -> np.ndarray:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise EmbeddingFileError(f"{str(path)!r} is not a valid HDF5 file: {error}") from error

    with handle:
        if key is None:
            names = _hdf5_dataset_names(handle)
            if len(names) != 1:
                raise EmbeddingFileError(
                    f"{str(path)!r} contains {len(names)} datasets {names[:10]}; "
                    "choose one with --key or FILE.h5:/path"
                )
            key = names[0]
        node = handle.get(key)
        if not isinstance(node, h5py.Dataset):
            raise EmbeddingFileError(
                f"{str(path)!r} has no dataset {key!r}; it contains {_hdf5_dataset_names(handle)[:10]}"
            )
        return node[()]


def _hdf5_dataset_names(handle) -> list[str]:
    import h5py

    names: list[str] = []
    handle.visititems(lambda name, node: names.append("/" + name) if isinstance(node, h5py.Dataset) else None)
    return names


def _check_matrix(array, path: Path) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind not in "iuf":
        raise EmbeddingFileError(
            f"embeddings in {str(path)!r} have the dtype {array.dtype}; expected real numbers"
        )
    if array.ndim != 2:
        raise EmbeddingFileError(
            f"embeddings in {str(path)!r} have the shape {array.shape}; expected (n_clips, dim)"
        )
    if array.shape[1] == 0:
        raise EmbeddingFileError(f"embeddings in {str(path)!r} have dimension 0")
    return array


# -- CSV and clip lists ---------------------------------------------------------


def _read_csv_rows(path: Path) -> list[list[str]]:
    # utf-8-sig drops the byte-order mark that spreadsheet programs write.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [row for row in csv.reader(handle) if row]


def _read_csv_columns(path: Path) -> dict[str, list[str]]:
    rows = _read_csv_rows(path)
    if not rows:
        raise EmbeddingFileError(f"clip list {str(path)!r} is empty")
    header = [name.strip() for name in rows[0]]
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise EmbeddingFileError(
                f"clip list {str(path)!r} line {line} has {len(row)} fields, expected {len(header)}"
            )
    return {name: [row[i].strip() for row in rows[1:]] for i, name in enumerate(header)}


def _entries_from_columns(columns: dict[str, list[str]], path: Path) -> list[ClipListEntry]:
    if "path" in columns:
        return [ClipListEntry(path=value.replace("\\", "/")) for value in columns["path"]]

    if "machine" in columns and "file_name" in columns:
        splits = columns.get("split") or [None] * len(columns["machine"])
        return [
            ClipListEntry(path=None, machine=machine, file_name=file_name, split=split or None)
            for machine, file_name, split in zip(columns["machine"], columns["file_name"], splits)
        ]

    raise EmbeddingFileError(
        f"clip list {str(path)!r} has the columns {sorted(columns)}; it needs a 'path' column "
        "(e.g. fan/train/<file name>) or 'machine' and 'file_name' columns"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_number(text: str, path: Path, line: int, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise EmbeddingFileError(
            f"{str(path)!r} line {line}, column {column!r}: {text!r} is not a number"
        ) from None
