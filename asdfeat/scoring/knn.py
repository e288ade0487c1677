"""Cosine k-nearest-neighbour distance to the normal training embeddings."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from asdfeat.errors import ScoringError
from asdfeat.scoring.validation import as_embedding_matrix, check_same_width, describe_key

# Test rows are scored in blocks so the similarity matrix stays near 64 MiB.
_BLOCK_ELEMENTS = 8_000_000


def _unit_rows(matrix: np.ndarray, name: str, key, paths) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1)
    if not (norms > 0).all():
        row = int(np.flatnonzero(norms == 0)[0])
        where = f"clip {paths[row]!r}" if paths is not None else f"row {row}"
        raise ScoringError(
            f"{describe_key(key)}{name} embedding of {where} is all zeros, so its cosine "
            "distance is undefined; re-extract the clip or use the md protocol"
        )
    return matrix / norms[:, None]


def knn_scores(
    train,
    test,
    *,
    k: int = 1,
    key: Hashable | None = None,
    train_paths=None,
    test_paths=None,
) -> np.ndarray:
    """Score test clips by their mean cosine distance to the k nearest training clips.

    Parameters
    ----------
    train : array_like of shape (n, d)
        Normal training embeddings.
    test : array_like of shape (m, d)
        Test embeddings.
    k : int, default 1
        Number of neighbours averaged, 1 <= k <= n.
    key, train_paths, test_paths : optional
        Cell key and clip paths, named in error messages.

    Returns
    -------
    numpy.ndarray of shape (m,), dtype float64
        Mean of ``1 - cos(test_row, train_row)`` over the k nearest training
        rows; 0 means a training clip points in the same direction.

    Raises
    ------
    ScoringError
        On non-finite or all-zero rows, mismatched dimensions or invalid k.
    """
    reference = as_embedding_matrix(train, "train", key=key, paths=train_paths)
    queries = as_embedding_matrix(test, "test", key=key, paths=test_paths)
    check_same_width(reference, queries, key=key)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= reference.shape[0]:
        raise ScoringError(f"{describe_key(key)}k must be an integer in [1, {reference.shape[0]}], got {k!r}")

    reference = _unit_rows(reference, "train", key, train_paths)
    queries = _unit_rows(queries, "test", key, test_paths)

    scores = np.empty(queries.shape[0])
    block = max(1, _BLOCK_ELEMENTS // reference.shape[0])
    for start in range(0, queries.shape[0], block):
        distances = 1.0 - queries[start : start + block] @ reference.T
        nearest = np.partition(distances, k - 1, axis=1)[:, :k]
        scores[start : start + block] = nearest.mean(axis=1)
    return scores
