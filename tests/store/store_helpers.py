"""Builders and byte-level checks shared by the store tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from asdfeat.data.clips import Clip, ClipTable

DATASET = "dcase2022"
MACHINE = "fan"


def make_table(
    n_clips: int,
    *,
    sections=("00", "01", "02"),
    start: int = 0,
    block: int = 4,
    dataset=DATASET,
    machine=MACHINE,
) -> ClipTable:
    """Return clips number ``start`` to ``start + n_clips - 1``, sections in blocks.

    Clip ``i`` belongs to ``sections[(i // block) % len(sections)]``, so
    sections come in runs of ``block`` consecutive rows and a clip's path and
    metadata depend only on ``i``: ``make_table(12)`` starts with the rows of
    ``make_table(8)``.
    """
    clips = []
    for i in range(start, start + n_clips):
        section = sections[(i // block) % len(sections)]
        name = f"section_{section}_source_test_normal_{i:04d}.wav"
        clips.append(
            Clip(
                path=f"{machine}/test/{name}",
                file_name=name,
                dataset=dataset,
                machine=machine,
                section=section,
                domain="source",
                split="test",
                label="normal",
                attributes=f"a_{i}",
            )
        )
    return ClipTable.from_clips(clips)


def make_values(n_rows: int, dim: int, seed: int = 0) -> np.ndarray:
    """Return a (n_rows, dim) float32 matrix of distinct values."""
    return np.random.default_rng(seed).standard_normal((n_rows, dim)).astype(np.float32)


def snapshot(path: Path) -> dict[str, str]:
    """Return the SHA-256 of every file under ``path`` (or of ``path`` itself)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def write_key_in_batches(path: str, backend: str, model: str, n_batches: int) -> None:
    """Create embeddings of ``model`` and write them in batches (runs in a worker process)."""
    from asdfeat.store import EmbeddingKey, open_store

    key = EmbeddingKey(model, DATASET, MACHINE)
    with open_store(path, backend=backend) as store:
        n_clips = len(store.read_clips(DATASET, MACHINE))
        store.create_embeddings(key, 4, {"model": model})
        values = make_values(n_clips, 4, seed=len(model))
        for rows in np.array_split(np.arange(n_clips), n_batches):
            store.write_embeddings(key, rows, values[rows])


def clip_values(paths, dim: int) -> np.ndarray:
    """Return the (len(paths), dim) values that crash tests store for each clip.

    Each row depends only on the clip number in its path, so a reader can
    check any stored row without knowing when it was written.
    """
    numbers = np.array([int(path.rsplit("_", 1)[1].split(".")[0]) for path in paths], dtype=np.float32)
    return numbers[:, None] + np.arange(dim, dtype=np.float32) / dim


def append_and_extract_forever(path: str, model: str, dim: int) -> None:
    """Alternate clip appends and embedding writes until the process is killed."""
    from asdfeat.store import EmbeddingKey, open_store

    key = EmbeddingKey(model, DATASET, MACHINE)
    with open_store(path, backend="zarr") as store:
        n_clips = len(store.read_clips(DATASET, MACHINE))
        while True:
            table = store.write_clips(DATASET, MACHINE, make_table(n_clips + 8))
            n_clips = len(table)
            rows = np.flatnonzero(~store.done_mask(key))
            store.write_embeddings(key, rows, clip_values(table["path"][rows], dim))
