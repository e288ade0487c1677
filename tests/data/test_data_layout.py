"""Folder scanning of DCASE releases into per-machine clip tables."""

import numpy as np
import pytest

from asdfeat.data.audio import load_audio
from asdfeat.data.layout import machine_folder_parents, scan_dataset
from asdfeat.data.names import parse_clip_path
from asdfeat.errors import DatasetError

DCASE2022_TREE = [
    "dev_data/raw/fan/train/section_00_source_train_normal_0001_a.wav",
    "dev_data/raw/fan/train/section_00_source_train_normal_0000_a.wav",
    "dev_data/raw/fan/test/section_00_target_test_anomaly_0000_b.wav",
    "dev_data/raw/valve/train/section_01_source_train_normal_0000_c.wav",
    "eval_data/raw/fan/train/section_03_target_train_normal_0000_d.wav",
    "eval_data/raw/fan/test/section_03_0000.wav",
]


def test_scan_release_root_merges_dev_and_eval(make_tree):
    root = make_tree(DCASE2022_TREE)

    tables = scan_dataset(root)

    assert sorted(tables) == [("dcase2022", "fan"), ("dcase2022", "valve")]
    fan = tables[("dcase2022", "fan")]
    assert len(fan) == 5
    assert fan["path"].tolist() == sorted(fan["path"].tolist())
    assert "fan/test/section_03_0000.wav" in fan["path"].tolist()
    assert set(fan["section"].tolist()) == {"00", "03"}


def test_clip_paths_resolve_under_parents(make_tree):
    root = make_tree(DCASE2022_TREE)

    parents = machine_folder_parents(root)

    assert parents == [root / "dev_data" / "raw", root / "eval_data" / "raw"]
    for table in scan_dataset(root).values():
        for path in table["path"].tolist():
            assert sum((parent / path).is_file() for parent in parents) == 1


@pytest.mark.parametrize("start", ["dev_data", "dev_data/raw"])
def test_scan_part_or_raw_folder(make_tree, start):
    root = make_tree(DCASE2022_TREE)

    tables = scan_dataset(root / start)

    assert len(tables[("dcase2022", "fan")]) == 3
    assert len(tables[("dcase2022", "valve")]) == 1


def test_scan_folder_of_machine_folders(make_tree):
    root = make_tree(["fan/train/normal_id_00_00000000.wav", "fan/test/anomaly_id_02_00000194.wav"])

    tables = scan_dataset(root)

    fan = tables[("dcase2020", "fan")]
    assert fan["label"].tolist() == ["anomaly", "normal"]
    assert fan["split"].tolist() == ["test", "train"]


def test_scan_dataset_from_root_component(make_tree):
    root = make_tree(["DCASE2024T2/dev_data/raw/fan/test/section_00_source_test_normal_0000_noAttribute.wav"])

    tables = scan_dataset(root / "DCASE2024T2")

    assert list(tables) == [("dcase2024", "fan")]


def test_scan_explicit_dataset(make_tree):
    root = make_tree(DCASE2022_TREE)

    tables = scan_dataset(root, dataset="synthetic")

    assert sorted(tables) == [("synthetic", "fan"), ("synthetic", "valve")]
    assert set(tables[("synthetic", "fan")]["dataset"].tolist()) == {"synthetic"}


def test_scan_2021_machine_is_one_dataset(make_tree):
    root = make_tree(
        [
            "dev_data/pump/train/section_00_source_train_normal_0000.wav",
            "dev_data/pump/source_test/section_00_source_test_anomaly_0000.wav",
            "dev_data/pump/target_test/section_00_target_test_normal_0000.wav",
        ]
    )

    tables = scan_dataset(root)

    pump = tables[("dcase2021", "pump")]
    assert set(pump["dataset"].tolist()) == {"dcase2021"}
    assert pump["path"].tolist() == [
        "pump/source_test/section_00_source_test_anomaly_0000.wav",
        "pump/target_test/section_00_target_test_normal_0000.wav",
        "pump/train/section_00_source_train_normal_0000.wav",
    ]


def test_scan_selects_machines(make_tree):
    root = make_tree(DCASE2022_TREE)

    tables = scan_dataset(root, machines=["valve"])

    assert list(tables) == [("dcase2022", "valve")]


def test_scan_unknown_machine_lists_found(make_tree):
    root = make_tree(DCASE2022_TREE)

    with pytest.raises(DatasetError) as error:
        scan_dataset(root, machines=["fan", "pump"])

    assert "['pump']" in str(error.value)
    assert "['fan', 'valve']" in str(error.value)


def test_scan_path_collision_raises(make_tree):
    root = make_tree(
        [
            "dev_data/fan/test/section_00_0000.wav",
            "eval_data/fan/test/section_00_0000.wav",
        ]
    )

    with pytest.raises(DatasetError, match="exists in both"):
        scan_dataset(root)


def test_scan_no_wav_names_folder(tmp_path):
    (tmp_path / "dev_data" / "fan" / "train").mkdir(parents=True)

    with pytest.raises(DatasetError) as error:
        scan_dataset(tmp_path)

    assert "no WAV files found" in str(error.value)
    assert str(tmp_path / "dev_data" / "fan") in str(error.value)


def test_scan_missing_root_raises(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        scan_dataset(tmp_path / "missing")


def test_scan_bad_name_raises(make_tree):
    root = make_tree(["fan/train/recording_01.wav"])

    with pytest.raises(DatasetError, match="recording_01.wav"):
        scan_dataset(root)


def test_scan_skips_hidden_and_other_files(make_tree):
    root = make_tree(["fan/train/normal_id_00_00000000.wav", "fan/train/._normal_id_00_00000000.wav"])
    (root / "fan" / "train" / "notes.txt").write_text("not audio")

    tables = scan_dataset(root)

    assert len(tables[("dcase2020", "fan")]) == 1


def test_scan_real_clips(real_data_dir):
    n_clips = 0
    for release, expected_dataset in (("dcase2020", "dcase2020"), ("dcase2023", "dcase2023")):
        tables = scan_dataset(real_data_dir / release)

        for (dataset, machine), table in tables.items():
            assert dataset == expected_dataset
            assert set(table["machine"].tolist()) == {machine}
            n_clips += len(table)

    assert n_clips == 22


def test_real_clips_parse_and_decode(real_data_dir):
    wav_paths = sorted(real_data_dir.rglob("*.wav"))
    assert len(wav_paths) == 22

    for wav_path in wav_paths:
        relative = wav_path.relative_to(real_data_dir).as_posix()
        clip = parse_clip_path(relative)
        assert clip.dataset == relative.split("/", 1)[0]
        assert clip.label in ("normal", "anomaly")
        assert clip.split == "test"
        assert clip.file_name in relative
        expected_domain = "none" if clip.dataset == "dcase2020" else clip.file_name.split("_")[2]
        assert clip.domain == expected_domain

        waveform = load_audio(wav_path)
        seconds = 12 if clip.machine == "ToyTrain" else 10
        assert waveform.dtype == np.float32
        assert waveform.shape == (seconds * 16000,)
        assert np.all(np.abs(waveform) <= 1.0)
        assert np.std(waveform) > 0
