"""Importing external embeddings: matching by path, provenance, and every rejection."""

from __future__ import annotations

import csv
import hashlib

import h5py
import numpy as np
import pytest

from asdfeat.data.clips import ClipTable
from asdfeat.data.names import parse_clip_path
from asdfeat.io.importer import import_embeddings
from asdfeat.io.readers import EmbeddingFileError
from asdfeat.store import EmbeddingKey, open_store

from io_helpers import DATASET, clip_paths, hash_tree, write_clip_csv


def _shuffled_fan(tmp_path, dim=5, seed=0):
    """Write fan embeddings in shuffled row order and return (values by path, npy file, clip list)."""
    rng = np.random.default_rng(seed)
    paths = clip_paths("fan")
    order = rng.permutation(len(paths))
    listed = [paths[i] for i in order]
    values = rng.normal(size=(len(listed), dim)).astype(np.float32)
    np.save(tmp_path / "fan.npy", values)
    write_clip_csv(tmp_path / "fan_clips.csv", listed)
    return dict(zip(listed, values)), tmp_path / "fan.npy", tmp_path / "fan_clips.csv"


def _read(store_path, model, machine="fan"):
    with open_store(store_path, "r") as store:
        return store.read_embeddings(EmbeddingKey(model, DATASET, machine))


def test_import_matches_rows_by_path(tmp_path, store_path):
    by_path, npy, clips = _shuffled_fan(tmp_path)

    result = import_embeddings(store_path, "external-model", npy, clips)

    assert result.keys == [EmbeddingKey("external-model", DATASET, "fan")]
    assert result.new_tables == []
    stored, table = _read(store_path, "external-model")
    expected = np.stack([by_path[path] for path in table["path"].tolist()])
    np.testing.assert_array_equal(stored, expected)


def test_import_keeps_stored_clip_table(tmp_path, store_path):
    _, npy, clips = _shuffled_fan(tmp_path)
    with open_store(store_path, "r") as store:
        before = store.read_clips(DATASET, "fan")

    import_embeddings(store_path, "external-model", npy, clips)

    with open_store(store_path, "r") as store:
        assert store.read_clips(DATASET, "fan") == before


def test_import_records_external_provenance(tmp_path, store_path):
    _, npy, clips = _shuffled_fan(tmp_path)

    import_embeddings(store_path, "external-model", npy, clips)

    with open_store(store_path, "r") as store:
        provenance = store.read_provenance(EmbeddingKey("external-model", DATASET, "fan"))
    assert provenance["external"] is True
    assert provenance["source"] == "external"
    assert provenance["source_file"] == str(npy.resolve())
    assert provenance["source_sha256"] == hashlib.sha256(npy.read_bytes()).hexdigest()
    assert provenance["clips_sha256"] == hashlib.sha256(clips.read_bytes()).hexdigest()
    assert provenance["dim"] == 5
    assert provenance["created"]


def test_import_machine_and_file_name_columns(tmp_path, store_path):
    by_path, npy, _ = _shuffled_fan(tmp_path)
    clips = tmp_path / "names.csv"
    with clips.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["machine", "file_name"])
        for path in by_path:
            machine, _, file_name = path.split("/")
            writer.writerow([machine, file_name])

    import_embeddings(store_path, "by-name", npy, clips)

    stored, table = _read(store_path, "by-name")
    np.testing.assert_array_equal(stored, np.stack([by_path[p] for p in table["path"].tolist()]))


def test_import_builds_table_from_names(tmp_path, backend):
    by_path, npy, clips = _shuffled_fan(tmp_path)
    store_path = tmp_path / ("new.zarr" if backend == "zarr" else "new.h5")

    result = import_embeddings(store_path, "external-model", npy, clips, backend=backend)

    assert result.new_tables == [(DATASET, "fan")]
    stored, table = _read(store_path, "external-model")
    expected_table = ClipTable.from_clips(parse_clip_path(p) for p in sorted(by_path))
    assert table == expected_table
    np.testing.assert_array_equal(stored, np.stack([by_path[p] for p in table["path"].tolist()]))


def test_import_dataset_option_names_table(tmp_path):
    _, npy, clips = _shuffled_fan(tmp_path)

    import_embeddings(tmp_path / "s.zarr", "m", npy, clips, dataset="dcase2023")

    with open_store(tmp_path / "s.zarr", "r") as store:
        assert store.list_clip_tables() == [("dcase2023", "fan")]
        assert set(store.read_clips("dcase2023", "fan")["dataset"].tolist()) == {"dcase2023"}


def test_import_hdf5_dataset_path(tmp_path, store_path):
    by_path, _, clips = _shuffled_fan(tmp_path)
    source = tmp_path / "embeddings.h5"
    with h5py.File(source, "w") as handle:
        handle["group/fan"] = np.stack(list(by_path.values()))
        handle["other"] = np.zeros(3)

    import_embeddings(store_path, "from-h5", f"{source}:/group/fan", clips)

    stored, table = _read(store_path, "from-h5")
    np.testing.assert_array_equal(stored, np.stack([by_path[p] for p in table["path"].tolist()]))


def test_import_overwrite_replaces_values(tmp_path, store_path):
    _, npy, clips = _shuffled_fan(tmp_path, seed=1)
    import_embeddings(store_path, "again", npy, clips)
    by_path, npy, clips = _shuffled_fan(tmp_path, seed=2)

    import_embeddings(store_path, "again", npy, clips, overwrite=True)

    stored, table = _read(store_path, "again")
    np.testing.assert_array_equal(stored, np.stack([by_path[p] for p in table["path"].tolist()]))


# -- rejections: each leaves every byte of the store unchanged --------------------


def _drop_first(values, paths):
    return values[1:], paths[1:]


def _add_extra(values, paths):
    extra = "fan/test/section_00_source_test_normal_0999_a_1.wav"
    return np.vstack([values, values[:1]]), paths + [extra]


def _duplicate(values, paths):
    return values, paths[:-1] + [paths[0]]


def _nan(values, paths):
    values = values.copy()
    values[3, 2] = np.nan
    return values, paths


def _inf(values, paths):
    values = values.copy()
    values[4, 0] = -np.inf
    return values, paths


def _float32_overflow(values, paths):
    values = values.astype(np.float64)
    values[5, 1] = 1e39
    return values, paths


def _one_row_short(values, paths):
    return values[:-1], paths


REJECTIONS = {
    "missing clip": (_drop_first, lambda paths: paths[0]),
    "extra clip": (_add_extra, lambda paths: "section_00_source_test_normal_0999"),
    "duplicate clip": (_duplicate, lambda paths: paths[0]),
    "nan value": (_nan, lambda paths: paths[3]),
    "infinite value": (_inf, lambda paths: paths[4]),
    "float32 overflow": (_float32_overflow, lambda paths: paths[5]),
    "row count": (_one_row_short, lambda paths: "rows"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejected_import_changes_nothing(tmp_path, store_path, case):
    make_input, offending = REJECTIONS[case]
    paths = clip_paths("fan")
    values, listed = make_input(np.random.default_rng(3).normal(size=(len(paths), 6)), list(paths))
    np.save(tmp_path / "bad.npy", values)
    write_clip_csv(tmp_path / "bad.csv", listed)
    before = hash_tree(store_path)

    with pytest.raises(EmbeddingFileError) as error:
        import_embeddings(store_path, "rejected", tmp_path / "bad.npy", tmp_path / "bad.csv")

    assert offending(paths) in str(error.value)
    assert hash_tree(store_path) == before


def test_existing_model_without_overwrite_rejected(tmp_path, store_path):
    paths = clip_paths("fan")
    np.save(tmp_path / "e.npy", np.ones((len(paths), 6)))
    write_clip_csv(tmp_path / "e.csv", paths)
    before = hash_tree(store_path)

    with pytest.raises(EmbeddingFileError, match="--overwrite"):
        import_embeddings(store_path, "extracted", tmp_path / "e.npy", tmp_path / "e.csv")

    assert hash_tree(store_path) == before


def test_dimension_differing_from_model_rejected(tmp_path, store_path):
    # 'extracted' has dimension 6 for fan and valve; a new machine type with
    # dimension 5 under the same name would make the model inconsistent.
    paths = [p.replace("fan/", "pump/") for p in clip_paths("fan")]
    np.save(tmp_path / "e.npy", np.ones((len(paths), 5)))
    write_clip_csv(tmp_path / "e.csv", paths)
    before = hash_tree(store_path)

    with pytest.raises(EmbeddingFileError, match="dimension 6"):
        import_embeddings(store_path, "extracted", tmp_path / "e.npy", tmp_path / "e.csv")

    assert hash_tree(store_path) == before


def test_one_bad_machine_blocks_all(tmp_path, store_path):
    # Valve is fine, fan misses a clip: nothing of either may be written.
    paths = clip_paths("fan")[1:] + clip_paths("valve")
    np.save(tmp_path / "e.npy", np.ones((len(paths), 6)))
    write_clip_csv(tmp_path / "e.csv", paths)
    before = hash_tree(store_path)

    with pytest.raises(EmbeddingFileError, match="not listed"):
        import_embeddings(store_path, "partial", tmp_path / "e.npy", tmp_path / "e.csv")

    assert hash_tree(store_path) == before


def test_unparsable_name_rejected_for_new_table(tmp_path, store_path):
    paths = ["pump/train/not_a_dcase_name.wav"]
    np.save(tmp_path / "e.npy", np.ones((1, 6)))
    write_clip_csv(tmp_path / "e.csv", paths)
    before = hash_tree(store_path)

    with pytest.raises(EmbeddingFileError, match="not_a_dcase_name"):
        import_embeddings(store_path, "bad-name", tmp_path / "e.npy", tmp_path / "e.csv")

    assert hash_tree(store_path) == before


def test_rejected_import_creates_no_store(tmp_path):
    paths = clip_paths("fan")
    np.save(tmp_path / "e.npy", np.full((len(paths), 3), np.nan))
    write_clip_csv(tmp_path / "e.csv", paths)

    with pytest.raises(EmbeddingFileError, match="NaN"):
        import_embeddings(tmp_path / "never.zarr", "m", tmp_path / "e.npy", tmp_path / "e.csv")

    assert not (tmp_path / "never.zarr").exists()


def test_empty_model_name_rejected(tmp_path, store_path):
    _, npy, clips = _shuffled_fan(tmp_path)

    with pytest.raises(EmbeddingFileError, match="model name"):
        import_embeddings(store_path, "  ", npy, clips)


def test_dataset_from_leading_folders(tmp_path):
    paths = [f"DCASE2023T2/dev_data/raw/{p}" for p in clip_paths("fan")]
    np.save(tmp_path / "e.npy", np.ones((len(paths), 2)))
    write_clip_csv(tmp_path / "c.csv", paths)

    result = import_embeddings(tmp_path / "s.zarr", "m", tmp_path / "e.npy", tmp_path / "c.csv")

    assert result.keys == [EmbeddingKey("m", "dcase2023", "fan")]
    with open_store(tmp_path / "s.zarr", "r") as store:
        assert store.read_clips("dcase2023", "fan")["path"].tolist() == sorted(clip_paths("fan"))


def test_file_names_resolved_in_2021_folders(tmp_path):
    # DCASE 2021 development test clips lie in source_test/ and target_test/,
    # so a machine and file name resolve to those folders through the store.
    names = [f"section_00_{domain}_test_normal_{i:04d}.wav" for domain in ("source", "target") for i in range(3)]
    paths = [f"fan/{name.split('_')[2]}_test/{name}" for name in names]
    train = [f"fan/train/section_00_source_train_normal_{i:04d}.wav" for i in range(4)]
    np.save(tmp_path / "a.npy", np.zeros((10, 2)))
    write_clip_csv(tmp_path / "a.csv", train + paths)
    import_embeddings(tmp_path / "s.zarr", "first", tmp_path / "a.npy", tmp_path / "a.csv")
    values = np.arange(20.0).reshape(10, 2)
    np.save(tmp_path / "b.npy", values)
    with (tmp_path / "b.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["machine", "file_name"])
        writer.writerows(["fan", p.rsplit("/", 1)[1]] for p in train + paths)

    import_embeddings(tmp_path / "s.zarr", "second", tmp_path / "b.npy", tmp_path / "b.csv")

    with open_store(tmp_path / "s.zarr", "r") as store:
        stored, table = store.read_embeddings(EmbeddingKey("second", "dcase2021", "fan"))
    expected = dict(zip(train + paths, values))
    np.testing.assert_array_equal(stored, np.stack([expected[p] for p in table["path"].tolist()]))


@pytest.mark.parametrize("release", ["dcase2020", "dcase2023"])
def test_real_names_build_scanned_tables(tmp_path, real_data_dir, release):
    from asdfeat.data.layout import scan_dataset

    scanned = scan_dataset(real_data_dir / release)
    listed = sorted(
        str(path.relative_to(real_data_dir)) for path in (real_data_dir / release).rglob("*.wav")
    )
    np.save(tmp_path / "e.npy", np.random.default_rng(0).normal(size=(len(listed), 3)))
    write_clip_csv(tmp_path / "c.csv", listed[::-1])

    result = import_embeddings(tmp_path / "s.zarr", "m", tmp_path / "e.npy", tmp_path / "c.csv")

    assert sorted(result.new_tables) == sorted(scanned)
    with open_store(tmp_path / "s.zarr", "r") as store:
        for (dataset, machine), table in scanned.items():
            assert store.read_clips(dataset, machine) == table, (dataset, machine)
