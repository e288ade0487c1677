"""File-name parsing for every DCASE Task 2 naming convention."""

import pytest

from asdfeat.data.names import dataset_from_path, parse_clip_path
from asdfeat.errors import DatasetError

# path, dataset, section, domain, split, label, attributes
LITERAL_NAMES = [
    ("fan/train/normal_id_00_00000000.wav", "dcase2020", "00", "none", "train", "normal", ""),
    ("fan/test/normal_id_00_00000000.wav", "dcase2020", "00", "none", "test", "normal", ""),
    ("fan/test/anomaly_id_02_00000194.wav", "dcase2020", "02", "none", "test", "anomaly", ""),
    ("ToyCar/test/id_05_00000514.wav", "dcase2020", "05", "none", "test", "unknown", ""),
    (
        "fan/train/section_00_source_train_normal_0000_m-n_W.wav",
        "dcase2022", "00", "source", "train", "normal", "m-n_W",
    ),
    (
        "fan/target_test/section_00_target_test_anomaly_0099.wav",
        "dcase2021", "00", "target", "test", "anomaly", "",
    ),
    (
        "fan/source_test/section_01_source_test_normal_0012.wav",
        "dcase2021", "01", "source", "test", "normal", "",
    ),
    ("pump/test/section_03_source_test_0000.wav", "dcase2021", "03", "source", "test", "unknown", ""),
    (
        "ToyCar/test/section_03_target_test_anomaly_0011_car_G2_spd_34V_mic_1_noise_6.wav",
        "dcase2022", "03", "target", "test", "anomaly", "car_G2_spd_34V_mic_1_noise_6",
    ),
    ("bearing/test/section_03_0000.wav", "dcase2022", "03", "unknown", "test", "unknown", ""),
    (
        "ToyDrone/train/section_00_source_train_normal_0001_noAttribute.wav",
        "dcase2022", "00", "source", "train", "normal", "noAttribute",
    ),
    (
        "ToyDrone/test/section_00_target_test_normal_0049_noAttribute.wav",
        "dcase2022", "00", "target", "test", "normal", "noAttribute",
    ),
    (
        "slider/test/section_00_source_test_normal_0027_vel_730_ac_0.11.wav",
        "dcase2022", "00", "source", "test", "normal", "vel_730_ac_0.11",
    ),
    ("Vacuum/test/section_00_0000.wav", "dcase2022", "00", "unknown", "test", "unknown", ""),
]


@pytest.mark.parametrize("path, dataset, section, domain, split, label, attributes", LITERAL_NAMES)
def test_parse_literal_names(path, dataset, section, domain, split, label, attributes):
    clip = parse_clip_path(path)

    assert clip.path == path
    assert clip.file_name == path.rsplit("/", 1)[1]
    assert clip.machine == path.split("/", 1)[0]
    assert clip.dataset == dataset
    assert clip.section == section
    assert clip.domain == domain
    assert clip.split == split
    assert clip.label == label
    assert clip.attributes == attributes


def test_parse_dataset_from_component():
    path = "/data/DCASE2023T2/eval_data/raw/ToyDrone/test/section_00_0000.wav"

    clip = parse_clip_path(path)

    assert clip.dataset == "dcase2023"
    assert clip.path == "ToyDrone/test/section_00_0000.wav"


def test_parse_nearest_dataset_component_wins():
    clip = parse_clip_path("dcase2020/copy/dcase2024/fan/test/section_00_0000.wav")

    assert clip.dataset == "dcase2024"


def test_parse_explicit_dataset_overrides():
    clip = parse_clip_path("dcase2023/fan/train/normal_id_00_00000000.wav", dataset="my-set")

    assert clip.dataset == "my-set"


def test_parse_backslash_separators():
    clip = parse_clip_path("dcase2021\\fan\\source_test\\section_00_source_test_normal_0000.wav")

    assert clip.path == "fan/source_test/section_00_source_test_normal_0000.wav"
    assert clip.dataset == "dcase2021"


def test_parse_uppercase_extension():
    clip = parse_clip_path("fan/test/anomaly_id_02_00000194.WAV")

    assert clip.label == "anomaly"


@pytest.mark.parametrize(
    "path",
    [
        "fan/test/normal_id_0_00000000.wav",
        "fan/test/broken_id_00_00000000.wav",
        "fan/test/section_0_0000.wav",
        "fan/test/section_00_middle_test_normal_0000.wav",
        "fan/test/section_00_source_test_good_0000.wav",
        "fan/test/section_00_0000.flac",
        "fan/test/recording.wav",
    ],
)
def test_parse_unknown_name_raises(path):
    with pytest.raises(DatasetError) as error:
        parse_clip_path(path)

    message = str(error.value)
    assert path.rsplit("/", 1)[1] in message
    assert "normal_id_00_00000000.wav" in message
    assert "section_03_0000.wav" in message


def test_parse_unknown_folder_raises():
    with pytest.raises(DatasetError, match="'valid' is not a clip folder"):
        parse_clip_path("fan/valid/normal_id_00_00000000.wav")


def test_parse_short_path_raises():
    with pytest.raises(DatasetError, match="fewer than three components"):
        parse_clip_path("test/normal_id_00_00000000.wav")


def test_parse_test_name_in_train_folder_raises():
    with pytest.raises(DatasetError, match="marks a test clip"):
        parse_clip_path("fan/train/section_00_source_test_normal_0000.wav")


def test_parse_domain_folder_mismatch_raises():
    with pytest.raises(DatasetError, match="marks a target-domain clip"):
        parse_clip_path("fan/source_test/section_00_target_test_normal_0000.wav")


def test_parse_invalid_dataset_name_raises():
    with pytest.raises(DatasetError, match="invalid dataset name"):
        parse_clip_path("fan/test/id_05_00000514.wav", dataset="a/b")


def test_dataset_from_path():
    assert dataset_from_path("/x/DCASE2025T2/dev_data") == "dcase2025"
    assert dataset_from_path("/x/data/dev_data") is None
