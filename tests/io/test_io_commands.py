"""The import, export and ls commands, run through the typer app."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from asdfeat.cli import app
from asdfeat.io.readers import EmbeddingFileError
from asdfeat.io.summary import summarize_store
from asdfeat.store import EmbeddingKey, open_store

from io_helpers import DATASET, clip_paths, hash_tree, write_clip_csv

runner = CliRunner()



@pytest.fixture
def backend() -> str:
    """One backend is enough here: the store conformance tests cover both."""
    return "zarr"

def _invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args], env={"COLUMNS": "200"})


def test_import_command(tmp_path, store_path):
    paths = clip_paths("valve")
    values = np.random.default_rng(0).normal(size=(len(paths), 3))
    np.save(tmp_path / "e.npy", values)
    write_clip_csv(tmp_path / "c.csv", paths[::-1])

    result = _invoke("import", "--store", store_path, "--model", "cli", "--embeddings", tmp_path / "e.npy", "--clips", tmp_path / "c.csv")

    assert result.exit_code == 0, result.output
    assert f"imported {len(paths)} clips of dimension 3" in result.output
    with open_store(store_path, "r") as store:
        stored, table = store.read_embeddings(EmbeddingKey("cli", DATASET, "valve"))
    np.testing.assert_allclose(stored, values[::-1].astype(np.float32))
    assert table["path"].tolist() == paths


def test_import_command_rejection(tmp_path, store_path):
    np.save(tmp_path / "e.npy", np.ones((2, 3)))
    write_clip_csv(tmp_path / "c.csv", clip_paths("valve")[:2])
    before = hash_tree(store_path)

    result = _invoke("import", "--store", store_path, "--model", "cli", "--embeddings", tmp_path / "e.npy", "--clips", tmp_path / "c.csv")

    assert isinstance(result.exception, EmbeddingFileError)
    assert hash_tree(store_path) == before


def test_export_command_formats(tmp_path, store_path):
    for fmt in ("npz", "csv", "parquet", "dcase"):
        result = _invoke("export", "--store", store_path, "--model", "extracted", "--format", fmt, "--out", tmp_path / fmt, "--machine", "fan")

        assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "npz").iterdir()] == [f"{DATASET}_fan.npz"]
    assert len(list((tmp_path / "dcase").iterdir())) == 4


def test_export_dcase_needs_model(tmp_path, store_path):
    result = _invoke("export", "--store", store_path, "--format", "dcase", "--out", tmp_path / "out")

    assert "--model" in str(result.exception)


@pytest.mark.parametrize("command", ["ls", "info"])
def test_ls_lists_tables_and_models(store_path, command):
    result = _invoke(command, "--store", store_path)

    assert result.exit_code == 0, result.output
    assert "extracted" in result.output
    assert "40 / 40" in result.output
    assert "abababababab" in result.output
    assert "2026-01-01T00:00:00+00:00" in result.output


def test_summary_counts(tmp_path, store_path):
    key = EmbeddingKey("partial", DATASET, "fan")
    with open_store(store_path, "a") as store:
        store.create_embeddings(key, 2, {"model": "partial", "dim": 2, "external": True, "source_sha256": "cd" * 32})
        store.write_embeddings(key, np.arange(5), np.ones((5, 2)))

    with open_store(store_path, "r") as store:
        summary = summarize_store(store)

    fan = [table for table in summary.tables if table.machine == "fan"][0]
    assert fan.sections == ["00", "01"]
    assert fan.n_clips == 40
    assert fan.counts == {("test", "anomaly"): 8, ("test", "normal"): 8, ("train", "normal"): 24}
    partial = [item for item in summary.embeddings if item.key == key][0]
    assert (partial.done, partial.total, partial.complete) == (5, 40, False)
    assert partial.source == "external"
    assert partial.sha256 == "cdcdcdcdcdcd"
    assert summary.models == ["extracted", "partial"]
