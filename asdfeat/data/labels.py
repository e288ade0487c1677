"""Apply the official evaluation ground truth to clip tables, matching clips by file name.

Evaluation clips carry no label in their names (``id_05_00000514.wav``,
``section_03_source_test_0000.wav``, ``section_03_0000.wav``), so the
organisers published the labels separately. This module reads the formats
below. They were taken from the official evaluators on GitHub:
y-kawagu/dcase2020_task2_evaluator (2020), y-kawagu/dcase2021_task2_evaluator
(2021) and nttcslab/dcase2023_task2_evaluator (2023). The README of the 2022
evaluator lists the same ``ground_truth_data`` file names as 2023.

* DCASE 2020, ``eval_data_list.csv``: a row with only a machine type
  (``ToyCar``) starts a block. Each following row is
  ``<evaluation file name>,<file name with label>,<0|1>``, for example
  ``id_05_00000000.wav,normal_id_05_00000000.wav,0``. Only the first and
  third columns are used.
* DCASE 2021, ``ground_truth_data/ground_truth_<machine>_section_<XX>_<source|target>_test.csv``:
  rows ``section_03_target_test_0000.wav,1``, no header. The domain is in the
  clip name.
* DCASE 2022-2025, ``ground_truth_data/ground_truth_<machine>_section_<XX>_test.csv``
  with rows ``section_03_0000.wav,<0|1>`` and
  ``ground_truth_domain/ground_truth_<machine>_section_<XX>_test.csv`` with
  the same rows, where 0 is the source and 1 the target domain.

Labels are 0 for normal and 1 for anomalous clips. The official 2021/2022
scorers pair scores and labels by sorting file names; this module never relies
on order and looks every clip up by ``(machine, file name)``.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asdfeat.data.clips import COLUMNS, ClipTable
from asdfeat.data.names import CLIP_DIRS
from asdfeat.errors import DatasetError

logger = logging.getLogger(__name__)

EVAL_DATA_LIST = "eval_data_list.csv"
LABEL_DIR = "ground_truth_data"
DOMAIN_DIR = "ground_truth_domain"

_LABEL_VALUES = {"0": "normal", "1": "anomaly"}
_DOMAIN_VALUES = {"0": "source", "1": "target"}
_GROUND_TRUTH_FILE = re.compile(
    r"^ground_truth_(?P<machine>.+?)_section_(?P<section>\d{2})(?:_(?P<domain>source|target))?_test\.csv$"
)


@dataclass(frozen=True)
class GroundTruthEntry:
    """One value (label or domain) that a ground-truth file states for one clip."""

    machine: str
    file_name: str
    field: str
    value: str
    source: str


def find_ground_truth_files(root=None, *, labels_dir=None) -> list[Path]:
    """Find the ground-truth CSVs under ``labels_dir``, or else under ``root``.

    Parameters
    ----------
    root : str or Path, optional
        Dataset root to search when ``labels_dir`` is not given. Clip folders
        (``train``, ``test``, ...) are not entered.
    labels_dir : str or Path, optional
        Folder that contains ``eval_data_list.csv`` and/or the
        ``ground_truth_data``/``ground_truth_domain`` folders, at any depth.

    Returns
    -------
    list of Path
        Sorted paths of ``eval_data_list.csv`` files and of
        ``ground_truth_*.csv`` files inside ``ground_truth_data`` or
        ``ground_truth_domain`` folders.

    Raises
    ------
    DatasetError
        If ``labels_dir`` is given but is not a folder or contains no such file.
    """
    if labels_dir is None and root is None:
        raise DatasetError("find_ground_truth_files needs root or labels_dir; pass the dataset or label folder")

    search_dir = Path(labels_dir if labels_dir is not None else root)
    if not search_dir.is_dir():
        raise DatasetError(f"label folder {str(search_dir)!r} is not a folder; pass the folder that contains the ground-truth CSVs")

    files = []
    for folder, subfolders, names in os.walk(search_dir):
        subfolders[:] = sorted(name for name in subfolders if name not in CLIP_DIRS)
        folder = Path(folder)
        for name in sorted(names):
            if name == EVAL_DATA_LIST:
                files.append(folder / name)
            elif folder.name in (LABEL_DIR, DOMAIN_DIR) and _GROUND_TRUTH_FILE.match(name):
                files.append(folder / name)

    if labels_dir is not None and not files:
        raise DatasetError(
            f"no ground-truth files found under {str(search_dir)!r}; expected {EVAL_DATA_LIST} "
            f"or {LABEL_DIR}/ground_truth_<machine>_section_<XX>_test.csv"
        )
    return sorted(files)


def read_ground_truth(files) -> dict[tuple[str, str], dict[str, str]]:
    """Read ground-truth CSVs into one mapping from clip to known values.

    Parameters
    ----------
    files : iterable of str or Path
        Files as returned by :func:`find_ground_truth_files`.

    Returns
    -------
    dict
        Maps ``(machine, file_name)`` to a dict with the key ``"label"``
        (``"normal"``/``"anomaly"``), ``"domain"`` (``"source"``/``"target"``),
        or both.

    Raises
    ------
    DatasetError
        If a file is malformed, or two rows state different values for one clip.
    """
    merged: dict[tuple[str, str], dict[str, GroundTruthEntry]] = {}
    for path in files:
        for entry in _read_file(Path(path)):
            known = merged.setdefault((entry.machine, entry.file_name), {})
            previous = known.get(entry.field)
            if previous is not None and previous.value != entry.value:
                raise DatasetError(
                    f"conflicting {entry.field}s for clip {entry.machine}/{entry.file_name}: "
                    f"{previous.value!r} in {previous.source!r} but {entry.value!r} in "
                    f"{entry.source!r}; fix or remove one of the files"
                )
            known[entry.field] = entry

    return {key: {field: entry.value for field, entry in known.items()} for key, known in merged.items()}


def apply_ground_truth(tables, root=None, *, labels_dir=None) -> dict[tuple[str, str], ClipTable]:
    """Return copies of ``tables`` with evaluation labels and domains filled in.

    Parameters
    ----------
    tables : dict of (str, str) to ClipTable
        Output of :func:`asdfeat.data.layout.scan_dataset`.
    root, labels_dir : str or Path, optional
        Where to look for ground-truth files, see :func:`find_ground_truth_files`.

    Returns
    -------
    dict of (str, str) to ClipTable
        Same keys and row order. Test clips found in the ground truth get its
        label and domain.

    Raises
    ------
    DatasetError
        If ground-truth files conflict with each other, or a value conflicts
        with the label or domain in a clip's file name.

    Notes
    -----
    A ground-truth row naming a clip that is not in ``tables`` and a test clip
    left with label ``"unknown"`` are logged as warnings with counts.
    """
    files = find_ground_truth_files(root, labels_dir=labels_dir)
    if not files:
        logger.info("no ground-truth files found under %s; evaluation labels stay unknown", root)
        return dict(tables)

    ground_truth = read_ground_truth(files)
    logger.info("read ground truth for %d clips from %d files", len(ground_truth), len(files))

    used = set()
    labeled = {key: _label_table(table, ground_truth, used) for key, table in tables.items()}

    _log_unmatched(ground_truth, used, {machine for _, machine in tables})
    _log_unlabeled(labeled)
    return labeled


def _read_file(path: Path) -> list[GroundTruthEntry]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"cannot read ground-truth file {str(path)!r}: {error}") from error

    if path.name == EVAL_DATA_LIST:
        return _read_eval_data_list(path, rows)

    match = _GROUND_TRUTH_FILE.match(path.name)
    field, values = ("domain", _DOMAIN_VALUES) if path.parent.name == DOMAIN_DIR else ("label", _LABEL_VALUES)
    return [
        _entry(path, line, match["machine"], row[0], field, row[1] if len(row) > 1 else "", values)
        for line, row in enumerate(rows, start=1)
        if any(cell.strip() for cell in row)
    ]


def _read_eval_data_list(path: Path, rows) -> list[GroundTruthEntry]:
    entries = []
    machine = None
    for line, row in enumerate(rows, start=1):
        cells = [cell.strip() for cell in row if cell.strip()]
        if not cells:
            continue
        if len(cells) == 1:
            machine = cells[0]
            continue
        if machine is None:
            raise DatasetError(
                f"{str(path)!r} line {line}: clip row before any machine-type row; "
                "the file must start with a machine type such as 'ToyCar'"
            )
        if len(row) < 3:
            raise DatasetError(
                f"{str(path)!r} line {line}: expected '<file name>,<labelled name>,<0|1>', got {row}"
            )
        entries.append(_entry(path, line, machine, row[0], "label", row[2], _LABEL_VALUES))
    return entries


def _entry(path, line, machine, file_name, field, raw_value, values) -> GroundTruthEntry:
    value = values.get(raw_value.strip())
    if value is None or not file_name.strip():
        raise DatasetError(
            f"{str(path)!r} line {line}: expected '<file name>,<0|1>' for the {field}, "
            f"got {file_name!r},{raw_value!r}"
        )
    return GroundTruthEntry(machine, file_name.strip(), field, value, str(path))


def _label_table(table: ClipTable, ground_truth, used: set) -> ClipTable:
    columns = table.to_dict()
    labels = columns["label"].astype(object)
    domains = columns["domain"].astype(object)

    for row in np.flatnonzero(columns["split"] == "test"):
        key = (str(columns["machine"][row]), str(columns["file_name"][row]))
        known = ground_truth.get(key)
        if known is None:
            continue
        used.add(key)
        path = str(columns["path"][row])
        if "label" in known:
            labels[row] = _merge_value(path, "label", labels[row], known["label"])
        if "domain" in known and domains[row] != "none":
            domains[row] = _merge_value(path, "domain", domains[row], known["domain"])

    columns["label"] = labels.astype(str)
    columns["domain"] = domains.astype(str)
    return ClipTable({name: columns[name] for name in COLUMNS})


def _merge_value(path: str, field: str, current: str, truth: str) -> str:
    if current not in ("unknown", truth):
        raise DatasetError(
            f"clip {path!r}: its file name gives {field} {current!r} but the ground truth "
            f"gives {truth!r}; check that the file was not renamed"
        )
    return truth


def _log_unmatched(ground_truth, used: set, machines: set) -> None:
    unmatched = sorted(key for key in ground_truth if key not in used and key[0] in machines)
    if unmatched:
        examples = [f"{machine}/{name}" for machine, name in unmatched[:5]]
        logger.warning(
            "%d ground-truth rows name clips that are not on disk, e.g. %s", len(unmatched), examples
        )


def _log_unlabeled(tables) -> None:
    for (dataset, machine), table in sorted(tables.items()):
        unknown = (table["split"] == "test") & (table["label"] == "unknown")
        count = int(unknown.sum())
        if count:
            logger.warning(
                "%s %s: %d of %d test clips have no label after applying the ground truth, e.g. %s",
                dataset, machine, count, int((table["split"] == "test").sum()),
                table["file_name"][unknown][:3].tolist(),
            )
