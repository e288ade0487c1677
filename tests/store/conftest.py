"""Fixtures that run every store test once per registered backend."""

from __future__ import annotations

import pytest

from asdfeat.store import available_backends, open_store


@pytest.fixture(params=available_backends())
def backend(request) -> str:
    """Name of the backend under test."""
    return request.param


@pytest.fixture
def store_path(tmp_path, backend):
    """Path of a store that does not exist yet."""
    return tmp_path / f"store.{backend}"


@pytest.fixture
def open_test_store(store_path, backend):
    """Return a function ``open_test_store(mode="a")`` that opens the store under test.

    Every store it opened is closed after the test.
    """
    opened = []

    def open_(mode: str = "a"):
        store = open_store(store_path, mode, backend=backend)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()
