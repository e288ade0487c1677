"""DCASE evaluator files: names, rows, MD scores and the gamma decision threshold."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import stats

from asdfeat.data.clips import ClipTable
from asdfeat.errors import ScoringError, StoreError
from asdfeat.io.dcase_scores import gamma_threshold, write_dcase_scores
from asdfeat.io.importer import import_embeddings
from asdfeat.scoring import fit_md
from asdfeat.store import EmbeddingKey, open_store

from io_helpers import DATASET, MACHINES, write_clip_csv



@pytest.fixture
def backend() -> str:
    """One backend is enough here: the store conformance tests cover both."""
    return "zarr"

def _read_rows(path):
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _reference(store_path, model, machine):
    """MD scores by file name and the threshold, computed with fit_md and SciPy directly."""
    with open_store(store_path, "r") as store:
        embeddings, table = store.read_embeddings(EmbeddingKey(model, DATASET, machine))
    train = (table["split"] == "train") & (table["label"] == "normal")
    test = table["split"] == "test"
    model_md = fit_md(embeddings[train])
    shape, loc, scale = stats.gamma.fit(model_md.score(embeddings[train]))
    threshold = stats.gamma.ppf(0.9, shape, loc=loc, scale=scale)
    scores = dict(zip(table["file_name"][test].tolist(), model_md.score(embeddings[test])))
    sections = dict(zip(table["file_name"][test].tolist(), table["section"][test].tolist()))
    return scores, sections, threshold


def test_file_names_per_machine_and_section(tmp_path, store_path):
    with open_store(store_path, "r") as store:
        written = write_dcase_scores(store, "extracted", tmp_path / "out")

    expected = sorted(
        tmp_path / "out" / f"{kind}_{machine}_section_{section}_test.csv"
        for kind in ("anomaly_score", "decision_result")
        for machine in MACHINES
        for section in ("00", "01")
    )
    assert written == expected
    assert sorted((tmp_path / "out").iterdir()) == expected


@pytest.mark.parametrize("machine", MACHINES)
def test_scores_and_decisions_match_reference(tmp_path, store_path, machine):
    with open_store(store_path, "r") as store:
        write_dcase_scores(store, "extracted", tmp_path / "out")
    scores, sections, threshold = _reference(store_path, "extracted", machine)

    for section in ("00", "01"):
        score_rows = _read_rows(tmp_path / "out" / f"anomaly_score_{machine}_section_{section}_test.csv")
        decision_rows = _read_rows(tmp_path / "out" / f"decision_result_{machine}_section_{section}_test.csv")
        names = [row[0] for row in score_rows]
        assert names == sorted(name for name, s in sections.items() if s == section)
        assert [row[0] for row in decision_rows] == names
        for (name, score), (_, decision) in zip(score_rows, decision_rows):
            assert float(score) == scores[name], name
            assert int(decision) == int(scores[name] > threshold), name


def test_decisions_flag_some_but_not_all(tmp_path, store_path):
    # The fixture's test clips come from the training distribution, so about
    # half of them lie above the median of the fitted gamma distribution.
    with open_store(store_path, "r") as store:
        write_dcase_scores(store, "extracted", tmp_path / "out", machines=["fan"], quantile=0.5)

    decisions = [int(row[1]) for f in sorted((tmp_path / "out").glob("decision_result_*")) for row in _read_rows(f)]
    assert 0 < sum(decisions) < len(decisions)


def test_unlabelled_test_clips_scored(tmp_path):
    train = [f"fan/train/section_00_source_train_normal_{i:04d}_a_1.wav" for i in range(20)]
    evaluation = [f"fan/test/section_00_{i:04d}.wav" for i in range(5)]
    rng = np.random.default_rng(5)
    np.save(tmp_path / "e.npy", rng.normal(size=(25, 3)))
    write_clip_csv(tmp_path / "c.csv", train + evaluation)
    import_embeddings(tmp_path / "s.zarr", "m", tmp_path / "e.npy", tmp_path / "c.csv")

    with open_store(tmp_path / "s.zarr", "r") as store:
        write_dcase_scores(store, "m", tmp_path / "out")

    rows = _read_rows(tmp_path / "out" / "anomaly_score_fan_section_00_test.csv")
    assert [row[0] for row in rows] == [f"section_00_{i:04d}.wav" for i in range(5)]


def test_dcase2020_files_named_per_id(tmp_path):
    train = [f"pump/train/normal_id_02_{i:08d}.wav" for i in range(10)]
    test = ["pump/test/normal_id_02_00000000.wav", "pump/test/anomaly_id_02_00000000.wav"]
    np.save(tmp_path / "e.npy", np.random.default_rng(6).normal(size=(12, 2)))
    write_clip_csv(tmp_path / "c.csv", train + test)
    import_embeddings(tmp_path / "s.zarr", "m", tmp_path / "e.npy", tmp_path / "c.csv")

    with open_store(tmp_path / "s.zarr", "r") as store:
        written = write_dcase_scores(store, "m", tmp_path / "out")

    assert [p.name for p in written] == ["anomaly_score_pump_id_02.csv", "decision_result_pump_id_02.csv"]
    rows = _read_rows(tmp_path / "out" / "anomaly_score_pump_id_02.csv")
    assert [row[0] for row in rows] == ["anomaly_id_02_00000000.wav", "normal_id_02_00000000.wav"]


def test_duplicate_file_names_rejected(tmp_path):
    # Two test clips share a file name in different folders.
    names = [f"t{i}.wav" for i in range(6)] + ["x.wav", "x.wav"]
    folders = ["train"] * 6 + ["source_test", "target_test"]
    table = ClipTable(
        {
            "path": [f"fan/{folder}/{name}" for folder, name in zip(folders, names)],
            "file_name": names,
            "dataset": [DATASET] * 8,
            "machine": ["fan"] * 8,
            "section": ["00"] * 8,
            "domain": ["source"] * 8,
            "split": ["train"] * 6 + ["test", "test"],
            "label": ["normal"] * 8,
            "attributes": [""] * 8,
        }
    )
    key = EmbeddingKey("m", DATASET, "fan")
    with open_store(tmp_path / "s.zarr", "a") as store:
        store.write_clips(DATASET, "fan", table)
        store.create_embeddings(key, 2, {"model": "m", "dim": 2})
        store.write_embeddings(key, np.arange(8), np.random.default_rng(0).normal(size=(8, 2)))

    with open_store(tmp_path / "s.zarr", "r") as store, pytest.raises(ScoringError, match="x.wav"):
        write_dcase_scores(store, "m", tmp_path / "out")


def test_unknown_model_rejected(tmp_path, store_path):
    with open_store(store_path, "r") as store, pytest.raises(StoreError, match="absent"):
        write_dcase_scores(store, "absent", tmp_path / "out")


def test_gamma_threshold_matches_scipy():
    scores = np.random.default_rng(4).gamma(2.0, 3.0, size=500) + 1.0

    shape, loc, scale = stats.gamma.fit(scores)

    assert gamma_threshold(scores) == stats.gamma.ppf(0.9, shape, loc=loc, scale=scale)
    assert gamma_threshold(scores, 0.5) == stats.gamma.ppf(0.5, shape, loc=loc, scale=scale)


@pytest.mark.parametrize(
    ("scores", "quantile", "message"),
    [
        ([1.0, 2.0, 3.0], 1.0, "invalid decision quantile"),
        ([1.0, 2.0], 0.9, "at least 3"),
        ([1.0, np.nan, 2.0, 3.0], 0.9, "1 non-finite"),
        ([2.0, 2.0, 2.0], 0.9, "all 3 training scores equal"),
    ],
)
def test_gamma_threshold_rejects(scores, quantile, message):
    with pytest.raises(ScoringError, match=message):
        gamma_threshold(np.array(scores), quantile)
