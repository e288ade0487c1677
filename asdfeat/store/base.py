"""The feature-store interface that every backend implements.

A store contains one clip table for each (dataset, machine type). For each
(model, dataset, machine type) it contains an embedding matrix aligned row for
row with that clip table, a per-row completion mask, a provenance record and
optional binary artifacts (for example the trained weights of a proxy-task
model).

Rows are never reordered or removed: new clips are appended, and a row counts
as stored only once its completion flag is set, which happens after its values
are written. An interrupted extraction therefore leaves no half-written row
marked complete, and a rerun computes only the rows still missing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from asdfeat.data.clips import ClipTable


@dataclass(frozen=True, order=True)
class EmbeddingKey:
    """Identity of one embedding matrix in a store."""

    model: str
    dataset: str
    machine: str


class FeatureStore(ABC):
    """Abstract feature store; see the module docstring for the data model.

    Backends raise :class:`asdfeat.errors.StoreError` for every inconsistency
    a user can cause (missing table, dimension mismatch, non-finite values,
    writes to a read-only store), naming the key and the fix.
    """

    backend: str = ""

    # -- clip tables ---------------------------------------------------------

    @abstractmethod
    def list_clip_tables(self) -> list[tuple[str, str]]:
        """Return the sorted (dataset, machine) pairs that have a clip table."""

    @abstractmethod
    def read_clips(self, dataset: str, machine: str) -> ClipTable:
        """Return the stored clip table; StoreError if there is none."""

    @abstractmethod
    def write_clips(self, dataset: str, machine: str, table: ClipTable) -> ClipTable:
        """Create the clip table, or append the rows of ``table`` whose path is new.

        Stored rows keep their position. A stored ``"unknown"`` label or
        domain is filled in from ``table`` (ground truth often arrives after
        the clips), and an ``"unknown"`` in ``table`` keeps the stored value.
        Any other metadata change of a stored path raises StoreError, since
        its embeddings would no longer match. Embedding matrices of this table grow by the appended rows,
        which start incomplete.

        Returns
        -------
        ClipTable
            The table as stored after the call.
        """

    # -- embeddings ----------------------------------------------------------

    @abstractmethod
    def list_embeddings(self) -> list[EmbeddingKey]:
        """Return the sorted keys of all embedding matrices."""

    @abstractmethod
    def has_embeddings(self, key: EmbeddingKey) -> bool: ...

    @abstractmethod
    def create_embeddings(
        self, key: EmbeddingKey, dim: int, provenance: dict, *, overwrite: bool = False
    ) -> None:
        """Prepare a (n_clips, dim) float32 matrix with every row incomplete.

        If the matrix exists with the same ``dim``, nothing changes (resume)
        unless ``overwrite`` is true, which deletes it first. A different
        ``dim`` without ``overwrite`` raises StoreError. The clip table of
        (dataset, machine) must exist. ``provenance`` must be JSON-serialisable.
        """

    @abstractmethod
    def done_mask(self, key: EmbeddingKey) -> np.ndarray:
        """Return a (n_clips,) bool array, true where the row is stored."""

    @abstractmethod
    def write_embeddings(self, key: EmbeddingKey, rows: np.ndarray, values: np.ndarray) -> None:
        """Store ``values[i]`` at row ``rows[i]`` and mark those rows complete.

        Parameters
        ----------
        rows : ndarray of shape (k,), int
            Row numbers in the clip table, each at most once.
        values : ndarray of shape (k, dim)
            Finite values; cast to float32.

        Raises
        ------
        StoreError
            On a shape mismatch, a row out of range, or a non-finite value
            (the message names the clip). Nothing is written then.
        """

    @abstractmethod
    def read_embeddings(
        self,
        key: EmbeddingKey,
        *,
        sections: list[str] | None = None,
        require_complete: bool = True,
    ) -> tuple[np.ndarray, ClipTable]:
        """Return the (n, dim) float32 matrix and the matching clip-table rows.

        ``sections`` keeps only those sections. With ``require_complete``,
        incomplete rows raise StoreError naming how many are missing;
        otherwise only complete rows are returned.
        """

    @abstractmethod
    def read_provenance(self, key: EmbeddingKey) -> dict: ...

    @abstractmethod
    def delete_embeddings(self, key: EmbeddingKey) -> None: ...

    # -- artifacts -----------------------------------------------------------

    @abstractmethod
    def write_artifact(self, key: EmbeddingKey, name: str, data: bytes) -> None:
        """Store a binary blob beside an embedding matrix, replacing any old one."""

    @abstractmethod
    def read_artifact(self, key: EmbeddingKey, name: str) -> bytes | None:
        """Return a blob written by :meth:`write_artifact`, or None."""

    # -- lifetime ------------------------------------------------------------

    def close(self) -> None:
        """Release file handles; the default does nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
