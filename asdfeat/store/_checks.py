"""Input checks shared by every backend; each raises StoreError before any write."""

from __future__ import annotations

import json

import numpy as np

from asdfeat.data.clips import COLUMNS, ClipTable
from asdfeat.errors import StoreError

from .base import EmbeddingKey

# How many offending clip paths or rows an error message lists.
MAX_LISTED = 5


def check_key(key: EmbeddingKey) -> None:
    """Raise StoreError unless ``key`` is an EmbeddingKey of non-empty strings."""
    if not isinstance(key, EmbeddingKey):
        raise StoreError(f"expected an EmbeddingKey, got {type(key).__name__} {key!r}")
    for field in ("model", "dataset", "machine"):
        value = getattr(key, field)
        if not isinstance(value, str) or not value:
            raise StoreError(f"invalid {field} {value!r} in {key}: expected a non-empty string")


def check_dim(dim) -> int:
    """Return ``dim`` as int, or raise StoreError unless it is a positive integer."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise StoreError(f"invalid embedding dimension {dim!r}: expected a positive integer")
    return int(dim)


def encode_provenance(provenance) -> str:
    """Serialise ``provenance`` as canonical JSON (sorted keys, no NaN or infinity).

    The stored record is what ``json.loads`` returns for this text, so tuples
    come back as lists and non-string keys as strings.
    """
    if not isinstance(provenance, dict):
        raise StoreError(f"provenance must be a dict, got {type(provenance).__name__}")
    try:
        return json.dumps(provenance, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise StoreError(
            f"provenance is not JSON-serialisable ({error}); convert paths, arrays and "
            "non-finite floats to strings, lists or numbers first"
        ) from None


def check_clip_table(dataset: str, machine: str, table: ClipTable) -> None:
    """Raise StoreError unless ``table`` is a ClipTable of clips of (dataset, machine)."""
    if not isinstance(table, ClipTable):
        raise StoreError(f"expected a ClipTable, got {type(table).__name__}")
    for column, expected in (("dataset", dataset), ("machine", machine)):
        wrong = table["path"][table[column] != expected]
        if wrong.size:
            raise StoreError(
                f"clip table for ({dataset!r}, {machine!r}) has {wrong.size} clip(s) whose "
                f"{column} is not {expected!r}, e.g. {wrong[:MAX_LISTED].tolist()}; "
                "write each (dataset, machine) table separately"
            )


# Ground truth for evaluation clips is often published after the clips were
# stored. Filling in an "unknown" label or domain leaves the audio, and so the
# stored embeddings, unchanged, so these two columns may be refined in place.
# An "unknown" in a new table (a rescan without the ground truth) keeps the
# stored value.
REFINABLE_COLUMNS = ("label", "domain")


def find_label_updates(stored: ClipTable, table: ClipTable) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Find stored ``"unknown"`` labels and domains that ``table`` fills in.

    Returns
    -------
    dict of str to (rows, values)
        Per column of :data:`REFINABLE_COLUMNS`, the stored row numbers and
        their new values; columns without updates are left out.
    """
    stored_index = stored.row_index()
    matches = np.array([stored_index.get(path, -1) for path in table["path"].tolist()], dtype=np.int64)
    known = np.flatnonzero(matches >= 0)

    updates = {}
    for column in REFINABLE_COLUMNS:
        old = stored[column][matches[known]]
        new = table[column][known]
        filled = (old == "unknown") & (new != "unknown")
        if filled.any():
            updates[column] = (matches[known][filled], new[filled])
    return updates


def find_rows_to_append(stored: ClipTable, table: ClipTable, where: str) -> np.ndarray:
    """Return the row numbers of ``table`` whose path is not in ``stored``.

    Raises
    ------
    StoreError
        If a path in both tables has different metadata in ``table``, since
        its stored embeddings would then describe another clip.
    """
    stored_index = stored.row_index()
    paths = table["path"].tolist()
    matches = np.array([stored_index.get(path, -1) for path in paths], dtype=np.int64)
    known = np.flatnonzero(matches >= 0)

    changed_columns = {}
    for column in COLUMNS:
        differs = table[column][known] != stored[column][matches[known]]
        if column in REFINABLE_COLUMNS:
            differs &= (stored[column][matches[known]] != "unknown") & (table[column][known] != "unknown")
        for row in known[differs].tolist():
            changed_columns.setdefault(row, []).append(column)

    if changed_columns:
        conflicts = [
            f"{table['path'][row]} ({', '.join(columns)})"
            for row, columns in sorted(changed_columns.items())
        ]
        raise StoreError(
            f"{where}: {len(conflicts)} stored clip(s) have different metadata in the new "
            f"table, e.g. {conflicts[:MAX_LISTED]}; stored rows cannot change, so write "
            "the changed clips to a new store or under another dataset name"
        )
    return np.flatnonzero(matches < 0)


def check_embedding_rows(
    key: EmbeddingKey, n_clips: int, clip_paths, dim: int, rows, values
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a write request and return (rows, values) sorted by row.

    Parameters
    ----------
    n_clips : int
        Rows in the clip table.
    clip_paths : callable
        ``clip_paths(rows)`` returns the paths of the given valid rows in
        increasing row order. It is called only to name offending clips.
    rows : array-like of shape (k,), int
    values : array-like of shape (k, dim)

    Returns
    -------
    rows : ndarray of shape (k,), int64, increasing
    values : ndarray of shape (k, dim), float32, in the order of ``rows``
    """
    rows = np.asarray(rows)
    if rows.ndim != 1 or not (np.issubdtype(rows.dtype, np.integer) or rows.size == 0):
        raise StoreError(
            f"{key}: rows must be a 1-D integer array, got shape {rows.shape} dtype {rows.dtype}"
        )
    rows = rows.astype(np.int64)

    values = np.asarray(values)
    if values.ndim != 2 or values.shape != (rows.size, dim):
        raise StoreError(
            f"{key}: values have shape {values.shape}, expected ({rows.size}, {dim}) "
            f"for {rows.size} row(s) of dimension {dim}"
        )
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise StoreError(f"{key}: values must be real numbers, got dtype {values.dtype}")

    out_of_range = rows[(rows < 0) | (rows >= n_clips)]
    if out_of_range.size:
        raise StoreError(
            f"{key}: {out_of_range.size} row(s) outside the clip table of {n_clips} clips, "
            f"e.g. {out_of_range[:MAX_LISTED].tolist()}; write the clips first"
        )

    unique, counts = np.unique(rows, return_counts=True)
    repeated = unique[counts > 1]
    if repeated.size:
        raise StoreError(
            f"{key}: {repeated.size} row(s) given more than once, e.g. clips "
            f"{clip_paths(repeated[:MAX_LISTED])}; give each row once"
        )

    # Finiteness is checked after the cast, because values beyond the float32
    # range become infinite there.
    with np.errstate(over="ignore", invalid="ignore"):
        values = values.astype(np.float32)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise StoreError(
            f"{key}: {int(bad.sum())} row(s) have NaN or infinite values (after the cast to "
            f"float32), e.g. clips {clip_paths(np.sort(rows[bad])[:MAX_LISTED])}; fix the "
            "extractor output before storing it"
        )

    order = np.argsort(rows, kind="stable")
    return rows[order], values[order]


def select_sections(key: EmbeddingKey, table: ClipTable, sections) -> np.ndarray:
    """Return a (n_clips,) bool mask of the rows in ``sections`` (all rows for None)."""
    if sections is None:
        return np.ones(len(table), dtype=bool)

    if isinstance(sections, str) or not all(isinstance(s, str) for s in sections):
        raise StoreError(
            f"{key}: sections must be a list of strings such as ['00', '01'], got {sections!r}"
        )
    available = sorted(set(table["section"].tolist()))
    unknown = sorted(set(sections) - set(available))
    if unknown:
        raise StoreError(
            f"{key}: section(s) {unknown} not in the clip table; available sections: {available}"
        )
    return np.isin(table["section"], list(sections))


def contiguous_runs(rows: np.ndarray) -> list[tuple[int, int, int]]:
    """Split increasing ``rows`` into runs of consecutive numbers.

    Returns
    -------
    list of (offset, start, stop)
        ``rows[offset : offset + stop - start]`` equals ``range(start, stop)``.
    """
    if rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    offsets = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [rows.size]])
    return [(int(o), int(rows[o]), int(rows[e - 1]) + 1) for o, e in zip(offsets, ends)]
