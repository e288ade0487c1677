"""The clip table: one row per audio clip of one (dataset, machine type).

Every other part of asdfeat keys its data on this table. Embeddings are stored
row for row against it, and rows are matched between tables by ``path``, never
by position.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from asdfeat.errors import DatasetError

LABELS = ("normal", "anomaly", "unknown")
DOMAINS = ("source", "target", "none", "unknown")
SPLITS = ("train", "test")

COLUMNS = (
    "path",
    "file_name",
    "dataset",
    "machine",
    "section",
    "domain",
    "split",
    "label",
    "attributes",
)


@dataclass(frozen=True)
class Clip:
    """One audio clip with the metadata from its file name and label files.

    Attributes
    ----------
    path : str
        Path relative to the dataset root, ``<machine>/<train|test>/<file_name>``.
        This is the clip's identity inside a store.
    file_name : str
        The original file name, as the DCASE evaluator expects it.
    dataset : str
        Dataset name, e.g. ``"dcase2022"``.
    machine : str
        Machine type, e.g. ``"fan"`` or ``"ToyCar"``.
    section : str
        Two-digit section; DCASE 2020 machine IDs act as sections.
    domain : str
        ``"source"``, ``"target"``, ``"none"`` (DCASE 2020 has no domains) or
        ``"unknown"`` (evaluation clips without ground truth).
    split : str
        ``"train"`` or ``"test"``.
    label : str
        ``"normal"``, ``"anomaly"`` or ``"unknown"``.
    attributes : str
        Attribute suffix of the file name, e.g. ``"car_G2_spd_34V"``, or ``""``.
    """

    path: str
    file_name: str
    dataset: str
    machine: str
    section: str
    domain: str
    split: str
    label: str
    attributes: str = ""

    def __post_init__(self):
        for name, allowed in (("label", LABELS), ("domain", DOMAINS), ("split", SPLITS)):
            value = getattr(self, name)
            if value not in allowed:
                raise DatasetError(
                    f"clip {self.path!r}: invalid {name} {value!r}; expected one of {allowed}"
                )


class ClipTable:
    """Columns of clip metadata, each a 1-D NumPy string array of equal length.

    Parameters
    ----------
    columns : dict of str to array-like
        One entry per name in :data:`COLUMNS`, each of length ``n_clips``.
        Values are converted to NumPy unicode arrays.

    Raises
    ------
    DatasetError
        If a column is missing, lengths differ, or a path occurs twice.
    """

    def __init__(self, columns):
        missing = [name for name in COLUMNS if name not in columns]
        if missing:
            raise DatasetError(f"clip table is missing the columns {missing}")

        self._columns = {name: _as_str_array(columns[name]) for name in COLUMNS}

        lengths = {name: len(values) for name, values in self._columns.items()}
        if len(set(lengths.values())) > 1:
            raise DatasetError(f"clip table columns differ in length: {lengths}")

        _check_unique_paths(self._columns["path"])

    @classmethod
    def from_clips(cls, clips) -> ClipTable:
        """Build a table from an iterable of :class:`Clip`, keeping their order."""
        clips = list(clips)
        return cls({name: [getattr(clip, name) for clip in clips] for name in COLUMNS})

    @classmethod
    def empty(cls) -> ClipTable:
        return cls({name: [] for name in COLUMNS})

    def __len__(self) -> int:
        return len(self._columns["path"])

    def __getitem__(self, column: str) -> np.ndarray:
        return self._columns[column]

    def __eq__(self, other) -> bool:
        if not isinstance(other, ClipTable):
            return NotImplemented
        return all(np.array_equal(self[name], other[name]) for name in COLUMNS)

    def __repr__(self) -> str:
        machines = sorted(set(self["machine"].tolist()))
        return f"ClipTable(n_clips={len(self)}, machines={machines})"

    def to_dict(self) -> dict[str, np.ndarray]:
        return dict(self._columns)

    def clips(self) -> list[Clip]:
        return [Clip(**{name: str(self[name][i]) for name in COLUMNS}) for i in range(len(self))]

    def select(self, rows) -> ClipTable:
        """Return the rows given by a boolean mask or an integer index array."""
        return ClipTable({name: values[rows] for name, values in self._columns.items()})

    def row_index(self) -> dict[str, int]:
        """Map each clip path to its row number."""
        return {path: i for i, path in enumerate(self["path"].tolist())}

    def locate(self, paths) -> np.ndarray:
        """Return the row numbers of ``paths``.

        Raises
        ------
        DatasetError
            If a path is not in the table; the message lists up to ten of them.
        """
        index = self.row_index()
        missing = [path for path in paths if path not in index]
        if missing:
            raise DatasetError(
                f"{len(missing)} clip(s) not found in the clip table, e.g. {missing[:10]}"
            )
        return np.array([index[path] for path in paths], dtype=np.int64)

    def append(self, other: ClipTable) -> ClipTable:
        """Return this table followed by the rows of ``other`` whose path is new."""
        known = self.row_index()
        new_rows = np.array([path not in known for path in other["path"].tolist()], dtype=bool)
        added = other.select(new_rows)
        return ClipTable(
            {name: np.concatenate([self[name], added[name]]) for name in COLUMNS}
        )


def _as_str_array(values) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, dtype="<U1")
    if array.ndim != 1:
        raise DatasetError(f"clip table columns must be 1-D, got shape {array.shape}")
    return array.astype(str)


def _check_unique_paths(paths: np.ndarray) -> None:
    unique, counts = np.unique(paths, return_counts=True)
    duplicates = unique[counts > 1]
    if duplicates.size:
        raise DatasetError(
            f"clip table lists {duplicates.size} path(s) more than once, "
            f"e.g. {duplicates[:10].tolist()}; each clip must appear once"
        )


# The dataclass field order defines the column order of stored tables.
assert tuple(field.name for field in fields(Clip)) == COLUMNS
