"""Zarr v3 backend: a directory tree read and written with zarr-python 3.

Crash and concurrency behaviour, checked against zarr-python 3.1
(``zarr.storage.LocalStore``):

* LocalStore writes each file (a chunk or a ``zarr.json``) to a temporary
  file and renames it into place, so a process killed mid-write leaves every
  file either old or new, never truncated. One call writes several files, and
  the commit-point attributes described in :mod:`asdfeat.store._array_store`
  keep an interrupted call invisible.
* A killed process can leave ``*.partial`` temporary files, which zarr
  ignores. They only take space and can be deleted while no process writes.
* NOTE: LocalStore does not call fsync, so an operating-system crash or
  power loss (unlike a killed process) can lose recently written files.
* Separate processes may write *different* embedding keys of one store at the
  same time, because each key lives in its own directory. They may also read
  while another process writes, seeing each row either before or after it
  is marked done.
* NOTE: two writers of the *same* key, or a :meth:`write_clips` call while
  another process writes embeddings of that table, can lose updates: chunks
  and ``zarr.json`` files are read, modified and replaced without locking.
* NOTE: on case-insensitive file systems (default macOS and Windows), names
  that differ only in case, such as ``fan`` and ``Fan``, share one directory.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import zarr
import zarr.errors
from zarr.codecs import Crc32cCodec
from zarr.storage import LocalStore

from asdfeat.errors import StoreError

from ._array_store import ROW_CHUNK, ArrayFeatureStore, NodePath

logger = logging.getLogger(__name__)

# Exceptions that zarr.open_group raises for a zarr.json that is missing, describes an
# array, or is not valid JSON.
_OPEN_ERRORS = (zarr.errors.GroupNotFoundError, zarr.errors.ContainsArrayError, ValueError, OSError)


class ZarrFeatureStore(ArrayFeatureStore):
    """Feature store in a Zarr v3 directory, with the semantics of :class:`ArrayFeatureStore`.

    Raises
    ------
    StoreError
        If ``path`` exists but is not an asdfeat Zarr store (an empty
        directory counts as new), or if ``mode="r"`` and it does not exist.
    """

    backend = "zarr"

    def __init__(self, path, mode: str = "a", *, row_chunk: int = ROW_CHUNK):
        super().__init__(path, mode, row_chunk=row_chunk)
        created = self._check_path()
        zarr_mode = {"r": "r", "a": "r+"}[mode]
        if created:
            zarr_mode = "w-"
        try:
            store = LocalStore(self.path, read_only=mode == "r")
            self._root = zarr.open_group(store=store, mode=zarr_mode)
        except _OPEN_ERRORS as error:
            raise StoreError(f"cannot open {self.path} as a Zarr v3 store: {error}") from None
        self._init_format(created)

    def _check_path(self) -> bool:
        """Return whether a new store must be created, or raise StoreError."""
        path = self.path
        if path.is_dir() and (path / "zarr.json").is_file():
            return False
        if self.mode == "r":
            raise StoreError(f"no Zarr store at {path}; check the path or open it with mode='a'")
        if path.exists() and not (path.is_dir() and not any(path.iterdir())):
            raise StoreError(
                f"{path} exists but is not an asdfeat Zarr store; choose another path"
            )
        return True

    # -- primitives ----------------------------------------------------------

    def _node(self, node: NodePath):
        self._require_open()
        try:
            return self._root["/".join(node)] if node else self._root
        except KeyError:
            return None

    def _is_group(self, node: NodePath) -> bool:
        return isinstance(self._node(node), zarr.Group)

    def _is_array(self, node: NodePath) -> bool:
        return isinstance(self._node(node), zarr.Array)

    def _group_names(self, node: NodePath) -> list[str]:
        group = self._node(node)
        return sorted(group.group_keys()) if isinstance(group, zarr.Group) else []

    def _create_group(self, node: NodePath) -> None:
        group = self._root
        for name in node:
            try:
                group = group.require_group(name)
            except zarr.errors.ContainsGroupError:
                # Another process created the group between require_group's
                # existence check and its write; the group is there, so use it.
                group = group[name]

    def _delete(self, node: NodePath) -> None:
        parent = self._node(node[:-1])
        if isinstance(parent, zarr.Group) and node[-1] in parent:
            del parent[node[-1]]

    def _read_attrs(self, node: NodePath) -> dict:
        return self._node(node).attrs.asdict()

    def _group_attrs(self, node: NodePath) -> dict | None:
        group = self._node(node)
        return group.attrs.asdict() if isinstance(group, zarr.Group) else None

    def _update_attrs(self, node: NodePath, attrs: dict) -> None:
        self._node(node).attrs.update(attrs)

    def _create_array(self, node: NodePath, data: np.ndarray, chunk_rows: int) -> None:
        parent = self._node(node[:-1])
        options = {}
        if data.dtype.kind in "fu":
            # No compression: float32 mantissas are close to random, so zstd
            # saves little, and it slowed 64-row batch writes (see
            # benchmarks/bench_store.py). A CRC32C checksum per chunk still
            # turns a damaged chunk into an error instead of wrong values.
            options["compressors"] = [Crc32cCodec()]
        array = parent.create_array(
            node[-1],
            shape=data.shape,
            dtype=str if data.dtype.kind == "U" else data.dtype,
            chunks=(chunk_rows,) + data.shape[1:],
            **options,
        )
        if data.shape[0] and (data.dtype.kind == "U" or data.any()):
            array[...] = data

    def _array_length(self, node: NodePath) -> int:
        return self._node(node).shape[0]

    def _resize(self, node: NodePath, n_rows: int) -> None:
        array = self._node(node)
        array.resize((n_rows,) + array.shape[1:])

    def _write_rows(self, node: NodePath, rows: np.ndarray, data: np.ndarray) -> None:
        array = self._node(node)
        if _is_contiguous(rows):
            array[int(rows[0]) : int(rows[-1]) + 1] = data
        else:
            array.oindex[rows] = data

    def _read_rows(self, node: NodePath, rows: np.ndarray | None = None) -> np.ndarray:
        array = self._node(node)
        try:
            if rows is None:
                data = array[...]
            elif rows.size == 0:
                data = array[0:0]
            elif _is_contiguous(rows):
                data = array[int(rows[0]) : int(rows[-1]) + 1]
            else:
                data = array.oindex[rows]
        except (RuntimeError, ValueError, OSError) as error:
            # zarr-python 3.1 raises RuntimeError for a chunk that fails to
            # decompress and ValueError for a checksum mismatch.
            raise StoreError(
                f"cannot read {'/'.join(node)} in {self.path}, which is damaged: {error}"
            ) from error

        if data.dtype.kind == "T":  # NumPy StringDType, which zarr returns for strings
            return np.array(data.tolist(), dtype=str)
        return data

    def _flush(self) -> None:
        """Do nothing: LocalStore writes every file before the write call returns."""


def _is_contiguous(rows: np.ndarray) -> bool:
    return rows.size > 0 and int(rows[-1]) - int(rows[0]) + 1 == rows.size
