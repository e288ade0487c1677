"""A Zarr store stays consistent when its writer process is killed mid-write."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import numpy as np
import pytest
from store_helpers import (
    DATASET,
    MACHINE,
    append_and_extract_forever,
    clip_values,
    make_table,
)

from asdfeat.store import EmbeddingKey, open_store

KEY = EmbeddingKey("beats-iter3+", DATASET, MACHINE)
DIM = 16


def wait_for_first_append(path, timeout_s: float = 60.0) -> None:
    """Return once the writer has appended clips, so the kill lands mid-loop."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open_store(path, "r") as store:
            if len(store.read_clips(DATASET, MACHINE)) > 8:
                return
        time.sleep(0.02)
    raise TimeoutError(f"the writer appended no clips within {timeout_s} s")


@pytest.mark.parametrize("delay_s", [0.0, 0.2, 0.5])
def test_zarr_survives_killed_writer(tmp_path, delay_s):
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs the 'fork' start method")
    path = tmp_path / "store.zarr"
    with open_store(path) as store:
        store.write_clips(DATASET, MACHINE, make_table(8))
        store.create_embeddings(KEY, DIM, {})

    writer = multiprocessing.get_context("fork").Process(
        target=append_and_extract_forever, args=(str(path), KEY.model, DIM)
    )
    writer.start()
    wait_for_first_append(path)
    time.sleep(delay_s)
    os.kill(writer.pid, signal.SIGKILL)
    writer.join()

    with open_store(path, "r") as store:
        table = store.read_clips(DATASET, MACHINE)
        done = store.done_mask(KEY)
        values, complete = store.read_embeddings(KEY, require_complete=False)
        keys = store.list_embeddings()
        tables = store.list_clip_tables()

    assert writer.exitcode == -signal.SIGKILL
    assert len(table) > 8
    assert keys == [KEY]
    assert tables == [(DATASET, MACHINE)]
    assert table == make_table(len(table))
    assert done.shape == (len(table),)
    np.testing.assert_array_equal(values, clip_values(complete["path"], DIM))

    # A rerun appends and completes the rest.
    with open_store(path) as store:
        table = store.write_clips(DATASET, MACHINE, make_table(len(table) + 8))
        rows = np.flatnonzero(~store.done_mask(KEY))
        store.write_embeddings(KEY, rows, clip_values(table["path"][rows], DIM))
        values, complete = store.read_embeddings(KEY)
    assert complete == table
    np.testing.assert_array_equal(values, clip_values(table["path"], DIM))
