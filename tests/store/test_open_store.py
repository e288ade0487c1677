"""Backend choice, format-version checks and registration in open_store."""

from __future__ import annotations

import h5py
import pytest
import zarr
from store_helpers import DATASET, MACHINE, make_table, snapshot

from asdfeat.errors import StoreError
from asdfeat.store import (
    FORMAT_VERSION,
    FeatureStore,
    HDF5FeatureStore,
    ZarrFeatureStore,
    open_store,
    register_backend,
)
from asdfeat.store.zarr_store import ZarrFeatureStore as ZarrClass


@pytest.mark.parametrize(
    ("name", "expected"),
    [("f.zarr", ZarrFeatureStore), ("f", ZarrFeatureStore), ("f.h5", HDF5FeatureStore), ("f.HDF5", HDF5FeatureStore)],
)
def test_backend_chosen_by_suffix(tmp_path, name, expected):
    with open_store(tmp_path / name) as store:
        assert type(store) is expected


def test_existing_stores_detected_without_suffix(tmp_path):
    with open_store(tmp_path / "features", backend="hdf5") as store:
        store.write_clips(DATASET, MACHINE, make_table(2))
    with open_store(tmp_path / "zarr-features", backend="zarr") as store:
        store.write_clips(DATASET, MACHINE, make_table(2))

    with open_store(tmp_path / "features", "r") as store:
        assert type(store) is HDF5FeatureStore
        assert store.read_clips(DATASET, MACHINE) == make_table(2)
    with open_store(tmp_path / "zarr-features", "r") as store:
        assert type(store) is ZarrFeatureStore


def test_empty_directory_becomes_zarr_store(tmp_path):
    with open_store(tmp_path) as store:
        store.write_clips(DATASET, MACHINE, make_table(2))

    assert (tmp_path / "zarr.json").is_file()


def write_foreign_paths(tmp_path) -> dict:
    """Return paths that exist but are not asdfeat stores, by description."""
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a store")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.wav").write_bytes(b"RIFF")
    plain_h5 = tmp_path / "plain.h5"
    with h5py.File(plain_h5, "w") as file:
        file["x"] = [1, 2]
    plain_zarr = tmp_path / "plain.zarr"
    zarr.open_group(plain_zarr, mode="w", zarr_format=3).attrs["x"] = 1
    v2_zarr = tmp_path / "v2.zarr"
    zarr.open_group(v2_zarr, mode="w", zarr_format=2)
    return {
        "text file": text_file,
        "folder": folder,
        "plain HDF5": plain_h5,
        "plain Zarr": plain_zarr,
        "Zarr v2": v2_zarr,
    }


@pytest.mark.parametrize("mode", ["a", "r"])
def test_foreign_paths_rejected(tmp_path, mode):
    for description, path in write_foreign_paths(tmp_path).items():
        before = snapshot(path)

        with pytest.raises(StoreError, match=path.name) as raised:
            open_store(path, mode)

        assert "not an asdfeat" in str(raised.value) or "no Zarr store" in str(raised.value), description
        assert snapshot(path) == before, description


def test_wrong_explicit_backend_rejected(tmp_path):
    with open_store(tmp_path / "store.h5"):
        pass

    with pytest.raises(StoreError, match="store.h5 exists but is not an asdfeat Zarr store"):
        open_store(tmp_path / "store.h5", backend="zarr")


def test_newer_format_rejected(tmp_path):
    zarr_path, hdf5_path = tmp_path / "new.zarr", tmp_path / "new.h5"
    open_store(zarr_path).close()
    open_store(hdf5_path).close()
    zarr.open_group(zarr_path, mode="r+").attrs["asdfeat_store_format"] = FORMAT_VERSION + 1
    with h5py.File(hdf5_path, "r+") as file:
        file.attrs["asdfeat_store_format"] = FORMAT_VERSION + 1

    for path in (zarr_path, hdf5_path):
        with pytest.raises(StoreError, match=rf"{path.name} uses store format {FORMAT_VERSION + 1}"):
            open_store(path, "r")


def test_invalid_mode_and_backend(tmp_path):
    with pytest.raises(StoreError, match="invalid store mode 'w'"):
        open_store(tmp_path / "s.zarr", "w")
    with pytest.raises(StoreError, match=r"unknown store backend 'n5'; registered backends: \['hdf5', 'zarr'"):
        open_store(tmp_path / "s.zarr", backend="n5")

    assert not (tmp_path / "s.zarr").exists()


def test_register_backend_validation():
    register_backend("zarr", ZarrClass)  # same class again is allowed

    with pytest.raises(StoreError, match="already registered"):
        register_backend("zarr", HDF5FeatureStore)
    with pytest.raises(StoreError, match="must be a FeatureStore subclass"):
        register_backend("dict", dict)
    with pytest.raises(StoreError, match="invalid backend name"):
        register_backend("", ZarrFeatureStore)
    assert issubclass(ZarrFeatureStore, FeatureStore)
