"""Import embeddings computed by other tools into a feature store.

The rows of the embedding file are matched to the store's clip tables by clip
path, never by position: the clip list names the clip of every row, and each
row is written to the store row of that clip. Where the store has no clip
table for a machine type yet, one is built from the clip names.

Every check runs before the first write, on a store opened read-only, so a
rejected import leaves the store byte for byte as it was. A failure after the
checks (for example a full disk) can still leave a partial import behind; its
rows then stay marked incomplete.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from asdfeat.data.clips import ClipTable
from asdfeat.errors import AsdfeatError
from asdfeat.io.readers import (
    ClipListEntry,
    EmbeddingFileError,
    read_clip_list,
    read_embedding_file,
    split_source,
)
from asdfeat.store.base import EmbeddingKey

logger = logging.getLogger(__name__)

# Offending clips named in one error message; the message gives the total count.
MAX_LISTED_CLIPS = 20


@dataclass
class ImportPlan:
    """One (dataset, machine type) worth of validated rows, ready to write.

    Attributes
    ----------
    key : EmbeddingKey
    table : ClipTable
        The clip table as it will be stored.
    new_table : bool
        Whether the table is built from clip names and written by this import.
    rows : ndarray of shape (n,), int64
        Row of each imported clip in ``table``.
    values : ndarray of shape (n, dim), float32
    """

    key: EmbeddingKey
    table: ClipTable
    new_table: bool
    rows: np.ndarray
    values: np.ndarray


@dataclass
class ImportResult:
    """Summary of one import: the model, its dimension, the clip count and what was written."""

    model: str
    dim: int
    n_clips: int
    keys: list[EmbeddingKey] = field(default_factory=list)
    new_tables: list[tuple[str, str]] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)


def import_embeddings(
    store_path: str | Path,
    model: str,
    embeddings: str | Path,
    clips: str | Path,
    *,
    dataset: str | None = None,
    key: str | None = None,
    backend: str | None = None,
    overwrite: bool = False,
) -> ImportResult:
    """Validate an embedding file against its clip list and the store, then store it.

    Parameters
    ----------
    store_path : str or path-like
        Feature store; created when it does not exist.
    model : str
        Model name to store the embeddings under.
    embeddings : str or path-like
        Embedding file of shape (n_clips, dim); see :mod:`asdfeat.io.readers`.
    clips : str or path-like
        Clip list naming the clip of each embedding row, in row order.
    dataset : str, optional
        Dataset name; by default taken from the store's clip tables that hold
        these clips, or else from the clip names.
    key : str, optional
        Array, dataset or column inside the embedding file.
    backend : str, optional
        Store backend for a new store.
    overwrite : bool
        Replace embeddings already stored under ``model`` for these machine
        types; without it they are an error.

    Returns
    -------
    ImportResult

    Raises
    ------
    EmbeddingFileError
        On missing, extra or duplicate clips, a row-count or dimension
        mismatch, non-finite values, or existing embeddings without
        ``overwrite``. The message lists the offending clips. Nothing is
        written then.
    """
    from asdfeat.store import open_store

    model = _check_model_name(model)
    matrix = read_embedding_file(embeddings, key=key)
    entries = read_clip_list(clips)
    if len(entries) != len(matrix):
        raise EmbeddingFileError(
            f"the clip list {str(clips)!r} has {len(entries)} rows but the embeddings "
            f"{str(embeddings)!r} have {len(matrix)}; they must list the same clips in the same order"
        )

    store_path = Path(store_path)
    if store_path.exists():
        with open_store(store_path, mode="r", backend=backend) as store:
            plans = _plan_import(store, model, matrix, entries, dataset, overwrite)
    else:
        plans = _plan_import(None, model, matrix, entries, dataset, overwrite)

    provenance = _provenance(model, matrix.shape[1], embeddings, key, clips)
    with open_store(store_path, mode="a", backend=backend) as store:
        _write_plans(store, plans, provenance, overwrite)

    logger.info(
        "imported %d clips of dimension %d as %r into %s", len(matrix), matrix.shape[1], model, store_path
    )
    return ImportResult(
        model=model,
        dim=int(matrix.shape[1]),
        n_clips=len(matrix),
        keys=[plan.key for plan in plans],
        new_tables=[(plan.key.dataset, plan.key.machine) for plan in plans if plan.new_table],
        provenance=provenance,
    )


# -- planning: every check, no writes -------------------------------------------


def _plan_import(store, model, matrix, entries, dataset, overwrite) -> list[ImportPlan]:
    tables = _StoreTables(store)
    listed = _resolve_paths(entries, tables, dataset)
    paths = [_store_path(path) for path in listed]
    _reject_duplicates(paths)

    # Leading folders such as dcase2023/dev_data/ name the dataset, so the
    # parser gets the path as listed.
    listed_by_path = dict(zip(paths, listed))

    # Values beyond the float32 range become infinite here and are rejected.
    with np.errstate(over="ignore"):
        values = matrix.astype(np.float32)
    _reject_non_finite(values, paths)

    plans = []
    for machine, rows in _rows_by_machine(paths).items():
        group_paths = [paths[row] for row in rows]
        group_listed = [listed_by_path[path] for path in group_paths]
        group_dataset = _resolve_dataset(machine, group_paths, group_listed, tables, dataset)
        table, new_table = _table_for(tables, group_dataset, machine, group_paths, group_listed)
        plans.append(
            ImportPlan(
                key=EmbeddingKey(model, group_dataset, machine),
                table=table,
                new_table=new_table,
                rows=table.locate(group_paths),
                values=values[rows],
            )
        )

    _check_existing_embeddings(store, plans, matrix.shape[1], overwrite)
    return plans


class _StoreTables:
    """Read-only view of the store's clip tables, loaded on first use."""

    def __init__(self, store):
        self.store = store
        self.pairs = [] if store is None else store.list_clip_tables()
        self._cache: dict[tuple[str, str], ClipTable] = {}

    def get(self, dataset: str, machine: str) -> ClipTable | None:
        if (dataset, machine) not in self.pairs:
            return None
        if (dataset, machine) not in self._cache:
            self._cache[(dataset, machine)] = self.store.read_clips(dataset, machine)
        return self._cache[(dataset, machine)]

    def for_machine(self, machine: str, dataset: str | None) -> dict[str, ClipTable]:
        return {
            pair_dataset: self.get(pair_dataset, pair_machine)
            for pair_dataset, pair_machine in self.pairs
            if pair_machine == machine and dataset in (None, pair_dataset)
        }


def _resolve_paths(entries: list[ClipListEntry], tables: _StoreTables, dataset) -> list[str]:
    paths = []
    for entry in entries:
        if entry.path is not None:
            paths.append(entry.path)
        elif entry.split is not None:
            paths.append(f"{entry.machine}/{entry.split}/{entry.file_name}")
        else:
            paths.append(_path_from_file_name(entry.machine, entry.file_name, tables, dataset))
    return paths


def _path_from_file_name(machine: str, file_name: str, tables: _StoreTables, dataset) -> str:
    matches = set()
    for table in tables.for_machine(machine, dataset).values():
        rows = table["file_name"] == file_name
        matches.update(table["path"][rows].tolist())
    if len(matches) == 1:
        return matches.pop()
    if len(matches) > 1:
        raise EmbeddingFileError(
            f"clip list entry {machine}/{file_name} matches several stored clips "
            f"{sorted(matches)}; add a 'split' or 'path' column"
        )

    # Not in the store: names of DCASE 2021 and later carry the split as a token.
    tokens = Path(file_name).stem.split("_")
    splits = [split for split in ("train", "test") if split in tokens]
    if len(splits) != 1:
        raise EmbeddingFileError(
            f"cannot tell whether {machine}/{file_name} is a train or a test clip; "
            "add a 'split' or 'path' column to the clip list"
        )
    return f"{machine}/{splits[0]}/{file_name}"


def _store_path(listed: str) -> str:
    """Return the store's ``<machine>/<folder>/<file name>`` form of a listed path."""
    parts = [part for part in listed.replace("\\", "/").split("/") if part not in ("", ".")]
    if len(parts) < 3:
        raise EmbeddingFileError(
            f"clip path {listed!r} has fewer than three components; paths are relative "
            "to the dataset root, e.g. fan/train/<file name>"
        )
    return "/".join(parts[-3:])


def _reject_duplicates(paths: list[str]) -> None:
    counts = Counter(paths)
    duplicates = sorted(path for path, count in counts.items() if count > 1)
    if duplicates:
        raise EmbeddingFileError(
            f"the clip list names {len(duplicates)} clip(s) more than once: "
            f"{_list_clips(duplicates)}; each clip needs exactly one embedding row"
        )


def _reject_non_finite(values: np.ndarray, paths: list[str]) -> None:
    bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad_rows.size:
        raise EmbeddingFileError(
            f"{bad_rows.size} embedding row(s) hold NaN or infinite values (after the cast "
            f"to float32): {_list_clips([paths[row] for row in bad_rows])}"
        )


def _rows_by_machine(paths: list[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for row, path in enumerate(paths):
        groups.setdefault(path.split("/", 1)[0], []).append(row)
    return groups


def _resolve_dataset(machine: str, paths: list[str], listed: list[str], tables: _StoreTables, dataset) -> str:
    if dataset is not None:
        return dataset

    wanted = set(paths)
    holders = sorted(
        name for name, table in tables.for_machine(machine, None).items()
        if wanted.intersection(table["path"].tolist())
    )
    if len(holders) == 1:
        return holders[0]
    if len(holders) > 1:
        raise EmbeddingFileError(
            f"the {machine} clips are in the clip tables of several datasets {holders}; "
            "choose one with --dataset"
        )

    # DCASE 2021 training names equal 2022 ones, so one name that only 2021
    # uses makes the whole machine type dcase2021, as scan_dataset decides.
    implied = {_parse(path, None).dataset for path in listed}
    if implied == {"dcase2021", "dcase2022"}:
        return "dcase2021"
    if len(implied) != 1:
        raise EmbeddingFileError(
            f"the {machine} clip names look like several datasets {sorted(implied)}; "
            "import them separately or choose one with --dataset"
        )
    return implied.pop()


def _table_for(tables: _StoreTables, dataset: str, machine: str, paths: list[str], listed: list[str]):
    table = tables.get(dataset, machine)
    if table is None:
        # Labels come from the names only, so evaluation clips stay "unknown" here
        # until an extract with ground truth fills them in (the store allows that).
        clips = [_parse(path, dataset) for path in listed]
        clips.sort(key=lambda clip: clip.path)
        return ClipTable.from_clips(clips), True

    stored = set(table["path"].tolist())
    listed = set(paths)
    extra = sorted(listed - stored)
    missing = sorted(stored - listed)
    problems = []
    if extra:
        problems.append(f"{len(extra)} listed clip(s) are not in it: {_list_clips(extra)}")
    if missing:
        problems.append(f"{len(missing)} of its clip(s) are not listed: {_list_clips(missing)}")
    if problems:
        raise EmbeddingFileError(
            f"the clip list does not match the store's clip table of ({dataset}, {machine}), "
            f"which has {len(table)} clips: " + "; ".join(problems)
            + ". Import exactly one embedding per stored clip"
        )
    return table, False


def _parse(path: str, dataset: str | None):
    from asdfeat.data.names import parse_clip_path

    try:
        return parse_clip_path(path, dataset=dataset)
    except AsdfeatError as error:
        raise EmbeddingFileError(
            f"cannot build a clip table from the clip name {path!r}: {error}"
        ) from error


def _check_existing_embeddings(store, plans: list[ImportPlan], dim: int, overwrite: bool) -> None:
    if store is None:
        return

    stored_keys = set(store.list_embeddings())
    importing = {plan.key for plan in plans}
    existing = sorted(importing & stored_keys)
    if existing and not overwrite:
        names = ", ".join(f"({k.dataset}, {k.machine})" for k in existing)
        raise EmbeddingFileError(
            f"the store already has embeddings of model {plans[0].key.model!r} for {names}; "
            "pass --overwrite to replace them or choose another --model name"
        )

    for other in sorted(stored_keys - importing):
        if other.model != plans[0].key.model:
            continue
        stored_dim = store.read_provenance(other).get("dim")
        if stored_dim is not None and int(stored_dim) != dim:
            raise EmbeddingFileError(
                f"model {other.model!r} is stored with dimension {stored_dim} for "
                f"({other.dataset}, {other.machine}), but the file has dimension {dim}; "
                "one model name must have one dimension, so choose another --model name"
            )


# -- writing ---------------------------------------------------------------------


def _write_plans(store, plans: list[ImportPlan], provenance: dict, overwrite: bool) -> None:
    for plan in plans:
        if plan.new_table:
            store.write_clips(plan.key.dataset, plan.key.machine, plan.table)
        store.create_embeddings(plan.key, provenance["dim"], provenance, overwrite=overwrite)
        store.write_embeddings(plan.key, plan.rows, plan.values)


def _provenance(model: str, dim: int, embeddings, key, clips) -> dict:
    source, source_key = split_source(embeddings, key)
    return {
        "model": model,
        "dim": int(dim),
        "external": True,
        "source": "external",
        "source_file": str(source.resolve()),
        "source_key": source_key,
        "source_sha256": file_sha256(source),
        "clips_file": str(Path(clips).resolve()),
        "clips_sha256": file_sha256(Path(clips)),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 digest of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_model_name(model: str) -> str:
    if not isinstance(model, str) or not model.strip():
        raise EmbeddingFileError("the model name is empty; pass --model NAME")
    return model.strip()


def _list_clips(paths: list[str]) -> str:
    shown = ", ".join(paths[:MAX_LISTED_CLIPS])
    hidden = len(paths) - MAX_LISTED_CLIPS
    return shown + (f" and {hidden} more" if hidden > 0 else "")
