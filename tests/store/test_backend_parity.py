"""Cross-backend checks: identical writes read back identically, and section reads skip chunks."""

from __future__ import annotations

import numpy as np
import pytest
from store_helpers import DATASET, MACHINE, make_table, make_values

from asdfeat.errors import StoreError
from asdfeat.store import EmbeddingKey, HDF5FeatureStore, ZarrFeatureStore, available_backends, open_store

KEY = EmbeddingKey("hear:my_pkg.module", DATASET, MACHINE)


def write_sequence(store) -> None:
    """Apply one fixed sequence of writes, with appends and out-of-order rows."""
    store.write_clips(DATASET, MACHINE, make_table(30))
    store.create_embeddings(KEY, 5, {"layers": [3, 4], "note": "ünï"})

    values = make_values(30, 5).astype(np.float64) * 1e3
    values[0, 0] = -0.0
    values[1, 1] = 1e-42  # subnormal in float32
    store.write_embeddings(KEY, np.arange(10), values[:10])
    store.write_embeddings(KEY, [25, 12, 20], values[[25, 12, 20]])

    store.write_clips(DATASET, MACHINE, make_table(6, start=30, sections=("01", "03")))
    store.write_embeddings(KEY, [33, 31], make_values(2, 5, seed=7))
    store.write_artifact(KEY, "weights.pt", b"\x00" * 100 + b"end")


def read_everything(store) -> dict:
    values, table = store.read_embeddings(KEY, require_complete=False)
    section_values, section_table = store.read_embeddings(
        KEY, sections=["01", "03"], require_complete=False
    )
    return {
        "clip_tables": store.list_clip_tables(),
        "keys": store.list_embeddings(),
        "clips": store.read_clips(DATASET, MACHINE).to_dict(),
        "done": store.done_mask(KEY),
        "values": values,
        "paths": table["path"],
        "section_values": section_values,
        "section_paths": section_table["path"],
        "provenance": store.read_provenance(KEY),
        "artifact": store.read_artifact(KEY, "weights.pt"),
    }


def test_identical_writes_read_identically(tmp_path):
    results = {}
    for backend in available_backends():
        with open_store(tmp_path / f"store.{backend}", backend=backend) as store:
            write_sequence(store)
        with open_store(tmp_path / f"store.{backend}", "r", backend=backend) as store:
            results[backend] = read_everything(store)

    reference_backend, reference = next(iter(results.items()))
    assert reference["done"].sum() == 15
    for backend, result in results.items():
        for name, expected in reference.items():
            if isinstance(expected, dict) and name == "clips":
                for column, values in expected.items():
                    np.testing.assert_array_equal(result[name][column], values, err_msg=f"{backend} {column}")
            elif isinstance(expected, np.ndarray):
                assert result[name].dtype == expected.dtype, f"{backend} vs {reference_backend}: {name}"
                # Byte comparison, so -0.0 and subnormals must survive too.
                assert result[name].tobytes() == expected.tobytes(), f"{backend} vs {reference_backend}: {name}"
            else:
                assert result[name] == expected, f"{backend} vs {reference_backend}: {name}"


def garbage(n_bytes: int) -> bytes:
    # Random, not constant: an all-0xFF chunk passes Fletcher-32, whose sums
    # are taken modulo 65535.
    return np.random.default_rng(n_bytes).integers(0, 256, n_bytes, dtype=np.uint8).tobytes()


def corrupt_zarr_chunks(path, key_node: str, chunk_indices) -> None:
    """Overwrite chunk files with random bytes, keeping their size."""
    for index in chunk_indices:
        chunk = path / key_node / "values" / "c" / str(index) / "0"
        chunk.write_bytes(garbage(chunk.stat().st_size))


def corrupt_hdf5_chunks(path, key_node: str, chunk_indices, row_chunk: int) -> None:
    """Overwrite chunks inside the file with random bytes, keeping their size."""
    import h5py

    with h5py.File(path, "r") as file:
        dataset = file[f"{key_node}/values"]
        locations = [dataset.id.get_chunk_info_by_coord((i * row_chunk, 0)) for i in chunk_indices]
    with open(path, "r+b") as file:
        for location in locations:
            file.seek(location.byte_offset)
            file.write(garbage(location.size))


KEY_NODE = "embeddings/hear%3Amy_pkg.module/dcase2022/fan"


def write_small_chunks(path, store_class, row_chunk: int) -> np.ndarray:
    """Store 24 clips (8 per section) in chunks of ``row_chunk`` rows; return the values."""
    values = make_values(24, 3)
    with store_class(path, "a", row_chunk=row_chunk) as store:
        store.write_clips(DATASET, MACHINE, make_table(24, block=8))
        store.create_embeddings(KEY, 3, {})
        store.write_embeddings(KEY, np.arange(24), values)
    return values


@pytest.mark.parametrize("store_class", [ZarrFeatureStore, HDF5FeatureStore], ids=["zarr", "hdf5"])
def test_section_read_skips_other_chunks(tmp_path, store_class):
    """Chunks of sections 00 and 02 are damaged on disk; reading section 01 must not touch them."""
    path = tmp_path / f"store.{store_class.backend}"
    values = write_small_chunks(path, store_class, row_chunk=4)

    corrupted = [0, 1, 4, 5]  # rows 0-7 and 16-23
    if store_class is ZarrFeatureStore:
        corrupt_zarr_chunks(path, KEY_NODE, corrupted)
    else:
        corrupt_hdf5_chunks(path, KEY_NODE, corrupted, row_chunk=4)

    with store_class(path, "r") as store:
        section_values, table = store.read_embeddings(KEY, sections=["01"])
        with pytest.raises(StoreError, match="values in .* which is damaged"):
            store.read_embeddings(KEY)

    np.testing.assert_array_equal(section_values, values[8:16])
    assert set(table["section"].tolist()) == {"01"}
