"""Input checks shared by the scoring backends.

Every check raises :class:`~asdfeat.errors.ScoringError` with the cell key
and, where the caller knows it, the clip path of the first bad row.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from asdfeat.errors import ScoringError


def describe_key(key: Hashable | None) -> str:
    """Return a short label for a cell key, used as a message prefix."""
    return "" if key is None else f"cell {key!r}: "


def as_embedding_matrix(
    values,
    name: str,
    *,
    key: Hashable | None = None,
    paths: Sequence[str] | np.ndarray | None = None,
    keep_float32: bool = False,
) -> np.ndarray:
    """Convert embeddings to a finite float64 matrix or raise.

    Parameters
    ----------
    values : array_like of shape (n, d)
        Embeddings, one row per clip.
    name : str
        What the rows are (for example ``"train"``), used in messages.
    key : hashable, optional
        Cell key, such as ``(model, dataset, machine)``, named in messages.
    paths : sequence of str of length n, optional
        Clip paths of the rows, named in messages.
    keep_float32 : bool, default False
        Return float32 input unconverted, for callers that accumulate in
        float64 themselves and want to skip a full copy.

    Returns
    -------
    numpy.ndarray of shape (n, d), dtype float64 (or float32 if kept)
    """
    prefix = describe_key(key)
    matrix = np.asarray(values)
    if matrix.ndim != 2:
        raise ScoringError(f"{prefix}{name} embeddings must be 2-D (clips, dims), got shape {matrix.shape}")
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ScoringError(f"{prefix}{name} embeddings are empty (shape {matrix.shape})")
    if not np.issubdtype(matrix.dtype, np.number) or np.iscomplexobj(matrix):
        raise ScoringError(f"{prefix}{name} embeddings must be real numbers, got dtype {matrix.dtype}")

    if not (keep_float32 and matrix.dtype == np.float32):
        matrix = np.asarray(matrix, dtype=np.float64)
    finite_rows = np.isfinite(matrix).all(axis=1)
    if not finite_rows.all():
        row = int(np.flatnonzero(~finite_rows)[0])
        column = int(np.flatnonzero(~np.isfinite(matrix[row]))[0])
        where = f"clip {paths[row]!r}" if paths is not None else f"row {row}"
        raise ScoringError(
            f"{prefix}{name} embedding of {where} contains {matrix[row, column]} at dimension {column} "
            f"({int((~finite_rows).sum())} non-finite rows in total); re-extract those clips"
        )
    return matrix


def as_vector(values, name: str, length: int, *, key: Hashable | None = None) -> np.ndarray:
    """Convert a per-clip column to a 1-D array of the expected length or raise."""
    vector = np.asarray(values)
    if vector.ndim != 1:
        raise ScoringError(f"{describe_key(key)}{name} must be 1-D, got shape {vector.shape}")
    if vector.shape[0] != length:
        raise ScoringError(
            f"{describe_key(key)}{name} has {vector.shape[0]} entries but there are {length} "
            "embedding rows; every clip needs exactly one entry"
        )
    return vector


def as_labels(values, length: int, *, key: Hashable | None = None) -> np.ndarray:
    """Convert anomaly labels (True or 1 = anomaly) to a bool array or raise."""
    labels = as_vector(values, "eval_label", length, key=key)
    if labels.dtype != np.bool_:
        if not np.isin(labels, (0, 1)).all():
            raise ScoringError(f"{describe_key(key)}eval_label must be boolean or 0/1 (1 = anomaly)")
        labels = labels.astype(bool)
    return labels


def check_same_width(train: np.ndarray, test: np.ndarray, *, key: Hashable | None = None) -> None:
    """Raise when training and test embeddings differ in dimension."""
    if train.shape[1] != test.shape[1]:
        raise ScoringError(
            f"{describe_key(key)}training embeddings have {train.shape[1]} dimensions but test "
            f"embeddings have {test.shape[1]}; both must come from the same extractor layer"
        )
