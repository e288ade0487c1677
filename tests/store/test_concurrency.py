"""Separate processes writing different embedding keys of one Zarr store."""

from __future__ import annotations

import multiprocessing
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
