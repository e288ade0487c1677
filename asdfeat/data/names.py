"""Parse DCASE Task 2 clip paths into :class:`~asdfeat.data.clips.Clip` records.

Supported file-name conventions, with literal examples from the public releases:

* DCASE 2020 development: ``normal_id_00_00000000.wav``,
  ``anomaly_id_02_00000194.wav``. The machine ID becomes the section and the
  domain is ``"none"``.
* DCASE 2020 evaluation: ``id_05_00000514.wav``. The label is ``"unknown"``
  until ``eval_data_list.csv`` is applied.
* DCASE 2021-2025 training and development test clips:
  ``section_00_source_train_normal_0000_<attributes>.wav`` and
  ``section_03_target_test_anomaly_0011_car_G2_spd_34V_mic_1_noise_6.wav``.
  The attribute suffix is optional; 2023-2025 hide some attributes as
  ``noAttribute``.
* DCASE 2021 evaluation: ``section_03_source_test_0000.wav``. The domain is in
  the name, the label is ``"unknown"``.
* DCASE 2022-2025 evaluation: ``section_03_0000.wav``. Domain and label are
  ``"unknown"`` until the ground-truth CSVs are applied.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from asdfeat.data.clips import Clip
from asdfeat.errors import DatasetError

#: Folder names that may contain clips, mapped to the split they belong to.
#: DCASE 2021 development data keeps its test clips in ``source_test`` and
#: ``target_test`` folders.
CLIP_DIRS = {
    "train": "train",
    "test": "test",
    "source_test": "test",
    "target_test": "test",
}

_WAV = r"\.(?i:wav)"

_DCASE2020_LABELED = re.compile(rf"^(?P<label>normal|anomaly)_id_(?P<section>\d{{2}})_\d{{8}}{_WAV}$")
_DCASE2020_EVAL = re.compile(rf"^id_(?P<section>\d{{2}})_\d{{8}}{_WAV}$")
_SECTION_LABELED = re.compile(
    rf"^section_(?P<section>\d{{2}})_(?P<domain>source|target)_(?P<split>train|test)"
    rf"_(?P<label>normal|anomaly)_\d{{4}}(?:_(?P<attributes>.+?))?{_WAV}$"
)
_DCASE2021_EVAL = re.compile(
    rf"^section_(?P<section>\d{{2}})_(?P<domain>source|target)_test_\d{{4}}"
    rf"(?:_(?P<attributes>.+?))?{_WAV}$"
)
_DCASE2022_EVAL = re.compile(rf"^section_(?P<section>\d{{2}})_\d{{4}}{_WAV}$")

#: Human-readable list of the accepted patterns, used in error messages.
EXPECTED_PATTERNS = (
    "normal_id_00_00000000.wav / anomaly_id_02_00000194.wav (DCASE 2020)",
    "id_05_00000514.wav (DCASE 2020 evaluation)",
    "section_00_source_train_normal_0000[_<attributes>].wav (DCASE 2021-2025)",
    "section_00_target_test_anomaly_0099[_<attributes>].wav (DCASE 2021-2025)",
    "section_03_source_test_0000.wav (DCASE 2021 evaluation)",
    "section_03_0000.wav (DCASE 2022-2025 evaluation)",
)

_DATASET_COMPONENT = re.compile(r"^dcase(20\d{2})", re.IGNORECASE)
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_clip_path(relative_path: str, *, dataset: str | None = None) -> Clip:
    """Parse one clip path into a :class:`Clip`.

    Parameters
    ----------
    relative_path : str
        Path ending in ``<machine>/<dir>/<file name>``, where ``<dir>`` is
        ``train``, ``test``, ``source_test`` or ``target_test``. Leading
        components (for example ``dcase2022/dev_data/raw/``) are allowed and
        only used to infer ``dataset``. Backslashes count as separators.
    dataset : str, optional
        Dataset name stored in the clip. By default the last path component
        that starts with ``dcase20XX`` gives it (``"DCASE2023T2"`` becomes
        ``"dcase2023"``). Without such a component the naming style decides:
        ``dcase2020`` for ID names, ``dcase2021`` for clips in
        ``source_test``/``target_test`` folders or with 2021 evaluation names,
        and ``dcase2022`` for every other section name.

    Returns
    -------
    Clip
        ``path`` is ``<machine>/<dir>/<file name>`` with the real folder name.

    Raises
    ------
    DatasetError
        If the path has fewer than three components, the folder is not a clip
        folder, the file name matches no known pattern, or the name contradicts
        its folder (a test clip in ``train/``, a target clip in ``source_test/``).

    Notes
    -----
    DCASE 2021 training names look exactly like 2022 ones, so a lone 2021
    training path without a ``dcase2021`` component parses as ``dcase2022``.
    :func:`asdfeat.data.layout.scan_dataset` resolves this per machine type.
    """
    parts = PurePosixPath(str(relative_path).replace("\\", "/")).parts
    if len(parts) < 3:
        raise DatasetError(
            f"clip path {relative_path!r} has fewer than three components; "
            "expected <machine>/<train|test|source_test|target_test>/<file name>"
        )

    machine, folder, file_name = parts[-3:]
    if folder not in CLIP_DIRS:
        raise DatasetError(
            f"clip path {relative_path!r}: folder {folder!r} is not a clip folder; "
            f"expected one of {sorted(CLIP_DIRS)}"
        )

    fields = _parse_file_name(file_name, folder, relative_path)

    if dataset is None:
        dataset = _dataset_from_components(parts[:-3]) or fields.pop("implied_dataset")
    else:
        _validate_dataset_name(dataset)
    fields.pop("implied_dataset", None)

    return Clip(
        path=f"{machine}/{folder}/{file_name}",
        file_name=file_name,
        dataset=dataset,
        machine=machine,
        split=CLIP_DIRS[folder],
        **fields,
    )


def dataset_from_path(path) -> str | None:
    """Return ``"dcase20XX"`` from the last path component starting with it, or None.

    The match ignores case, so ``"DCASE2023T2"`` gives ``"dcase2023"``.
    """
    parts = PurePosixPath(str(path).replace("\\", "/")).parts
    return _dataset_from_components(parts)


def _parse_file_name(file_name: str, folder: str, relative_path: str) -> dict[str, str]:
    match = _DCASE2020_LABELED.match(file_name)
    if match:
        return _fields(match["section"], "none", match["label"], "", "dcase2020")

    match = _DCASE2020_EVAL.match(file_name)
    if match:
        return _fields(match["section"], "none", "unknown", "", "dcase2020")

    match = _SECTION_LABELED.match(file_name)
    if match:
        _check_split_folder(match["split"], folder, relative_path)
        _check_domain_folder(match["domain"], folder, relative_path)
        year = "dcase2021" if folder in ("source_test", "target_test") else "dcase2022"
        return _fields(match["section"], match["domain"], match["label"], match["attributes"], year)

    match = _DCASE2021_EVAL.match(file_name)
    if match:
        _check_split_folder("test", folder, relative_path)
        _check_domain_folder(match["domain"], folder, relative_path)
        return _fields(match["section"], match["domain"], "unknown", match["attributes"], "dcase2021")

    match = _DCASE2022_EVAL.match(file_name)
    if match:
        _check_split_folder("test", folder, relative_path)
        return _fields(match["section"], "unknown", "unknown", "", "dcase2022")

    raise DatasetError(
        f"clip file name {file_name!r} (in {relative_path!r}) matches no DCASE naming "
        "convention; expected one of: " + "; ".join(EXPECTED_PATTERNS)
    )


def _fields(section, domain, label, attributes, year) -> dict[str, str]:
    return {
        "section": section,
        "domain": domain,
        "label": label,
        "attributes": attributes or "",
        "implied_dataset": year,
    }


def _check_split_folder(name_split: str, folder: str, relative_path: str) -> None:
    if CLIP_DIRS[folder] != name_split:
        raise DatasetError(
            f"clip path {relative_path!r}: the file name marks a {name_split} clip but it "
            f"lies in the {folder!r} folder; move it to the matching folder"
        )


def _check_domain_folder(name_domain: str, folder: str, relative_path: str) -> None:
    if folder in ("source_test", "target_test") and not folder.startswith(name_domain):
        raise DatasetError(
            f"clip path {relative_path!r}: the file name marks a {name_domain}-domain clip "
            f"but it lies in the {folder!r} folder; move it to the matching folder"
        )


def _dataset_from_components(components) -> str | None:
    for component in reversed(components):
        match = _DATASET_COMPONENT.match(component)
        if match:
            return f"dcase{match[1]}"
    return None


def _validate_dataset_name(dataset: str) -> None:
    if not isinstance(dataset, str) or not _DATASET_NAME.match(dataset):
        raise DatasetError(
            f"invalid dataset name {dataset!r}; use letters, digits, '_', '.' or '-', "
            "for example 'dcase2022'"
        )
