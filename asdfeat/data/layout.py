"""Find the clips of a DCASE Task 2 release on disk and build clip tables.

The official releases use ``<root>/<dev_data|eval_data>/[raw/]<machine>/<train|test>/``
(DCASE 2021 development data also has ``source_test/`` and ``target_test/``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from pathlib import Path

from asdfeat.data.clips import ClipTable
from asdfeat.data.labels import apply_ground_truth
from asdfeat.data.names import CLIP_DIRS, dataset_from_path, parse_clip_path
from asdfeat.errors import DatasetError

logger = logging.getLogger(__name__)

#: Folders of a release root that hold one part of the release each.
RELEASE_PARTS = ("dev_data", "eval_data")


def scan_dataset(root, *, dataset: str | None = None, machines=None) -> dict[tuple[str, str], ClipTable]:
    """Scan a DCASE release folder and return one clip table per machine type.

    Parameters
    ----------
    root : str or Path
        The release root (holding ``dev_data/`` and/or ``eval_data/``), one of
        those folders, a ``raw/`` folder, or any folder of machine-type folders.
    dataset : str, optional
        Dataset name for every clip. By default the last component of the
        absolute ``root`` path that starts with ``dcase20XX`` gives it,
        otherwise the naming style of each machine type's clips (see
        :func:`asdfeat.data.names.parse_clip_path`). A machine type whose clips
        contain DCASE 2021 names is ``dcase2021`` as a whole.
    machines : iterable of str, optional
        Machine types to keep, e.g. ``["fan", "valve"]``. By default all.

    Returns
    -------
    dict of (str, str) to ClipTable
        Keyed by ``(dataset, machine)``. Development and evaluation clips of
        one machine type share one table, with rows sorted by ``path``.

    Raises
    ------
    DatasetError
        If ``root`` is not a folder, no WAV file is found, a name in
        ``machines`` is not among the machine types found, a file name is not
        a DCASE name, or a development and an evaluation clip share a path.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {str(root)!r} is not a folder; pass the folder that contains dev_data/ or eval_data/")

    machine_dirs = _find_machine_dirs(root)
    found = sorted(machine_dirs)
    if machines is not None:
        machine_dirs = _select_machines(machine_dirs, machines, root)

    if dataset is None:
        dataset = dataset_from_path(root.resolve())

    tables = {}
    for machine, folders in sorted(machine_dirs.items()):
        clips = _collect_clips(machine, folders, dataset)
        if clips:
            clips.sort(key=lambda clip: clip.path)
            tables[(clips[0].dataset, machine)] = ClipTable.from_clips(clips)

    if not tables:
        looked_in = sorted({str(folder) for folders in machine_dirs.values() for folder in folders})
        if not looked_in:
            looked_in = [str(part) for part in machine_folder_parents(root)]
        raise DatasetError(
            f"no WAV files found under {str(root)!r} (looked in {looked_in}, "
            f"machine types {found}); expected <root>/<dev_data|eval_data>/[raw/]<machine>/<train|test>/*.wav"
        )

    logger.info("found %d clips of %d machine types under %s", sum(map(len, tables.values())), len(tables), root)
    return tables


def _find_machine_dirs(root: Path) -> dict[str, list[Path]]:
    """Map each machine type to its folders, one per release part that has it."""
    machine_dirs = defaultdict(list)
    for parent in machine_folder_parents(root):
        for candidate in sorted(parent.iterdir()):
            if candidate.is_dir() and any((candidate / name).is_dir() for name in CLIP_DIRS):
                machine_dirs[candidate.name].append(candidate)
    return dict(machine_dirs)


def machine_folder_parents(root) -> list[Path]:
    """List the folders that :func:`scan_dataset` reads machine-type folders from.

    Clip paths in the tables are relative to one of these folders, for
    example ``<root>/dev_data/raw`` and ``<root>/eval_data/raw``.
    """
    root = Path(root)
    parts = [root / name for name in RELEASE_PARTS if (root / name).is_dir()]
    if not parts:
        parts = [root]
    return [part / "raw" if (part / "raw").is_dir() else part for part in parts]


def _select_machines(machine_dirs, machines, root: Path) -> dict[str, list[Path]]:
    if isinstance(machines, str):
        machines = [machines]
    requested = list(machines)
    unknown = [name for name in requested if name not in machine_dirs]
    if unknown:
        raise DatasetError(
            f"machine type(s) {unknown} not found under {str(root)!r}; "
            f"found {sorted(machine_dirs)}"
        )
    return {name: machine_dirs[name] for name in requested}


def _collect_clips(machine: str, folders: list[Path], dataset: str | None) -> list:
    clips = []
    origin = {}
    for machine_dir in folders:
        for folder_name in CLIP_DIRS:
            for wav in _wav_files(machine_dir / folder_name):
                clip = parse_clip_path(f"{machine}/{folder_name}/{wav.name}", dataset=dataset)
                if clip.path in origin:
                    raise DatasetError(
                        f"clip {clip.path!r} exists in both {str(origin[clip.path])!r} and "
                        f"{str(wav)!r}; remove or rename one of them"
                    )
                origin[clip.path] = wav
                clips.append(clip)

    if dataset is None and clips:
        clips = _unify_dataset(machine, clips)
    return clips


def _wav_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    files = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            logger.debug("skipping hidden file %s", path)
        elif path.suffix.lower() == ".wav" and path.is_file():
            files.append(path)
    return files


def _unify_dataset(machine: str, clips: list) -> list:
    """Give all clips of one machine type the dataset their names imply together.

    DCASE 2021 training names equal 2022 ones, so one 2021 test or evaluation
    name makes the whole machine type ``dcase2021``.
    """
    implied = {clip.dataset for clip in clips}
    if "dcase2020" in implied and len(implied) > 1:
        raise DatasetError(
            f"machine type {machine!r} mixes DCASE 2020 ID names with section names; "
            "keep one release per folder or pass dataset= explicitly"
        )
    dataset = "dcase2021" if "dcase2021" in implied else implied.pop()
    return [dataclasses.replace(clip, dataset=dataset) for clip in clips]


def load_dataset(root, *, dataset: str | None = None, machines=None, labels_dir=None) -> dict[tuple[str, str], ClipTable]:
    """Scan ``root`` and fill in evaluation labels and domains from the ground truth.

    Parameters are those of :func:`scan_dataset`, plus ``labels_dir`` of
    :func:`asdfeat.data.labels.apply_ground_truth`. Without ``labels_dir`` the
    ground-truth files are searched under ``root``.
    """
    tables = scan_dataset(root, dataset=dataset, machines=machines)
    return apply_ground_truth(tables, root, labels_dir=labels_dir)
