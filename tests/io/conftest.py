"""Fixtures for the import, export and listing tests: small stores of known content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asdfeat.store import EmbeddingKey, open_store
from io_helpers import DATASET, MACHINES, clip_table


@pytest.fixture(params=["zarr", "hdf5"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def store_path(tmp_path, backend) -> Path:
    """A store with the clip tables of fan and valve and a 6-dim model 'extracted'."""
    path = tmp_path / ("store.zarr" if backend == "zarr" else "store.h5")
    rng = np.random.default_rng(7)
    provenance = {
        "model": "extracted",
        "dim": 6,
        "checkpoint_sha256": "ab" * 32,
        "created": "2026-01-01T00:00:00+00:00",
    }
    with open_store(path, "a", backend=backend) as store:
        for machine in MACHINES:
            table = store.write_clips(DATASET, machine, clip_table(machine))
            key = EmbeddingKey("extracted", DATASET, machine)
            store.create_embeddings(key, 6, provenance)
            store.write_embeddings(key, np.arange(len(table)), rng.normal(size=(len(table), 6)))
    return path
