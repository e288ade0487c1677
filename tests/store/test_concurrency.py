"""Several users of one store: Zarr writers of different keys, readers, HDF5 locking."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from store_helpers import DATASET, MACHINE, make_table, make_values, write_key_in_batches

from asdfeat.store import EmbeddingKey, open_store


def test_zarr_writers_of_different_keys(tmp_path):
    path = tmp_path / "shared.zarr"
    with open_store(path) as store:
        store.write_clips(DATASET, MACHINE, make_table(40))
    models = ["beats-iter3+", "eat-base"]

    # Forked workers skip re-importing asdfeat; zarr-python 3 restarts its
    # event loop in a forked child.
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs the 'fork' start method")
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(len(models), mp_context=context) as pool:
        futures = [pool.submit(write_key_in_batches, str(path), "zarr", m, 8) for m in models]
        for future in futures:
            future.result()

    with open_store(path, "r") as store:
        assert store.list_embeddings() == [EmbeddingKey(m, DATASET, MACHINE) for m in models]
        for model in models:
            values, _ = store.read_embeddings(EmbeddingKey(model, DATASET, MACHINE))
            np.testing.assert_array_equal(values, make_values(40, 4, seed=len(model)))


def test_hdf5_writer_locks_out_other_processes(tmp_path):
    path = tmp_path / "store.h5"
    probe = (
        "import sys, h5py\n"
        "try:\n"
        "    h5py.File(sys.argv[1], 'r')\n"
        "except OSError as error:\n"
        "    print('locked' if 'lock' in str(error) else error)\n"
        "else:\n"
        "    print('opened')\n"
    )

    with open_store(path) as store:
        store.write_clips(DATASET, MACHINE, make_table(2))
        while_open = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True)
    after_close = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True)

    assert while_open.stdout.strip() == "locked"
    assert after_close.stdout.strip() == "opened"


def test_open_reader_sees_appended_clips(tmp_path):
    path = tmp_path / "shared.zarr"
    key = EmbeddingKey("beats-iter3+", DATASET, MACHINE)
    with open_store(path) as writer:
        writer.write_clips(DATASET, MACHINE, make_table(4))
        writer.create_embeddings(key, 2, {})

    with open_store(path, "r") as reader, open_store(path) as writer:
        first = reader.read_clips(DATASET, MACHINE)
        writer.write_clips(DATASET, MACHINE, make_table(6))
        writer.write_embeddings(key, [5], make_values(1, 2))

        assert len(first) == 4
        assert reader.read_clips(DATASET, MACHINE) == make_table(6)
        np.testing.assert_array_equal(reader.done_mask(key), [False] * 5 + [True])
        with pytest.raises(ValueError, match="read-only"):
            first["path"][0] = "changed.wav"  # the table is cached and shared
