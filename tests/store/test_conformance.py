"""Behaviour that every registered store backend must share.

Each test runs once per backend. Rejected calls are checked at the byte
level: every file under the store hashes the same before and after.
"""

from __future__ import annotations

import numpy as np
import pytest
from store_helpers import DATASET, MACHINE, make_table, make_values, snapshot

from asdfeat.data.clips import ClipTable
from asdfeat.errors import StoreError
from asdfeat.store import EmbeddingKey, ProvenanceWarning
from asdfeat.store._array_store import ROW_CHUNK

KEY = EmbeddingKey("beats-iter3+", DATASET, MACHINE)
DIM = 6
PROVENANCE = {"extractor": "beats", "checkpoint": "iter3+", "layers": [12], "sample_rate": 16000}


def assert_rejected(store_path, call, match: str) -> None:
    """Check that ``call()`` raises StoreError matching ``match`` and writes nothing."""
    before = snapshot(store_path)
    with pytest.raises(StoreError, match=match):
        call()
    assert snapshot(store_path) == before


@pytest.fixture
def filled(open_test_store):
    """A store with a 12-clip table and KEY created, rows 0-4 written."""
    store = open_test_store()
    store.write_clips(DATASET, MACHINE, make_table(12))
    store.create_embeddings(KEY, DIM, PROVENANCE)
    store.write_embeddings(KEY, np.arange(5), make_values(5, DIM))
    return store


# -- creation and persistence ------------------------------------------------


def test_new_store_is_empty(open_test_store):
    store = open_test_store()

    assert store.list_clip_tables() == []
    assert store.list_embeddings() == []
    assert not store.has_embeddings(KEY)


def test_reopen_keeps_everything(open_test_store, store_path):
    table = make_table(12)
    values = make_values(12, DIM)
    store = open_test_store()
    store.write_clips(DATASET, MACHINE, table)
    store.create_embeddings(KEY, DIM, PROVENANCE)
    store.write_embeddings(KEY, np.arange(12), values)
    store.write_artifact(KEY, "weights.pt", b"\x00\x01weights")
    store.close()
    before = snapshot(store_path)

    reopened = open_test_store()
    read_values, read_table = reopened.read_embeddings(KEY)

    assert reopened.list_clip_tables() == [(DATASET, MACHINE)]
    assert reopened.list_embeddings() == [KEY]
    assert reopened.read_clips(DATASET, MACHINE) == table
    assert read_table == table
    np.testing.assert_array_equal(read_values, values)
    assert read_values.dtype == np.float32
    assert reopened.read_provenance(KEY) == PROVENANCE
    assert reopened.read_artifact(KEY, "weights.pt") == b"\x00\x01weights"
    reopened.close()
    assert snapshot(store_path) == before


def test_empty_clip_table_then_append(open_test_store):
    store = open_test_store()

    assert len(store.write_clips(DATASET, MACHINE, ClipTable.empty().select(np.zeros(0, int)))) == 0
    store.create_embeddings(KEY, DIM, PROVENANCE)
    assert store.done_mask(KEY).shape == (0,)
    values, table = store.read_embeddings(KEY)
    assert values.shape == (0, DIM)
    assert len(table) == 0

    stored = store.write_clips(DATASET, MACHINE, make_table(3))
    assert len(stored) == 3
    np.testing.assert_array_equal(store.done_mask(KEY), [False, False, False])


def test_read_clips_missing_table(open_test_store):
    store = open_test_store()

    with pytest.raises(StoreError, match="no clip table for dataset 'dcase2022', machine 'fan'"):
        store.read_clips(DATASET, MACHINE)


# -- read-only mode ----------------------------------------------------------


def test_read_only_rejects_every_write(filled, open_test_store, store_path):
    filled.close()
    store = open_test_store("r")
    table = make_table(14)
    writes = {
        "write_clips": lambda: store.write_clips(DATASET, MACHINE, table),
        "create_embeddings": lambda: store.create_embeddings(KEY, DIM, PROVENANCE, overwrite=True),
        "write_embeddings": lambda: store.write_embeddings(KEY, [5], make_values(1, DIM)),
        "delete_embeddings": lambda: store.delete_embeddings(KEY),
        "write_artifact": lambda: store.write_artifact(KEY, "weights.pt", b"x"),
    }

    for name, call in writes.items():
        assert_rejected(store_path, call, "read-only")

    assert store.done_mask(KEY).sum() == 5


def test_read_only_missing_path_creates_nothing(open_test_store, store_path):
    with pytest.raises(StoreError, match=str(store_path.name)):
        open_test_store("r")

    assert not store_path.exists()


# -- clip tables ---------------------------------------------------------------


def test_append_keeps_stored_rows(filled):
    old_values, _ = filled.read_embeddings(KEY, require_complete=False)
    bigger = make_table(4, start=100).append(make_table(12))  # new rows first, old ones after

    stored = filled.write_clips(DATASET, MACHINE, bigger)

    assert len(stored) == 16
    assert stored.select(np.arange(12)) == make_table(12)
    assert stored["path"][12:].tolist() == make_table(4, start=100)["path"].tolist()
    done = filled.done_mask(KEY)
    np.testing.assert_array_equal(done, [True] * 5 + [False] * 11)
    new_values, _ = filled.read_embeddings(KEY, require_complete=False)
    np.testing.assert_array_equal(new_values, old_values)


def test_append_across_chunk_boundary(open_test_store):
    store = open_test_store()
    n_clips = ROW_CHUNK + 6  # the last chunk is partly filled
    store.write_clips(DATASET, MACHINE, make_table(n_clips))
    store.create_embeddings(KEY, 2, {})
    store.write_embeddings(KEY, np.arange(n_clips), make_values(n_clips, 2))

    stored = store.write_clips(DATASET, MACHINE, make_table(n_clips + 30))

    assert len(stored) == n_clips + 30
    done = store.done_mask(KEY)
    assert done[:n_clips].all()
    assert not done[n_clips:].any()


def test_rewrite_same_table_changes_nothing(filled, store_path):
    before = snapshot(store_path)

    stored = filled.write_clips(DATASET, MACHINE, make_table(12))

    assert stored == make_table(12)
    assert snapshot(store_path) == before


def test_metadata_conflict_rejected(filled, store_path):
    columns = make_table(12).to_dict()
    columns["label"] = columns["label"].copy()
    columns["label"][3] = "anomaly"
    changed = ClipTable(columns).append(make_table(2, start=50))

    assert_rejected(
        store_path,
        lambda: filled.write_clips(DATASET, MACHINE, changed),
        r"1 stored clip\(s\) have different metadata.*0003\.wav \(label\)",
    )
    assert len(filled.read_clips(DATASET, MACHINE)) == 12


def _with_column(table, column, rows, value):
    columns = table.to_dict()
    columns[column] = columns[column].astype(object)
    columns[column][rows] = value
    return ClipTable(columns)


def test_unknown_labels_filled_in(open_test_store, store_path):
    unlabelled = _with_column(_with_column(make_table(6), "label", [1, 4], "unknown"), "domain", [4], "unknown")
    store = open_test_store()
    store.write_clips(DATASET, MACHINE, unlabelled)
    store.create_embeddings(KEY, DIM, PROVENANCE)
    store.write_embeddings(KEY, np.arange(6), make_values(6, DIM))
    labelled = _with_column(_with_column(make_table(6), "label", [1, 4], "anomaly"), "domain", [4], "target")

    stored = store.write_clips(DATASET, MACHINE, labelled)

    assert stored == labelled
    assert store.read_clips(DATASET, MACHINE) == labelled
    assert store.done_mask(KEY).all()
    store.close()
    assert open_test_store().read_clips(DATASET, MACHINE) == labelled


def test_unknown_in_new_table_keeps_label(open_test_store, store_path):
    store = open_test_store()
    store.write_clips(DATASET, MACHINE, make_table(6))
    before = snapshot(store_path)
    unlabelled = _with_column(make_table(6), "label", [2], "unknown")

    stored = store.write_clips(DATASET, MACHINE, unlabelled)

    assert stored == make_table(6)
    assert snapshot(store_path) == before


def test_clips_of_other_machine_rejected(filled, store_path):
    other = make_table(3, start=40, machine="valve")

    assert_rejected(
        store_path,
        lambda: filled.write_clips(DATASET, MACHINE, other),
        "machine is not 'fan'",
    )


# -- embeddings: creation, resume, overwrite ----------------------------------


def test_create_without_clip_table(open_test_store, store_path):
    store = open_test_store()

    assert_rejected(
        store_path, lambda: store.create_embeddings(KEY, DIM, PROVENANCE), "write_clips first"
    )


def test_resume_keeps_partial_rows(filled, open_test_store):
    expected = make_values(5, DIM)
    filled.close()
    store = open_test_store()

    store.create_embeddings(KEY, DIM, PROVENANCE)

    done = store.done_mask(KEY)
    np.testing.assert_array_equal(done, np.arange(12) < 5)
    values, table = store.read_embeddings(KEY, require_complete=False)
    np.testing.assert_array_equal(values, expected)
    assert table == make_table(12).select(np.arange(5))

    store.write_embeddings(KEY, np.arange(5, 12), make_values(7, DIM, seed=1))
    values, _ = store.read_embeddings(KEY)
    np.testing.assert_array_equal(values[:5], expected)
    np.testing.assert_array_equal(values[5:], make_values(7, DIM, seed=1))


def test_resume_with_other_provenance_warns(filled, store_path):
    before = snapshot(store_path)

    with pytest.warns(ProvenanceWarning, match="different provenance"):
        filled.create_embeddings(KEY, DIM, {**PROVENANCE, "checkpoint": "iter2"})

    assert filled.read_provenance(KEY) == PROVENANCE
    assert snapshot(store_path) == before


def test_incomplete_rows_rejected_when_required(filled):
    with pytest.raises(StoreError, match=r"7 of 12 requested row\(s\) are incomplete"):
        filled.read_embeddings(KEY)


def test_overwrite_resets_matrix(filled):
    filled.write_artifact(KEY, "weights.pt", b"old")

    filled.create_embeddings(KEY, DIM + 2, {"run": 2}, overwrite=True)

    assert not filled.done_mask(KEY).any()
    assert filled.read_provenance(KEY) == {"run": 2}
    assert filled.read_artifact(KEY, "weights.pt") is None
    filled.write_embeddings(KEY, [0], make_values(1, DIM + 2))
    assert filled.read_embeddings(KEY, require_complete=False)[0].shape == (1, DIM + 2)


def test_other_dim_without_overwrite_rejected(filled, store_path):
    assert_rejected(
        store_path,
        lambda: filled.create_embeddings(KEY, DIM + 1, PROVENANCE),
        "have dimension 6, not 7; pass overwrite=True",
    )


def test_invalid_create_arguments_rejected(filled, store_path):
    cases = [
        (lambda: filled.create_embeddings(KEY, 0, PROVENANCE), "invalid embedding dimension"),
        (lambda: filled.create_embeddings(KEY, True, PROVENANCE), "invalid embedding dimension"),
        (lambda: filled.create_embeddings(KEY, DIM, {"path": object()}), "not JSON-serialisable"),
        (lambda: filled.create_embeddings(KEY, DIM, {"x": float("nan")}), "not JSON-serialisable"),
        (lambda: filled.create_embeddings(KEY, DIM, ["list"]), "provenance must be a dict"),
        (lambda: filled.create_embeddings(EmbeddingKey("", DATASET, MACHINE), DIM, {}), "invalid model"),
    ]

    for call, match in cases:
        assert_rejected(store_path, call, match)


def test_delete_embeddings(filled, store_path):
    other = EmbeddingKey("ced-base", DATASET, MACHINE)
    filled.create_embeddings(other, 3, {})

    filled.delete_embeddings(KEY)

    assert filled.list_embeddings() == [other]
    assert not filled.has_embeddings(KEY)
    assert_rejected(store_path, lambda: filled.delete_embeddings(KEY), "no embeddings for")


# -- embeddings: rejected writes -----------------------------------------------


def test_dimension_mismatch_rejected(filled, store_path):
    cases = [
        (lambda: filled.write_embeddings(KEY, [6], make_values(1, DIM + 1)), r"expected \(1, 6\)"),
        (lambda: filled.write_embeddings(KEY, [6, 7], make_values(1, DIM)), r"expected \(2, 6\)"),
        (lambda: filled.write_embeddings(KEY, [6], np.ones(DIM)), r"expected \(1, 6\)"),
    ]

    for call, match in cases:
        assert_rejected(store_path, call, match)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf, 1e39])
def test_non_finite_values_rejected(filled, store_path, bad_value):
    values = make_values(3, DIM).astype(np.float64)
    values[1, 2] = bad_value

    assert_rejected(
        store_path,
        lambda: filled.write_embeddings(KEY, [9, 7, 8], values),
        r"1 row\(s\) have NaN or infinite values.*_0007\.wav",
    )
    assert filled.done_mask(KEY).sum() == 5


def test_duplicate_rows_rejected(filled, store_path):
    assert_rejected(
        store_path,
        lambda: filled.write_embeddings(KEY, [6, 8, 6], make_values(3, DIM)),
        r"1 row\(s\) given more than once.*_0006\.wav",
    )


@pytest.mark.parametrize("bad_row", [-1, 12, 10**9])
def test_out_of_range_rows_rejected(filled, store_path, bad_row):
    assert_rejected(
        store_path,
        lambda: filled.write_embeddings(KEY, [6, bad_row], make_values(2, DIM)),
        rf"outside the clip table of 12 clips, e\.g\. \[{bad_row}\]",
    )


def test_non_integer_rows_rejected(filled, store_path):
    assert_rejected(
        store_path,
        lambda: filled.write_embeddings(KEY, np.array([6.0]), make_values(1, DIM)),
        "rows must be a 1-D integer array",
    )


def test_write_to_missing_key_rejected(filled, store_path):
    missing = EmbeddingKey("eat-large", DATASET, MACHINE)

    assert_rejected(
        store_path,
        lambda: filled.write_embeddings(missing, [0], make_values(1, DIM)),
        "no embeddings for .*eat-large",
    )


def test_empty_write_changes_nothing(filled, store_path):
    before = snapshot(store_path)

    filled.write_embeddings(KEY, np.zeros(0, dtype=int), np.zeros((0, DIM)))

    assert snapshot(store_path) == before


def test_unsorted_rows_land_in_place(filled):
    rows = np.array([11, 6, 9])
    values = make_values(3, DIM, seed=3)

    filled.write_embeddings(KEY, rows, values)

    read, table = filled.read_embeddings(KEY, require_complete=False)
    index = table.row_index()
    for row, expected in zip(rows, values):
        np.testing.assert_array_equal(read[index[make_table(12)["path"][row]]], expected)


# -- names, sections, provenance, artifacts -------------------------------------


NAMES = [
    "beats-iter3+",
    "hear:my_pkg.module",
    "user/model with spaces",
    "__reserved",
    "..",
    ".",
    "100%",
    "%41",
    "A",
    "ünïcode-名前",
]


def test_names_round_trip(open_test_store):
    store = open_test_store()
    dataset, machine = "dcase 2022/dev", "Toy:Car"
    store.write_clips(dataset, machine, make_table(2, dataset=dataset, machine=machine))
    keys = [EmbeddingKey(name, dataset, machine) for name in NAMES]

    for key in keys:
        store.create_embeddings(key, 2, {"model": key.model})
        store.write_artifact(key, key.model, key.model.encode())

    assert store.list_clip_tables() == [(dataset, machine)]
    assert store.list_embeddings() == sorted(keys)
    for key in keys:
        assert store.read_provenance(key) == {"model": key.model}
        assert store.read_artifact(key, key.model) == key.model.encode()


def test_sections_select_rows(filled):
    filled.write_embeddings(KEY, np.arange(5, 12), make_values(7, DIM, seed=1))
    all_values, table = filled.read_embeddings(KEY)

    values, selected = filled.read_embeddings(KEY, sections=["02", "00"])

    mask = np.isin(table["section"], ["00", "02"])
    assert selected == table.select(mask)
    np.testing.assert_array_equal(values, all_values[mask])


def test_sections_with_incomplete_rows(filled):
    # Rows 0-3 are section 00, rows 4-7 section 01; rows 0-4 are written.
    values, table = filled.read_embeddings(KEY, sections=["00"])
    assert values.shape == (4, DIM)

    with pytest.raises(StoreError, match=r"3 of 4 requested row\(s\) are incomplete"):
        filled.read_embeddings(KEY, sections=["01"])

    values, table = filled.read_embeddings(KEY, sections=["01"], require_complete=False)
    assert table["path"].tolist() == make_table(12)["path"][4:5].tolist()


def test_invalid_sections_rejected(filled):
    with pytest.raises(StoreError, match=r"section\(s\) \['03'\] not in the clip table"):
        filled.read_embeddings(KEY, sections=["00", "03"], require_complete=False)
    with pytest.raises(StoreError, match="sections must be a list of strings"):
        filled.read_embeddings(KEY, sections="00", require_complete=False)


def test_provenance_round_trip(filled):
    provenance = {
        "extractor": "hear:my_pkg.module",
        "options": {"layer": -1, "pooling": "mean", "scale": 0.5},
        "weights_sha256": "ab" * 32,
        "tuple": (1, 2),
        "none": None,
        "unicode": "ünï",
    }

    filled.create_embeddings(KEY, DIM, provenance, overwrite=True)

    assert filled.read_provenance(KEY) == {**provenance, "tuple": [1, 2]}


def test_artifacts_round_trip(filled, store_path):
    payload = bytes(range(256)) * 10

    filled.write_artifact(KEY, "weights.pt", payload)
    filled.write_artifact(KEY, "empty", b"")
    filled.write_artifact(KEY, "view", memoryview(b"abc"))

    assert filled.read_artifact(KEY, "weights.pt") == payload
    assert filled.read_artifact(KEY, "empty") == b""
    assert filled.read_artifact(KEY, "view") == b"abc"
    assert filled.read_artifact(KEY, "missing") is None

    filled.write_artifact(KEY, "weights.pt", b"replaced")
    assert filled.read_artifact(KEY, "weights.pt") == b"replaced"

    assert_rejected(
        store_path, lambda: filled.write_artifact(KEY, "text", "not bytes"), "must be bytes"
    )
    assert_rejected(store_path, lambda: filled.write_artifact(KEY, "", b"x"), "invalid artifact name")


def test_complex_values_rejected(filled, store_path):
    assert_rejected(
        store_path,
        lambda: filled.write_embeddings(KEY, [6], make_values(1, DIM) + 1j),
        "values must be real numbers",
    )


# -- interrupted calls and lifetime ----------------------------------------------


def fail_on_attribute(store, monkeypatch, attribute: str) -> None:
    """Make the store raise when it sets ``attribute``, as if the process died there."""
    update_attrs = store._update_attrs

    def interrupted(node, attrs):
        if attribute in attrs:
            raise KeyboardInterrupt(f"interrupted before setting {attribute}")
        update_attrs(node, attrs)

    monkeypatch.setattr(store, "_update_attrs", interrupted)


def test_interrupted_append_is_invisible(filled, open_test_store, monkeypatch):
    fail_on_attribute(filled, monkeypatch, "n_clips")
    with pytest.raises(KeyboardInterrupt):
        filled.write_clips(DATASET, MACHINE, make_table(16))
    filled.close()

    store = open_test_store()
    assert store.read_clips(DATASET, MACHINE) == make_table(12)
    assert store.done_mask(KEY).shape == (12,)

    # The next append overwrites the leftover rows of the interrupted one.
    store.write_embeddings(KEY, np.arange(5, 12), make_values(7, DIM))
    stored = store.write_clips(DATASET, MACHINE, make_table(12).append(make_table(2, start=70)))
    assert stored["path"][12:].tolist() == make_table(2, start=70)["path"].tolist()
    np.testing.assert_array_equal(store.done_mask(KEY), [True] * 12 + [False] * 2)


def test_interrupted_create_is_invisible(filled, open_test_store, monkeypatch):
    other = EmbeddingKey("ced-base", DATASET, MACHINE)
    fail_on_attribute(filled, monkeypatch, "dim")
    with pytest.raises(KeyboardInterrupt):
        filled.create_embeddings(other, 4, {})
    filled.close()

    store = open_test_store()
    assert not store.has_embeddings(other)
    assert store.list_embeddings() == [KEY]
    store.create_embeddings(other, 4, {})
    assert store.done_mask(other).shape == (12,)


def test_interrupted_delete_is_invisible(filled, open_test_store, monkeypatch):
    def interrupted(node):
        raise KeyboardInterrupt("interrupted before deleting files")

    monkeypatch.setattr(filled, "_delete", interrupted)
    with pytest.raises(KeyboardInterrupt):
        filled.delete_embeddings(KEY)
    filled.close()

    store = open_test_store()
    assert not store.has_embeddings(KEY)
    assert store.list_embeddings() == []
    store.create_embeddings(KEY, DIM, PROVENANCE)
    assert not store.done_mask(KEY).any()


def test_closed_store_rejects_calls(filled):
    filled.close()

    with pytest.raises(StoreError, match="has been closed"):
        filled.read_clips(DATASET, MACHINE)
    with pytest.raises(StoreError, match="has been closed"):
        filled.write_embeddings(KEY, [6], make_values(1, DIM))
