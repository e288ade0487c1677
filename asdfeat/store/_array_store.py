"""Store semantics written once, on top of a few array primitives per backend.

Layout, identical in both backends (``<...>`` parts are encoded with
:func:`asdfeat.store._names.encode_name`)::

    /                                    attrs: asdfeat_store_format
    clips/<dataset>/<machine>/           attrs: n_clips
        path, file_name, ..., attributes     (n_clips,) string, one per column
    embeddings/<model>/<dataset>/<machine>/  attrs: dim, provenance (JSON text)
        values                               (n_clips, dim) float32
        done                                 (n_clips,) bool
        artifacts/<name>                     (n_bytes,) uint8, attrs: n_bytes, sha256

Two attributes act as commit points, so a crash between the steps of one call
leaves no visible half state in the Zarr backend:

* ``n_clips`` is set after every column and every embedding matrix of a
  table has grown. Arrays may be longer than ``n_clips``, and the extra rows are
  ignored and overwritten by the next append.
* ``dim`` is set after ``values`` and ``done`` exist, and set to 0 before
  a matrix is deleted. A group without a positive ``dim`` is treated as
  absent and replaced by the next :meth:`create_embeddings`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from abc import abstractmethod
from pathlib import Path

import numpy as np

from asdfeat.data.clips import COLUMNS, ClipTable
from asdfeat.errors import AsdfeatWarning, StoreError

from . import _checks
from ._names import decode_name, encode_name
from .base import EmbeddingKey, FeatureStore

logger = logging.getLogger(__name__)

FORMAT_ATTR = "asdfeat_store_format"
FORMAT_VERSION = 1

# Rows per chunk of every row-indexed array: 256 rows of a 768-dim float32
# matrix make a 768 KiB chunk. Extraction writes batches of a few dozen rows,
# and each write rewrites every chunk it touches. In benchmarks/bench_store.py
# 256-row chunks wrote faster than 1024-row chunks in both backends.
ROW_CHUNK = 256

# Artifacts are split into chunks of this many bytes.
ARTIFACT_CHUNK = 16 * 2**20

NodePath = tuple[str, ...]


class ProvenanceWarning(AsdfeatWarning):
    """A resumed embedding matrix was created with a different provenance record."""


class ArrayFeatureStore(FeatureStore):
    """FeatureStore that implements the semantics on abstract array primitives.

    Subclasses open the underlying file in ``__init__``, call
    :meth:`_init_format` and implement the ``_`` primitives below. Paths of
    nodes are tuples of encoded names, and the root is ``()``.

    Parameters
    ----------
    path : str or Path
        Location of the store.
    mode : {"r", "a"}
        ``"r"`` opens an existing store read-only; ``"a"`` opens or creates.
    row_chunk : int
        Rows per chunk of new arrays. Existing arrays keep theirs.
    """

    def __init__(self, path, mode: str = "a", *, row_chunk: int = ROW_CHUNK):
        if mode not in ("r", "a"):
            raise StoreError(f"invalid store mode {mode!r}: expected 'r' (read-only) or 'a'")
        self.path = Path(path)
        self.mode = mode
        if isinstance(row_chunk, bool) or not isinstance(row_chunk, int) or row_chunk < 1:
            raise StoreError(f"invalid row_chunk {row_chunk!r}: expected a positive integer")
        self.row_chunk = row_chunk
        self._closed = False
        # Clip tables only grow, and labels change only with a new
        # labels_revision, so a cached table is current while both match.
        self._clip_cache: dict[NodePath, tuple[int, ClipTable]] = {}

    def close(self) -> None:
        """Release the file; any later call on this store raises StoreError."""
        self._closed = True

    def _require_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path} has been closed; open it again with open_store")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, mode={self.mode!r})"

    # -- primitives ----------------------------------------------------------

    @abstractmethod
    def _is_group(self, node: NodePath) -> bool: ...

    @abstractmethod
    def _is_array(self, node: NodePath) -> bool: ...

    @abstractmethod
    def _group_names(self, node: NodePath) -> list[str]:
        """Return the names of the child groups of ``node`` ([] if it is missing)."""

    @abstractmethod
    def _create_group(self, node: NodePath) -> None:
        """Create ``node`` and its parents where missing; an existing group is kept."""

    @abstractmethod
    def _delete(self, node: NodePath) -> None:
        """Delete ``node`` (group or array) with everything below it."""

    @abstractmethod
    def _read_attrs(self, node: NodePath) -> dict: ...

    @abstractmethod
    def _group_attrs(self, node: NodePath) -> dict | None:
        """Return the attributes of group ``node``, or None if there is no such group."""

    @abstractmethod
    def _update_attrs(self, node: NodePath, attrs: dict) -> None: ...

    @abstractmethod
    def _create_array(self, node: NodePath, data: np.ndarray, chunk_rows: int) -> None:
        """Create an array holding ``data``, resizable along axis 0.

        ``data`` is a str, float32, bool or uint8 array. The fill value of
        rows added by :meth:`_resize` is the dtype's zero (empty string, 0,
        False).
        """

    @abstractmethod
    def _array_length(self, node: NodePath) -> int: ...

    @abstractmethod
    def _resize(self, node: NodePath, n_rows: int) -> None: ...

    @abstractmethod
    def _write_rows(self, node: NodePath, rows: np.ndarray, data: np.ndarray) -> None:
        """Write ``data[i]`` to row ``rows[i]``, where ``rows`` is increasing and unique."""

    @abstractmethod
    def _read_rows(self, node: NodePath, rows: np.ndarray | None = None) -> np.ndarray:
        """Return rows ``rows`` (increasing), or all rows for None; strings as ``<U``."""

    @abstractmethod
    def _flush(self) -> None:
        """Push written data to the file system."""

    # -- format --------------------------------------------------------------

    def _init_format(self, created: bool) -> None:
        """Stamp a new store with the format version, or check an existing one."""
        if created:
            self._update_attrs((), {FORMAT_ATTR: FORMAT_VERSION})
            self._flush()
            logger.info("created %s store at %s", self.backend, self.path)
            return

        version = self._read_attrs(()).get(FORMAT_ATTR)
        if not isinstance(version, (int, np.integer)):
            raise StoreError(
                f"{self.path} exists but is not an asdfeat store (its {self.backend} root "
                f"has no {FORMAT_ATTR} attribute); choose another path"
            )
        if version > FORMAT_VERSION:
            raise StoreError(
                f"{self.path} uses store format {version}, newer than format "
                f"{FORMAT_VERSION} of this asdfeat; upgrade asdfeat to read it"
            )

    def _require_writable(self, action: str) -> None:
        if self.mode == "r":
            raise StoreError(
                f"cannot {action}: {self.path} is open read-only; reopen it with mode='a'"
            )

    # -- clip tables ---------------------------------------------------------

    def list_clip_tables(self) -> list[tuple[str, str]]:
        pairs = []
        for dataset in self._group_names(("clips",)):
            for machine in self._group_names(("clips", dataset)):
                if "n_clips" in self._read_attrs(("clips", dataset, machine)):
                    pairs.append((decode_name(dataset), decode_name(machine)))
        return sorted(pairs)

    def read_clips(self, dataset: str, machine: str) -> ClipTable:
        """Return the stored clip table, or raise StoreError if there is none.

        The column arrays are read-only because this store caches the table
        and returns it again. Copy a column before changing it.
        """
        node = _clips_node(dataset, machine)
        n_clips = self._n_clips(node)
        if n_clips is None:
            raise StoreError(
                f"no clip table for dataset {dataset!r}, machine {machine!r} in {self.path}; "
                "write it with write_clips first"
            )
        revision = int(self._read_attrs(node).get("labels_revision", 0))
        cached_revision, cached = self._clip_cache.get(node, (None, None))
        if cached is not None and len(cached) == n_clips and cached_revision == revision:
            return cached

        rows = np.arange(n_clips)
        table = ClipTable({column: self._read_rows(node + (column,), rows) for column in COLUMNS})
        for column in COLUMNS:
            table[column].flags.writeable = False  # shared with later calls
        self._clip_cache[node] = (revision, table)
        return table

    def _n_clips(self, clips_node: NodePath) -> int | None:
        attrs = self._group_attrs(clips_node)
        if attrs is None or "n_clips" not in attrs:
            return None
        return int(attrs["n_clips"])

    def write_clips(self, dataset: str, machine: str, table: ClipTable) -> ClipTable:
        self._require_writable(f"write the clip table of ({dataset!r}, {machine!r})")
        node = _clips_node(dataset, machine)
        _checks.check_clip_table(dataset, machine, table)

        n_old = self._n_clips(node)
        if n_old is None:
            self._create_clip_table(node, table)
            return self.read_clips(dataset, machine)

        stored = self.read_clips(dataset, machine)
        new_rows = _checks.find_rows_to_append(stored, table, f"{self.path} ({dataset}, {machine})")
        updates = _checks.find_label_updates(stored, table)
        if updates:
            self._update_labels(node, updates)
        if new_rows.size == 0:
            return self.read_clips(dataset, machine)
        self._append_clips(node, dataset, machine, n_old, table.select(new_rows))
        return self.read_clips(dataset, machine)

    def _create_clip_table(self, node: NodePath, table: ClipTable) -> None:
        if self._is_group(node):
            self._delete(node)  # left without n_clips by an interrupted call
        self._create_group(node)
        for column in COLUMNS:
            self._create_array(node + (column,), table[column], self.row_chunk)
        self._update_attrs(node, {"n_clips": len(table)})
        self._flush()

    def _update_labels(self, node: NodePath, updates: dict) -> None:
        """Write ground-truth labels or domains over stored ``"unknown"`` values."""
        for column, (rows, values) in updates.items():
            self._write_rows(node + (column,), rows, values)
        revision = int(self._read_attrs(node).get("labels_revision", 0)) + 1
        self._update_attrs(node, {"labels_revision": revision})
        self._flush()
        logger.info(
            "filled in %s of stored clips in %s",
            ", ".join(f"{len(rows)} {column}(s)" for column, (rows, _) in updates.items()),
            self.path,
        )

    def _append_clips(
        self, node: NodePath, dataset: str, machine: str, n_old: int, added: ClipTable
    ) -> None:
        n_new = n_old + len(added)
        new_rows = np.arange(n_old, n_new)
        for column in COLUMNS:
            self._resize(node + (column,), n_new)
            self._write_rows(node + (column,), new_rows, added[column])

        for key in self.list_embeddings():
            if (key.dataset, key.machine) == (dataset, machine):
                embeddings = _embeddings_node(key)
                self._resize(embeddings + ("values",), n_new)
                self._resize(embeddings + ("done",), n_new)
                # Rows past n_old may hold leftovers of an interrupted append.
                self._write_rows(embeddings + ("done",), new_rows, np.zeros(len(added), bool))

        self._update_attrs(node, {"n_clips": n_new})
        self._flush()
        logger.info(
            "appended %d clip(s) to (%s, %s) in %s", len(added), dataset, machine, self.path
        )

    # -- embeddings ----------------------------------------------------------

    def list_embeddings(self) -> list[EmbeddingKey]:
        keys = []
        for model in self._group_names(("embeddings",)):
            for dataset in self._group_names(("embeddings", model)):
                for machine in self._group_names(("embeddings", model, dataset)):
                    if _is_committed(self._group_attrs(("embeddings", model, dataset, machine))):
                        names = (decode_name(n) for n in (model, dataset, machine))
                        keys.append(EmbeddingKey(*names))
        return sorted(keys)

    def has_embeddings(self, key: EmbeddingKey) -> bool:
        _checks.check_key(key)
        return _is_committed(self._group_attrs(_embeddings_node(key)))

    def _require_embeddings(
        self, key: EmbeddingKey, *, check_rows: bool = True
    ) -> tuple[NodePath, int, int]:
        """Return (node, n_clips, dim) of an existing matrix, or raise StoreError.

        With ``check_rows``, a matrix with fewer rows than its clip table
        (possible only if other software changed the store) raises too.
        """
        _checks.check_key(key)
        node = _embeddings_node(key)
        attrs = self._group_attrs(node)
        if not _is_committed(attrs):
            raise StoreError(
                f"no embeddings for {key} in {self.path}; create them with create_embeddings"
            )
        n_clips = self._n_clips(_clips_node(key.dataset, key.machine))
        if not check_rows:
            return node, n_clips or 0, int(attrs["dim"])
        if n_clips is None or self._array_length(node + ("done",)) < n_clips:
            raise StoreError(
                f"{self.path} is damaged: embeddings {key} do not match their clip table; "
                "delete them with delete_embeddings and extract again"
            )
        return node, n_clips, int(attrs["dim"])

    def create_embeddings(
        self, key: EmbeddingKey, dim: int, provenance: dict, *, overwrite: bool = False
    ) -> None:
        self._require_writable(f"create embeddings {key}")
        _checks.check_key(key)
        dim = _checks.check_dim(dim)
        provenance_json = _checks.encode_provenance(provenance)
        n_clips = self._n_clips(_clips_node(key.dataset, key.machine))
        if n_clips is None:
            raise StoreError(
                f"cannot create embeddings {key}: no clip table for ({key.dataset!r}, "
                f"{key.machine!r}) in {self.path}; write it with write_clips first"
            )

        node = _embeddings_node(key)
        if self.has_embeddings(key) and not overwrite:
            self._resume(key, node, dim, provenance_json)
            return

        if self._is_group(node):
            self._delete_matrix(node)
        self._create_group(node)
        self._create_array(node + ("values",), np.zeros((n_clips, dim), np.float32), self.row_chunk)
        self._create_array(node + ("done",), np.zeros(n_clips, bool), self.row_chunk)
        self._update_attrs(node, {"dim": dim, "provenance": provenance_json})
        self._flush()
        logger.info("created embeddings %s (%d x %d) in %s", key, n_clips, dim, self.path)

    def _resume(self, key: EmbeddingKey, node: NodePath, dim: int, provenance_json: str) -> None:
        attrs = self._read_attrs(node)
        if int(attrs["dim"]) != dim:
            raise StoreError(
                f"embeddings {key} in {self.path} have dimension {attrs['dim']}, not {dim}; "
                "pass overwrite=True to replace them or use another model name"
            )
        if attrs["provenance"] != provenance_json:
            warnings.warn(
                f"resuming embeddings {key}, which were created with a different provenance "
                f"record: stored {attrs['provenance']}, new {provenance_json}; pass "
                "overwrite=True if the model changed",
                ProvenanceWarning,
                stacklevel=3,
            )

    def done_mask(self, key: EmbeddingKey) -> np.ndarray:
        node, n_clips, _ = self._require_embeddings(key)
        return self._read_rows(node + ("done",), np.arange(n_clips)).astype(bool)

    def write_embeddings(self, key: EmbeddingKey, rows: np.ndarray, values: np.ndarray) -> None:
        self._require_writable(f"write embeddings {key}")
        node, n_clips, dim = self._require_embeddings(key)
        paths_node = _clips_node(key.dataset, key.machine) + ("path",)

        def clip_paths(rows: np.ndarray) -> list[str]:
            return self._read_rows(paths_node, np.unique(rows)).tolist()

        rows, values = _checks.check_embedding_rows(key, n_clips, clip_paths, dim, rows, values)
        if rows.size == 0:
            return

        # Values first, then the flags: a crash in between leaves the rows
        # incomplete, so a rerun writes them again.
        self._write_rows(node + ("values",), rows, values)
        self._flush()
        self._write_rows(node + ("done",), rows, np.ones(rows.size, bool))
        self._flush()

    def read_embeddings(
        self,
        key: EmbeddingKey,
        *,
        sections: list[str] | None = None,
        require_complete: bool = True,
    ) -> tuple[np.ndarray, ClipTable]:
        node, n_clips, dim = self._require_embeddings(key)
        table = self.read_clips(key.dataset, key.machine)
        selected = np.flatnonzero(_checks.select_sections(key, table, sections))
        done = self._read_rows(node + ("done",), np.arange(n_clips)).astype(bool)

        missing = selected[~done[selected]]
        if missing.size and require_complete:
            raise StoreError(
                f"embeddings {key}: {missing.size} of {selected.size} requested row(s) are "
                f"incomplete, e.g. {table['path'][missing[:_checks.MAX_LISTED]].tolist()}; "
                "rerun 'asdfeat extract' to finish them, or fix or remove clips that it skipped "
                "(read_embeddings(..., require_complete=False) returns the stored rows only)"
            )
        selected = selected[done[selected]]

        if selected.size == 0:
            values = np.zeros((0, dim), np.float32)
        else:
            values = self._read_rows(node + ("values",), selected).astype(np.float32, copy=False)
        return values, table.select(selected)

    def read_provenance(self, key: EmbeddingKey) -> dict:
        node, _, _ = self._require_embeddings(key)
        return json.loads(self._read_attrs(node)["provenance"])

    def delete_embeddings(self, key: EmbeddingKey) -> None:
        self._require_writable(f"delete embeddings {key}")
        node, _, _ = self._require_embeddings(key, check_rows=False)
        # Empty parent groups stay: removing them could race with another
        # process that creates a sibling key, and listings skip them anyway.
        self._delete_matrix(node)
        logger.info("deleted embeddings %s from %s", key, self.path)

    def _delete_matrix(self, node: NodePath) -> None:
        # Zarr deletes files in no fixed order, so the matrix is marked absent
        # first: a crash mid-delete must not leave rows marked done whose
        # values are gone.
        self._update_attrs(node, {"dim": 0})
        self._flush()
        self._delete(node)
        self._flush()

    # -- artifacts -----------------------------------------------------------

    def write_artifact(self, key: EmbeddingKey, name: str, data: bytes) -> None:
        self._require_writable(f"write artifact {name!r} of {key}")
        node = self._artifact_node(key, name)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise StoreError(
                f"artifact {name!r} of {key} must be bytes, got {type(data).__name__}"
            )
        blob = np.frombuffer(bytes(data), dtype=np.uint8)

        # The attributes are set last, so an artifact that a crash left partly
        # written has none and read_artifact reports it. The old artifact is
        # deleted first, so such a crash loses it.
        if self._is_array(node):
            self._delete(node)
        self._create_group(node[:-1])
        self._create_array(node, blob, min(ARTIFACT_CHUNK, max(blob.size, 1)))
        self._update_attrs(node, {"n_bytes": blob.size, "sha256": hashlib.sha256(blob).hexdigest()})
        self._flush()

    def read_artifact(self, key: EmbeddingKey, name: str) -> bytes | None:
        node = self._artifact_node(key, name)
        if not self._is_array(node):
            return None

        attrs = self._read_attrs(node)
        blob = self._read_rows(node) if self._array_length(node) else np.zeros(0, np.uint8)
        data = blob.astype(np.uint8, copy=False).tobytes()
        if "sha256" not in attrs or hashlib.sha256(data).hexdigest() != attrs["sha256"]:
            raise StoreError(
                f"artifact {name!r} of {key} in {self.path} is incomplete or damaged; "
                "write it again with write_artifact"
            )
        return data


    def _artifact_node(self, key: EmbeddingKey, name: str) -> NodePath:
        node = self._require_embeddings(key)[0]
        return node + ("artifacts", encode_name(name, kind="artifact name"))

def _is_committed(attrs: dict | None) -> bool:
    """Return whether embedding-group attributes mark a complete, live matrix."""
    return attrs is not None and int(attrs.get("dim", 0)) > 0


def _clips_node(dataset: str, machine: str) -> NodePath:
    return ("clips", encode_name(dataset, kind="dataset"), encode_name(machine, kind="machine"))


def _embeddings_node(key: EmbeddingKey) -> NodePath:
    return (
        "embeddings",
        encode_name(key.model, kind="model"),
        encode_name(key.dataset, kind="dataset"),
        encode_name(key.machine, kind="machine"),
    )
