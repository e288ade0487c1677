"""Clip paths, clip tables and file hashes shared by the import, export and listing tests."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path


from asdfeat.data.clips import ClipTable
from asdfeat.data.names import parse_clip_path

DATASET = "dcase2022"
MACHINES = ("fan", "valve")


def clip_paths(machine: str, n_train: int = 12, n_test_per_kind: int = 2) -> list[str]:
    """Return DCASE 2022 clip paths of one machine type: 2 sections, train and test."""
    paths = []
    for section in ("00", "01"):
        for i in range(n_train):
            paths.append(f"{machine}/train/section_{section}_source_train_normal_{i:04d}_a_1.wav")
        for domain in ("source", "target"):
            for label in ("normal", "anomaly"):
                for i in range(n_test_per_kind):
                    paths.append(f"{machine}/test/section_{section}_{domain}_test_{label}_{i:04d}_a_1.wav")
    return paths


def clip_table(machine: str) -> ClipTable:
    return ClipTable.from_clips(parse_clip_path(path, dataset=DATASET) for path in clip_paths(machine))


def hash_tree(path: Path) -> dict[str, str]:
    """Map every file under ``path`` (or ``path`` itself) to the SHA-256 of its bytes."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(file.relative_to(path.parent)): hashlib.sha256(file.read_bytes()).hexdigest() for file in files}


def write_clip_csv(path: Path, paths: list[str]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path"])
        writer.writerows([p] for p in paths)
    return path
