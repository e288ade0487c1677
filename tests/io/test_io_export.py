"""Exporting clip tables and embeddings, and the export-import round trip."""

from __future__ import annotations

import numpy as np
import pytest

from asdfeat.data.clips import COLUMNS
from asdfeat.errors import StoreError
from asdfeat.io.export import export_store
from asdfeat.io.importer import import_embeddings
from asdfeat.io.readers import read_embedding_file
from asdfeat.scoring import fit_md
from asdfeat.store import EmbeddingKey, open_store

from io_helpers import DATASET, MACHINES


def _md_scores(store_path, model, machine):
    with open_store(store_path, "r") as store:
        embeddings, table = store.read_embeddings(EmbeddingKey(model, DATASET, machine))
    train = (table["split"] == "train") & (table["label"] == "normal")
    scores = fit_md(embeddings[train]).score(embeddings[table["split"] == "test"])
    return dict(zip(table["path"][table["split"] == "test"].tolist(), scores))


def test_npz_layout(tmp_path, store_path):
    with open_store(store_path, "r") as store:
        written = export_store(store, tmp_path / "out", model="extracted")
        expected, table = store.read_embeddings(EmbeddingKey("extracted", DATASET, "fan"))

    assert [p.name for p in written] == [f"{DATASET}_{m}.npz" for m in MACHINES]
    with np.load(tmp_path / "out" / f"{DATASET}_fan.npz", allow_pickle=False) as archive:
        assert archive["embeddings"].dtype == np.float32
        np.testing.assert_array_equal(archive["embeddings"], expected)
        for name in ("path", "file_name", "section", "domain", "split", "label"):
            assert archive[name].dtype.kind == "U", name
            assert archive[name].tolist() == table[name].tolist(), name


def test_clip_tables_without_model(tmp_path, store_path):
    with open_store(store_path, "r") as store:
        export_store(store, tmp_path / "out", machines=["valve"])
        table = store.read_clips(DATASET, "valve")

    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{DATASET}_valve.npz"]
    with np.load(tmp_path / "out" / f"{DATASET}_valve.npz", allow_pickle=False) as archive:
        assert "embeddings" not in archive.files
        assert set(archive.files) == set(COLUMNS)
        assert archive["path"].tolist() == table["path"].tolist()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_text_formats_keep_float32_values(tmp_path, store_path, fmt):
    with open_store(store_path, "r") as store:
        export_store(store, tmp_path / "out", model="extracted", fmt=fmt)
        expected, _ = store.read_embeddings(EmbeddingKey("extracted", DATASET, "valve"))

    values = read_embedding_file(tmp_path / "out" / f"{DATASET}_valve.{fmt}")

    np.testing.assert_array_equal(values.astype(np.float32), expected)


@pytest.mark.parametrize("fmt", ["npz", "csv", "parquet"])
def test_round_trip_gives_identical_md_scores(tmp_path, store_path, fmt):
    with open_store(store_path, "r") as store:
        export_store(store, tmp_path / "out", model="extracted", fmt=fmt)

    for machine in MACHINES:
        exported = tmp_path / "out" / f"{DATASET}_{machine}.{fmt}"
        import_embeddings(store_path, "reimported", exported, exported)

    for machine in MACHINES:
        original = _md_scores(store_path, "extracted", machine)
        reimported = _md_scores(store_path, "reimported", machine)
        assert reimported.keys() == original.keys()
        for path, score in original.items():
            assert reimported[path] == score, path


def test_unknown_model_rejected(tmp_path, store_path):
    with open_store(store_path, "r") as store, pytest.raises(StoreError, match="stored models: \\['extracted'\\]"):
        export_store(store, tmp_path / "out", model="absent")


def test_incomplete_embeddings_rejected(tmp_path, store_path):
    key = EmbeddingKey("half-done", DATASET, "fan")
    with open_store(store_path, "a") as store:
        store.create_embeddings(key, 2, {"model": "half-done", "dim": 2})
        store.write_embeddings(key, np.array([0, 1]), np.ones((2, 2)))

    with open_store(store_path, "r") as store, pytest.raises(StoreError):
        export_store(store, tmp_path / "out", model="half-done")


def test_unknown_format_rejected(tmp_path, store_path):
    with open_store(store_path, "r") as store, pytest.raises(ValueError, match="'xlsx'"):
        export_store(store, tmp_path / "out", fmt="xlsx")


def test_reimported_model_scores_like_original(tmp_path, store_path):
    from asdfeat.evaluate import score_store

    with open_store(store_path, "r") as store:
        export_store(store, tmp_path / "out", model="extracted", fmt="npz")
    for machine in MACHINES:
        exported = tmp_path / "out" / f"{DATASET}_{machine}.npz"
        import_embeddings(store_path, "reimported", exported, exported)

    with open_store(store_path, "r") as store:
        rows = score_store(store, ["md", "lp-in"])

    def by_cell(model):
        return {
            (row["protocol"], row["scope"], row["machine"], row.get("section")): row["auc"]
            for row in rows
            if row["model"] == model
        }

    original, reimported = by_cell("extracted"), by_cell("reimported")
    assert original.keys() == reimported.keys()
    for cell, auc in original.items():
        assert reimported[cell] == auc or (np.isnan(auc) and np.isnan(reimported[cell])), cell
