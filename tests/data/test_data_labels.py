"""Evaluation ground truth applied by file name, in the official CSV formats."""

import logging
import random

import pytest

from asdfeat.data.labels import apply_ground_truth, find_ground_truth_files, read_ground_truth
from asdfeat.data.layout import load_dataset, scan_dataset
from asdfeat.errors import DatasetError

EVAL_2022 = [f"eval_data/raw/bearing/test/section_03_{index:04d}.wav" for index in range(6)]
TRUTH_2022 = {
    "section_03_0000.wav": ("0", "0"),
    "section_03_0001.wav": ("1", "0"),
    "section_03_0002.wav": ("0", "1"),
    "section_03_0003.wav": ("1", "1"),
    "section_03_0004.wav": ("1", "0"),
    "section_03_0005.wav": ("0", "1"),
}


def _write_rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(row) + "\n" for row in rows))
    return path


def _write_2022_truth(folder, truth, *, shuffle_seed=None):
    names = sorted(truth)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(names)
    _write_rows(
        folder / "ground_truth_data" / "ground_truth_bearing_section_03_test.csv",
        [(name, truth[name][0]) for name in names],
    )
    _write_rows(
        folder / "ground_truth_domain" / "ground_truth_bearing_section_03_test.csv",
        [(name, truth[name][1]) for name in names],
    )


def _labels_by_name(table):
    return {
        name: (label, domain)
        for name, label, domain in zip(
            table["file_name"].tolist(), table["label"].tolist(), table["domain"].tolist()
        )
    }


def _expected_2022():
    label_names = {"0": "normal", "1": "anomaly"}
    domain_names = {"0": "source", "1": "target"}
    return {name: (label_names[label], domain_names[domain]) for name, (label, domain) in TRUTH_2022.items()}


@pytest.mark.parametrize("shuffle_seed", [None, 1, 2])
def test_apply_2022_truth_by_name(make_tree, shuffle_seed):
    root = make_tree(EVAL_2022)
    _write_2022_truth(root / "labels", TRUTH_2022, shuffle_seed=shuffle_seed)

    tables = load_dataset(root)

    assert _labels_by_name(tables[("dcase2022", "bearing")]) == _expected_2022()


def test_apply_truth_from_labels_dir(make_tree, tmp_path_factory):
    root = make_tree(EVAL_2022)
    labels_dir = tmp_path_factory.mktemp("truth")
    _write_2022_truth(labels_dir, TRUTH_2022, shuffle_seed=3)

    tables = apply_ground_truth(scan_dataset(root), labels_dir=labels_dir)

    assert _labels_by_name(tables[("dcase2022", "bearing")]) == _expected_2022()


def test_apply_keeps_row_order(make_tree):
    root = make_tree(EVAL_2022)
    _write_2022_truth(root, TRUTH_2022, shuffle_seed=4)
    before = scan_dataset(root)[("dcase2022", "bearing")]

    after = load_dataset(root)[("dcase2022", "bearing")]

    assert after["path"].tolist() == before["path"].tolist()
    assert after["section"].tolist() == before["section"].tolist()


def test_apply_2020_eval_data_list(make_tree):
    root = make_tree(
        [
            "eval_data/fan/test/id_01_00000000.wav",
            "eval_data/fan/test/id_01_00000001.wav",
            "eval_data/pump/test/id_01_00000000.wav",
            "dev_data/fan/test/anomaly_id_00_00000000.wav",
        ]
    )
    _write_rows(
        root / "eval_data_list.csv",
        [
            ("pump",),
            ("id_01_00000000.wav", "anomaly_id_01_00000000.wav", "1"),
            ("fan",),
            ("id_01_00000001.wav", "normal_id_01_00000001.wav", "0"),
            ("id_01_00000000.wav", "anomaly_id_01_00000000.wav", "1"),
        ],
    )

    tables = load_dataset(root)

    assert _labels_by_name(tables[("dcase2020", "fan")]) == {
        "id_01_00000000.wav": ("anomaly", "none"),
        "id_01_00000001.wav": ("normal", "none"),
        "anomaly_id_00_00000000.wav": ("anomaly", "none"),
    }
    assert _labels_by_name(tables[("dcase2020", "pump")]) == {"id_01_00000000.wav": ("anomaly", "none")}


def test_apply_2021_truth(make_tree):
    root = make_tree(
        [
            "eval_data/gearbox/test/section_03_source_test_0000.wav",
            "eval_data/gearbox/test/section_03_target_test_0000.wav",
        ]
    )
    folder = root / "ground_truth_data"
    _write_rows(folder / "ground_truth_gearbox_section_03_source_test.csv", [("section_03_source_test_0000.wav", "1")])
    _write_rows(folder / "ground_truth_gearbox_section_03_target_test.csv", [("section_03_target_test_0000.wav", "0")])

    tables = load_dataset(root)

    assert _labels_by_name(tables[("dcase2021", "gearbox")]) == {
        "section_03_source_test_0000.wav": ("anomaly", "source"),
        "section_03_target_test_0000.wav": ("normal", "target"),
    }


def test_apply_matches_machine_of_file(make_tree):
    root = make_tree(["eval_data/fan/test/section_03_0000.wav", "eval_data/valve/test/section_03_0000.wav"])
    folder = root / "ground_truth_data"
    _write_rows(folder / "ground_truth_fan_section_03_test.csv", [("section_03_0000.wav", "1")])
    _write_rows(folder / "ground_truth_valve_section_03_test.csv", [("section_03_0000.wav", "0")])

    tables = load_dataset(root)

    assert tables[("dcase2022", "fan")]["label"].tolist() == ["anomaly"]
    assert tables[("dcase2022", "valve")]["label"].tolist() == ["normal"]


def test_apply_logs_missing_and_unlabeled(make_tree, caplog):
    root = make_tree(EVAL_2022[:4] + ["eval_data/raw/bearing/test/section_03_0099.wav"])
    _write_2022_truth(root, TRUTH_2022)

    with caplog.at_level(logging.WARNING, logger="asdfeat.data.labels"):
        tables = load_dataset(root)

    messages = [record.getMessage() for record in caplog.records]
    assert any("2 ground-truth rows name clips that are not on disk" in message for message in messages)
    assert any("1 of 5 test clips have no label" in message for message in messages)
    assert tables[("dcase2022", "bearing")]["label"].tolist()[-1] == "unknown"


def test_apply_conflicting_files_raise(make_tree):
    root = make_tree(EVAL_2022)
    _write_2022_truth(root / "a", TRUTH_2022)
    _write_rows(
        root / "b" / "ground_truth_data" / "ground_truth_bearing_section_03_test.csv",
        [("section_03_0002.wav", "1")],
    )

    with pytest.raises(DatasetError) as error:
        load_dataset(root)

    assert "conflicting labels for clip bearing/section_03_0002.wav" in str(error.value)


def test_apply_conflict_with_file_name_raises(make_tree):
    root = make_tree(["dev_data/fan/test/section_00_source_test_normal_0000.wav"])
    _write_rows(
        root / "ground_truth_data" / "ground_truth_fan_section_00_test.csv",
        [("section_00_source_test_normal_0000.wav", "1")],
    )

    with pytest.raises(DatasetError, match="file name gives label 'normal'"):
        load_dataset(root)


def test_read_malformed_row_raises(tmp_path):
    path = _write_rows(
        tmp_path / "ground_truth_data" / "ground_truth_fan_section_00_test.csv",
        [("section_00_0000.wav", "yes")],
    )

    with pytest.raises(DatasetError, match="line 1"):
        read_ground_truth([path])


def test_read_eval_list_without_machine_raises(tmp_path):
    path = _write_rows(tmp_path / "eval_data_list.csv", [("id_01_00000000.wav", "x.wav", "0")])

    with pytest.raises(DatasetError, match="before any machine-type row"):
        read_ground_truth([path])


def test_find_skips_clip_folders_and_attributes(make_tree):
    root = make_tree(EVAL_2022)
    _write_2022_truth(root, TRUTH_2022)
    _write_rows(root / "ground_truth_attributes" / "ground_truth_bearing_section_03_test.csv", [("a", "b")])

    files = find_ground_truth_files(root)

    assert [path.parent.name for path in files] == ["ground_truth_data", "ground_truth_domain"]


def test_find_empty_labels_dir_raises(tmp_path):
    with pytest.raises(DatasetError, match="no ground-truth files found"):
        find_ground_truth_files(labels_dir=tmp_path)


def test_apply_without_truth_keeps_unknown(make_tree):
    root = make_tree(EVAL_2022)

    tables = load_dataset(root)

    assert set(tables[("dcase2022", "bearing")]["label"].tolist()) == {"unknown"}
