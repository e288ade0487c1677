"""Scoring stored embeddings: isolation of bad cells, strict means, partial stores."""

import numpy as np
import pytest

from asdfeat.data.clips import Clip, ClipTable
from asdfeat.evaluate import score_store
from asdfeat.store import EmbeddingKey, open_store

DIM = 4


def _clip_table(machine: str, n_train: int = 30, n_test: int = 20) -> ClipTable:
    clips = []
    for i in range(n_train):
        name = f"section_00_source_train_normal_{i:04d}_a.wav"
        clips.append(Clip(f"{machine}/train/{name}", name, "dcase2022", machine, "00", "source", "train", "normal"))
    for i in range(n_test):
        label = "anomaly" if i % 2 else "normal"
        name = f"section_00_source_test_{label}_{i:04d}_a.wav"
        clips.append(Clip(f"{machine}/test/{name}", name, "dcase2022", machine, "00", "source", "test", label))
    return ClipTable.from_clips(clips)


def _embeddings(table: ClipTable, rng) -> np.ndarray:
    values = rng.normal(size=(len(table), DIM))
    values[table["label"] == "anomaly"] += 3.0
    return values


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    store = open_store(tmp_path / "store.zarr")
    for machine in ("fan", "valve"):
        table = store.write_clips("dcase2022", machine, _clip_table(machine))
        for model in ("good", "collapsed"):
            key = EmbeddingKey(model, "dcase2022", machine)
            store.create_embeddings(key, DIM, {"model": model})
            values = _embeddings(table, rng) if model == "good" else np.ones((len(table), DIM))
            store.write_embeddings(key, np.arange(len(table)), values)
    yield store
    store.close()


def _machine_row(rows, model, machine, protocol="md"):
    return next(r for r in rows if (r["model"], r["machine"], r["protocol"], r["scope"]) == (model, machine, protocol, "machine"))


def test_bad_cell_does_not_stop_others(store):
    rows = score_store(store, ["md"])

    good = _machine_row(rows, "good", "fan")
    collapsed = _machine_row(rows, "collapsed", "fan")
    assert good["auc"] > 0.9
    assert np.isnan(collapsed["auc"])
    assert collapsed["notes"].startswith("not scored:")


def test_mean_undefined_when_machine_missing(store):
    rows = score_store(store, ["md"])

    means = {r["model"]: r for r in rows if r["scope"] == "mean"}
    assert means["good"]["auc"] == pytest.approx(
        np.mean([_machine_row(rows, "good", m)["auc"] for m in ("fan", "valve")])
    )
    assert np.isnan(means["collapsed"]["auc"])
    assert "fan, valve" in means["collapsed"]["notes"]


def test_incomplete_rows_left_out_with_note(tmp_path):
    rng = np.random.default_rng(1)
    with open_store(tmp_path / "partial.zarr") as store:
        table = store.write_clips("dcase2022", "fan", _clip_table("fan"))
        key = EmbeddingKey("good", "dcase2022", "fan")
        store.create_embeddings(key, DIM, {})
        values = _embeddings(table, rng)
        stored_rows = np.delete(np.arange(len(table)), [3, 35])
        store.write_embeddings(key, stored_rows, values[stored_rows])

        rows = score_store(store, ["md"])

    row = _machine_row(rows, "good", "fan")
    assert row["n_eval"] == 19
    assert row["n_train"] == 29
    assert "2 clip(s) have no stored embedding" in row["notes"]
    assert np.isfinite(row["auc"])


def test_score_output_feeds_stats(tmp_path):
    from asdfeat.evaluate import RESULT_COLUMNS
    from asdfeat.results import write_rows
    from asdfeat.stats import analyse_proxy_table, proxy_table_from_results

    rng = np.random.default_rng(2)
    models = ["ae-a", "ae-b", "ae-c"]
    with open_store(tmp_path / "store.zarr") as store:
        for machine in ("fan", "valve"):
            table = store.write_clips("dcase2022", machine, _clip_table(machine))
            for shift, model in enumerate(models):
                key = EmbeddingKey(model, "dcase2022", machine)
                store.create_embeddings(key, DIM, {})
                values = rng.normal(size=(len(table), DIM))
                values[table["label"] == "anomaly"] += 0.5 * (shift + 1)
                store.write_embeddings(key, np.arange(len(table)), values)
            # A collapsed model without a proxy value: its undefined AUCs must not matter.
            collapsed = EmbeddingKey("collapsed", "dcase2022", machine)
            store.create_embeddings(collapsed, DIM, {})
            store.write_embeddings(collapsed, np.arange(len(table)), np.ones((len(table), DIM)))
        rows = score_store(store, ["md", "lp-in"])
    scores_path = write_rows(rows, tmp_path / "scores.csv", RESULT_COLUMNS)
    proxy_path = tmp_path / "proxy.csv"
    proxy_path.write_text(
        "model,family,proxy_metric,proxy_value,proxy_direction\n"
        "ae-a,ae,mae,3.0,lower\nae-b,ae,mae,2.0,lower\nae-c,ae,mae,1.0,lower\n"
    )

    result = analyse_proxy_table(proxy_table_from_results(scores_path, proxy_path))

    md = next(test for test in result.tests if test.asd_metric == "md")
    assert md.n == 3
    assert md.rho == pytest.approx(1.0)
