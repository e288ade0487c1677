"""Chunked feature stores: Zarr v3 (default) and HDF5 backends behind one interface.

>>> from asdfeat.store import EmbeddingKey, open_store
>>> with open_store("features.zarr") as store:  # doctest: +SKIP
...     store.write_clips("dcase2022", "fan", table)
...     key = EmbeddingKey("beats-iter3+", "dcase2022", "fan")
...     store.create_embeddings(key, 768, {"checkpoint": "BEATs_iter3_plus"})
"""

from __future__ import annotations

from pathlib import Path

from asdfeat.errors import StoreError

from ._array_store import FORMAT_VERSION, ProvenanceWarning
from .base import EmbeddingKey, FeatureStore
from .hdf5_store import HDF5FeatureStore
from .zarr_store import ZarrFeatureStore

__all__ = [
    "FORMAT_VERSION",
    "EmbeddingKey",
    "FeatureStore",
    "HDF5FeatureStore",
    "ProvenanceWarning",
    "ZarrFeatureStore",
    "available_backends",
    "open_store",
    "register_backend",
]

DEFAULT_BACKEND = "zarr"
HDF5_SUFFIXES = (".h5", ".hdf5")

# The first 8 bytes of an HDF5 file whose superblock starts at offset 0, as
# HDF5 writes it unless a user block is requested.
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

_BACKENDS: dict[str, type[FeatureStore]] = {}


def register_backend(name: str, cls: type[FeatureStore]) -> None:
    """Make ``cls`` available to :func:`open_store` as ``backend=name``.

    ``cls(path, mode)`` must open or create a store, with ``mode`` ``"r"``
    or ``"a"``, and raise StoreError as :func:`open_store` documents.

    Raises
    ------
    StoreError
        If ``cls`` is not a FeatureStore subclass, or ``name`` is already
        registered to another class.
    """
    if not isinstance(name, str) or not name:
        raise StoreError(f"invalid backend name {name!r}: expected a non-empty string")
    if not (isinstance(cls, type) and issubclass(cls, FeatureStore)):
        raise StoreError(f"backend {name!r} must be a FeatureStore subclass, got {cls!r}")
    registered = _BACKENDS.get(name)
    if registered is not None and registered is not cls:
        raise StoreError(
            f"backend {name!r} is already registered to {registered.__qualname__}; "
            "choose another name"
        )
    _BACKENDS[name] = cls


def available_backends() -> list[str]:
    """Return the sorted names of the registered backends."""
    return sorted(_BACKENDS)


def open_store(path, mode: str = "a", *, backend: str | None = None) -> FeatureStore:
    """Open or create the feature store at ``path``.

    Parameters
    ----------
    path : str or Path
        A directory for Zarr, a file for HDF5.
    mode : {"a", "r"}
        ``"a"`` opens the store or creates it; ``"r"`` opens an existing
        store read-only, and every write then raises StoreError.
    backend : str, optional
        A registered backend name: ``"zarr"`` or ``"hdf5"`` unless more were
        added with :func:`register_backend`. When None, a path ending in
        ``.h5`` or ``.hdf5`` or an existing HDF5 file means ``"hdf5"``, and
        anything else means ``"zarr"``.

    Raises
    ------
    StoreError
        If the backend is unknown, ``mode`` is invalid, ``path`` exists but is
        not an asdfeat store of that backend, the store has a newer format
        version than :data:`FORMAT_VERSION`, or ``mode="r"`` and nothing
        exists at ``path``.
    """
    path = Path(path)
    if backend is None:
        backend = detect_backend(path)
    cls = _BACKENDS.get(backend)
    if cls is None:
        raise StoreError(
            f"unknown store backend {backend!r}; registered backends: {available_backends()}"
        )
    if backend != "hdf5" and path.suffix.lower() in HDF5_SUFFIXES and not path.exists():
        # Readers pick the backend from the suffix, so such a store could never be reopened.
        raise StoreError(
            f"a {backend} store cannot be named {path.name!r}: the {path.suffix} suffix marks HDF5 files; "
            f"use {path.with_suffix('.zarr').name!r} or --backend hdf5"
        )
    if backend == "hdf5" and path.suffix.lower() == ".zarr" and not path.exists():
        raise StoreError(
            f"an hdf5 store cannot be named {path.name!r}: the .zarr suffix marks Zarr stores; "
            f"use {path.with_suffix('.h5').name!r} or --backend zarr"
        )
    return cls(path, mode)


def detect_backend(path: Path) -> str:
    """Return the backend name that :func:`open_store` uses for ``path`` by default."""
    path = Path(path)
    if path.suffix.lower() in HDF5_SUFFIXES:
        return "hdf5"
    if path.is_file():
        with path.open("rb") as file:
            if file.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
                return "hdf5"
    return DEFAULT_BACKEND


register_backend("zarr", ZarrFeatureStore)
register_backend("hdf5", HDF5FeatureStore)
