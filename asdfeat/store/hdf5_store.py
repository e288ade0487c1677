"""HDF5 backend: one file read and written with h5py.

Crash and concurrency behaviour, checked against h5py 3.16 with HDF5 2.0:

* NOTE: HDF5 has no journal. A process killed while it writes, or before
  the file is flushed, can leave the whole file unreadable, not only the
  rows being written. This backend flushes after every write call to shorten
  that window. Keep a copy, or use the Zarr backend, for long extractions.
* HDF5 allows one writer per file. While a store is open with ``mode="a"``,
  HDF5's file locking makes any open from another process fail with
  StoreError, in either mode. Several processes may open the file with
  ``mode="r"`` while no writer has it.
* Within one process, close a store before opening the same file again:
  HDF5 then shares one file handle between both store objects.
* NOTE: deleted or overwritten embeddings and artifacts leave unused space
  in the file. ``h5repack`` copies the file without it.
"""

from __future__ import annotations

import logging

import h5py
import numpy as np

from asdfeat.errors import StoreError

from ._array_store import ROW_CHUNK, ArrayFeatureStore, NodePath
from ._checks import contiguous_runs

logger = logging.getLogger(__name__)

_STRING = h5py.string_dtype("utf-8")

# Chunk cache per open dataset. HDF5's default of 1 MiB cannot hold one
# 256-row chunk of embeddings wider than 1024, so each batch write would
# read and write the chunk again.
_CHUNK_CACHE_BYTES = 32 * 2**20


class HDF5FeatureStore(ArrayFeatureStore):
    """Feature store in one HDF5 file, with the semantics of :class:`ArrayFeatureStore`.

    Raises
    ------
    StoreError
        If ``path`` exists but is not an asdfeat HDF5 file, if ``mode="r"``
        and it does not exist, or if another process has it open.
    """

    backend = "hdf5"

    def __init__(self, path, mode: str = "a", *, row_chunk: int = ROW_CHUNK):
        super().__init__(path, mode, row_chunk=row_chunk)
        created = not self.path.exists()
        if created and mode == "r":
            raise StoreError(
                f"no HDF5 store at {self.path}; check the path or open it with mode='a'"
            )
        if not created and not (self.path.is_file() and h5py.is_hdf5(self.path)):
            raise StoreError(
                f"{self.path} exists but is not an asdfeat HDF5 store; choose another path"
            )

        h5py_mode = {"r": "r", "a": "r+"}[mode]
        if created:
            h5py_mode = "w-"
        try:
            self._file = h5py.File(self.path, h5py_mode, rdcc_nbytes=_CHUNK_CACHE_BYTES)
        except OSError as error:
            raise StoreError(
                f"cannot open {self.path} as an HDF5 store ({error}); if another process "
                "has it open for writing, wait for it to finish"
            ) from None
        try:
            self._init_format(created)
        except StoreError:
            self._file.close()
            raise

    def close(self) -> None:
        """Flush and close the file; any later call on this store raises StoreError."""
        super().close()
        file = getattr(self, "_file", None)
        if file is not None and file.id.valid:
            file.close()

    # -- primitives ----------------------------------------------------------

    def _node(self, node: NodePath):
        self._require_open()
        return self._file.get("/".join(node)) if node else self._file

    def _is_group(self, node: NodePath) -> bool:
        return isinstance(self._node(node), h5py.Group)

    def _is_array(self, node: NodePath) -> bool:
        return isinstance(self._node(node), h5py.Dataset)

    def _group_names(self, node: NodePath) -> list[str]:
        group = self._node(node)
        if not isinstance(group, h5py.Group):
            return []
        return sorted(name for name, child in group.items() if isinstance(child, h5py.Group))

    def _create_group(self, node: NodePath) -> None:
        self._file.require_group("/".join(node))

    def _delete(self, node: NodePath) -> None:
        name = "/".join(node)
        if name in self._file:
            del self._file[name]

    def _read_attrs(self, node: NodePath) -> dict:
        attrs = {}
        for name, value in self._node(node).attrs.items():
            attrs[name] = value.decode("utf-8") if isinstance(value, bytes) else value
        return attrs

    def _group_attrs(self, node: NodePath) -> dict | None:
        return self._read_attrs(node) if self._is_group(node) else None

    def _update_attrs(self, node: NodePath, attrs: dict) -> None:
        target = self._node(node).attrs
        for name, value in attrs.items():
            target[name] = value

    def _create_array(self, node: NodePath, data: np.ndarray, chunk_rows: int) -> None:
        options = {
            "shape": data.shape,
            "chunks": (chunk_rows,) + data.shape[1:],
            "maxshape": (None,) + data.shape[1:],
        }
        if data.dtype.kind == "U":
            options.update(dtype=_STRING, data=data.astype(object))
        else:
            options["dtype"] = data.dtype
            # All-zero data is left to the fill value, so no chunk is written yet.
            if data.any():
                options["data"] = data
            # A Fletcher-32 checksum per chunk turns a damaged chunk into an
            # error instead of wrong values.
            options["fletcher32"] = True
        # No compression: gzip made 64-row batch writes more than ten times
        # slower in benchmarks/bench_store.py. The cost is that HDF5 stores
        # the last chunk of each array at full size.
        self._file.create_dataset("/".join(node), **options)

    def _array_length(self, node: NodePath) -> int:
        return self._node(node).shape[0]

    def _resize(self, node: NodePath, n_rows: int) -> None:
        self._node(node).resize(n_rows, axis=0)

    def _write_rows(self, node: NodePath, rows: np.ndarray, data: np.ndarray) -> None:
        dataset = self._node(node)
        if data.dtype.kind == "U":
            data = data.astype(object)
        # Slices per run of consecutive rows: h5py's list indexing is slow
        # for long lists, and sections are runs of consecutive rows.
        for offset, start, stop in contiguous_runs(rows):
            dataset[start:stop] = data[offset : offset + stop - start]

    def _read_rows(self, node: NodePath, rows: np.ndarray | None = None) -> np.ndarray:
        dataset = self._node(node)
        if dataset.dtype.kind == "O":
            dataset = dataset.asstr()
        try:
            if rows is None:
                data = dataset[()]
            else:
                parts = [dataset[start:stop] for _, start, stop in contiguous_runs(rows)]
                data = np.concatenate(parts) if parts else dataset[0:0]
        except OSError as error:
            # h5py raises OSError when a chunk fails its Fletcher-32 check.
            raise StoreError(
                f"cannot read {'/'.join(node)} in {self.path}, which is damaged: {error}"
            ) from error

        if data.dtype.kind == "O":
            return np.array(data.tolist(), dtype=str)
        return data

    def _flush(self) -> None:
        self._file.flush()
