"""Embedding-file and clip-list readers: every format and its errors."""

from __future__ import annotations

import csv
import sys

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as parquet
import pytest

from asdfeat.io.readers import (
    ClipListEntry,
    EmbeddingFileError,
    read_clip_list,
    read_embedding_file,
    split_source,
)

MATRIX = np.array([[0.5, -1.25, 3.0], [1e-7, 2.5e6, -0.0], [7.0, 8.0, 9.125]])


def _write_csv(path, rows):
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_npy_reads_array(tmp_path):
    np.save(tmp_path / "e.npy", MATRIX.astype(np.float32))

    np.testing.assert_array_equal(read_embedding_file(tmp_path / "e.npy"), MATRIX.astype(np.float32))


def test_npz_single_array(tmp_path):
    np.savez(tmp_path / "e.npz", anything=MATRIX)

    np.testing.assert_array_equal(read_embedding_file(tmp_path / "e.npz"), MATRIX)


def test_npz_key_and_default_name(tmp_path):
    np.savez(tmp_path / "e.npz", embeddings=MATRIX, other=MATRIX * 2, path=np.array(["a", "b", "c"]))

    np.testing.assert_array_equal(read_embedding_file(tmp_path / "e.npz"), MATRIX)
    np.testing.assert_array_equal(read_embedding_file(tmp_path / "e.npz", key="other"), MATRIX * 2)


def test_npz_ambiguous_without_key(tmp_path):
    np.savez(tmp_path / "e.npz", a=MATRIX, b=MATRIX)

    with pytest.raises(EmbeddingFileError, match="--key"):
        read_embedding_file(tmp_path / "e.npz")


def test_npz_unknown_key(tmp_path):
    np.savez(tmp_path / "e.npz", a=MATRIX)

    with pytest.raises(EmbeddingFileError, match="no array 'z'"):
        read_embedding_file(tmp_path / "e.npz", key="z")


def test_csv_without_header(tmp_path):
    _write_csv(tmp_path / "e.csv", MATRIX.tolist())

    np.testing.assert_array_equal(read_embedding_file(tmp_path / "e.csv"), MATRIX)


def test_csv_header_skips_clip_columns(tmp_path):
    rows = [["path", "x", "label", "y", "z"]]
    rows += [[f"fan/train/{i}.wav", a, "normal", b, c] for i, (a, b, c) in enumerate(MATRIX.tolist())]
    _write_csv(tmp_path / "e.csv", rows)

    np.testing.assert_array_equal(read_embedding_file(tmp_path / "e.csv"), MATRIX)


def test_csv_non_numeric_cell(tmp_path):
    _write_csv(tmp_path / "e.csv", [["a", "b"], ["1", "2"], ["3", "oops"]])

    with pytest.raises(EmbeddingFileError, match=r"line 3, column 'b': 'oops'"):
        read_embedding_file(tmp_path / "e.csv")


def test_csv_ragged_row(tmp_path):
    _write_csv(tmp_path / "e.csv", [["1", "2"], ["3"]])

    with pytest.raises(EmbeddingFileError, match="line 2 has 1 fields"):
        read_embedding_file(tmp_path / "e.csv")


def test_parquet_numeric_columns(tmp_path):
    table = pa.table({"path": ["a", "b", "c"], "x": MATRIX[:, 0], "y": MATRIX[:, 1], "z": MATRIX[:, 2]})
    parquet.write_table(table, tmp_path / "e.parquet")

    np.testing.assert_array_equal(read_embedding_file(tmp_path / "e.parquet"), MATRIX)


def test_parquet_list_column(tmp_path):
    table = pa.table({"path": ["a", "b", "c"], "vec": MATRIX.tolist(), "other": (MATRIX * 2).tolist()})
    parquet.write_table(table, tmp_path / "e.parquet")

    np.testing.assert_array_equal(read_embedding_file(tmp_path / "e.parquet", key="vec"), MATRIX)
    with pytest.raises(EmbeddingFileError, match="choose one with --key"):
        read_embedding_file(tmp_path / "e.parquet")


def test_parquet_text_column_rejected(tmp_path):
    parquet.write_table(pa.table({"x": [1.0], "note": ["hi"]}), tmp_path / "e.parquet")

    with pytest.raises(EmbeddingFileError, match="'note'"):
        read_embedding_file(tmp_path / "e.parquet")


def test_parquet_without_pyarrow(tmp_path, monkeypatch):
    parquet.write_table(pa.table({"x": [1.0]}), tmp_path / "e.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)

    with pytest.raises(EmbeddingFileError, match=r"pip install 'asdfeat\[parquet\]'"):
        read_embedding_file(tmp_path / "e.parquet")


def test_hdf5_single_dataset(tmp_path):
    with h5py.File(tmp_path / "e.h5", "w") as handle:
        handle["g/emb"] = MATRIX

    np.testing.assert_array_equal(read_embedding_file(tmp_path / "e.h5"), MATRIX)


def test_hdf5_key_and_path_suffix(tmp_path):
    with h5py.File(tmp_path / "e.h5", "w") as handle:
        handle["g/emb"] = MATRIX
        handle["g/other"] = MATRIX * 2

    np.testing.assert_array_equal(read_embedding_file(tmp_path / "e.h5", key="g/other"), MATRIX * 2)
    np.testing.assert_array_equal(read_embedding_file(f"{tmp_path / 'e.h5'}:/g/emb"), MATRIX)
    with pytest.raises(EmbeddingFileError, match="2 datasets"):
        read_embedding_file(tmp_path / "e.h5")
    with pytest.raises(EmbeddingFileError, match="no dataset 'g/missing'"):
        read_embedding_file(tmp_path / "e.h5", key="g/missing")


def test_split_source_conflicting_key(tmp_path):
    with pytest.raises(EmbeddingFileError, match="give only one"):
        split_source(f"{tmp_path / 'e.h5'}:/a", key="b")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.arange(4.0), "shape"),
        (np.ones((2, 0)), "dimension 0"),
        (np.array([[True, False]]), "dtype bool"),
        (np.ones((2, 2), dtype=complex), "dtype complex"),
    ],
)
def test_invalid_arrays_rejected(tmp_path, array, message):
    np.save(tmp_path / "e.npy", array)

    with pytest.raises(EmbeddingFileError, match=message):
        read_embedding_file(tmp_path / "e.npy")


def test_object_array_not_unpickled(tmp_path):
    np.save(tmp_path / "e.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)

    with pytest.raises(EmbeddingFileError, match="unpickling"):
        read_embedding_file(tmp_path / "e.npy")


def test_unknown_suffix_and_missing_file(tmp_path):
    (tmp_path / "e.txt").write_text("1 2\n")

    with pytest.raises(EmbeddingFileError, match="unsupported suffix '.txt'"):
        read_embedding_file(tmp_path / "e.txt")
    with pytest.raises(EmbeddingFileError, match="not found"):
        read_embedding_file(tmp_path / "missing.npy")


def test_clip_list_path_column(tmp_path):
    _write_csv(tmp_path / "c.csv", [["path", "extra"], ["fan\\train\\a.wav", "1"], ["fan/test/b.wav", "2"]])

    entries = read_clip_list(tmp_path / "c.csv")

    assert entries == [ClipListEntry(path="fan/train/a.wav"), ClipListEntry(path="fan/test/b.wav")]


def test_clip_list_with_byte_order_mark(tmp_path):
    (tmp_path / "c.csv").write_text("path\nfan/train/a.wav\n", encoding="utf-8-sig")

    assert read_clip_list(tmp_path / "c.csv") == [ClipListEntry(path="fan/train/a.wav")]


def test_clip_list_machine_file_name_split(tmp_path):
    _write_csv(tmp_path / "c.csv", [["machine", "file_name", "split"], ["fan", "a.wav", "train"], ["fan", "b.wav", ""]])

    entries = read_clip_list(tmp_path / "c.csv")

    assert entries[0] == ClipListEntry(path=None, machine="fan", file_name="a.wav", split="train")
    assert entries[1] == ClipListEntry(path=None, machine="fan", file_name="b.wav", split=None)


def test_clip_list_npz_and_parquet(tmp_path):
    paths = ["fan/train/a.wav", "fan/test/b.wav"]
    np.savez(tmp_path / "c.npz", path=np.array(paths), embeddings=np.ones((2, 3)))
    parquet.write_table(pa.table({"path": paths, "embedding": [[1.0], [2.0]]}), tmp_path / "c.parquet")

    assert [e.path for e in read_clip_list(tmp_path / "c.npz")] == paths
    assert [e.path for e in read_clip_list(tmp_path / "c.parquet")] == paths


def test_clip_list_without_identifying_columns(tmp_path):
    _write_csv(tmp_path / "c.csv", [["name"], ["a.wav"]])

    with pytest.raises(EmbeddingFileError, match="needs a 'path' column"):
        read_clip_list(tmp_path / "c.csv")
