"""The extraction pipeline: a DCASE folder in, embeddings in a feature store out.

For each (dataset, machine type) found under the data folder, the pipeline
stores the clip table and, for models that train, fits the extractor on the
normal training clips and keeps the trained weights in the store. It then
embeds every clip that the store does not contain yet. Rows are written batch by batch
and marked complete after their values, so an interrupted run resumes where
it stopped and never duplicates, truncates or overwrites stored rows unless
``overwrite`` is set.
"""

from __future__ import annotations

import hashlib
import logging
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

import asdfeat
from asdfeat.clip_batches import SKIP_HINT, decoded_batches, embed_batch
from asdfeat.data.audio import load_audio
from asdfeat.data.clips import ClipTable
from asdfeat.data.layout import load_dataset, machine_folder_parents
from asdfeat.errors import AsdfeatError, AudioError, StoreError
from asdfeat.extractors import create_extractor
from asdfeat.extractors.base import Extractor
from asdfeat.store import EmbeddingKey, FeatureStore, open_store

logger = logging.getLogger(__name__)

WEIGHTS_ARTIFACT = "weights"

# Provenance fields that must agree between a stored matrix and a rerun for
# the stored rows to be resumed; anything else (time, versions) may differ.
_RESUME_FIELDS = (
    "dim",
    "front_end",
    "checkpoint_sha256",
    "architecture",
    "pooling",
    "sample_rate",
    "dtype",
    "hear_module",
    "module_version",
)


class ProgressReporter(Protocol):
    """Receives progress events; the CLI implements it with a rich progress bar."""

    def start(self, description: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class ExtractionSummary:
    """Counts of computed and resumed rows for one (model, dataset, machine type)."""

    key: EmbeddingKey
    n_clips: int
    n_computed: int
    n_resumed: int
    trained: bool
    skipped: list[str] = field(default_factory=list)


def run_extraction(
    data_dir,
    store_path,
    model: str,
    *,
    checkpoint=None,
    device: str = "cpu",
    batch_size: int = 16,
    overwrite: bool = False,
    machines: list[str] | None = None,
    dataset: str | None = None,
    backend: str | None = None,
    model_options: dict | None = None,
    progress: ProgressReporter | None = None,
    channel: int = 0,
    num_workers: int = 0,
    seed: int = 0,
    labels_dir=None,
    skip_bad_clips: bool = False,
) -> list[ExtractionSummary]:
    """Extract ``model`` embeddings for every clip under ``data_dir`` into a store.

    Parameters
    ----------
    data_dir : path
        A DCASE release root, ``dev_data``/``eval_data`` folder or folder of
        machine-type folders.
    store_path : path
        Feature store to create or extend.
    model : str
        Registered model name (``asdfeat models``) or ``hear:MODULE``.
    checkpoint : path, optional
        Checkpoint file for pretrained models.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available).
    batch_size : int
        Clips per forward pass and per store write.
    overwrite : bool
        Delete stored embeddings (and trained weights) of this model first.
    machines, dataset : optional
        Restrict to these machine types; override the dataset name.
    backend : str, optional
        Store backend for a new store (``"zarr"`` or ``"hdf5"``).
    model_options : dict, optional
        Keyword options for the extractor, e.g. ``{"epochs": 50}``.
    progress : ProgressReporter, optional
    channel : int
        Channel of multi-channel files to use.
    num_workers : int
        DataLoader worker processes for audio decoding.
    seed : int
        Seed for extractors that train.
    labels_dir : path, optional
        Folder of DCASE ground-truth files for evaluation clips; by default
        they are searched under ``data_dir``.
    skip_bad_clips : bool
        Log and skip clips that cannot be decoded or embedded instead of
        stopping; they stay incomplete in the store and are listed in the
        summary.

    Returns
    -------
    list of ExtractionSummary, one per (dataset, machine type).
    """
    if batch_size < 1:
        raise AsdfeatError(f"batch size must be at least 1, got {batch_size}")

    data_dir = Path(data_dir)
    tables = load_dataset(data_dir, dataset=dataset, machines=machines, labels_dir=labels_dir)
    extractor = create_extractor(
        model, device=_resolve_device(device), checkpoint=checkpoint, **(model_options or {})
    )

    clip_roots = machine_folder_parents(data_dir)
    summaries = []
    with open_store(store_path, "a", backend=backend) as store:
        for (dataset_name, machine), table in sorted(tables.items()):
            key = EmbeddingKey(model, dataset_name, machine)
            stored_table = store.write_clips(dataset_name, machine, table)
            summaries.append(
                _extract_table(
                    store, key, stored_table, extractor, _clip_roots(clip_roots, stored_table),
                    overwrite=overwrite, batch_size=batch_size, progress=progress,
                    channel=channel, num_workers=num_workers, seed=seed,
                    skip_bad_clips=skip_bad_clips,
                )
            )
    return summaries


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AsdfeatError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return device


def _extract_table(
    store: FeatureStore,
    key: EmbeddingKey,
    table: ClipTable,
    extractor: Extractor,
    roots: list[Path | None],
    *,
    overwrite: bool,
    batch_size: int,
    progress: ProgressReporter | None,
    channel: int,
    num_workers: int,
    seed: int,
    skip_bad_clips: bool,
) -> ExtractionSummary:
    if overwrite and store.has_embeddings(key):
        store.delete_embeddings(key)

    trained = False
    if extractor.requires_training:
        trained = _train_or_restore(store, key, table, extractor, roots, channel, seed, skip_bad_clips)

    stored_weights = store.read_artifact(key, WEIGHTS_ARTIFACT) if store.has_embeddings(key) else None
    provenance = _provenance(extractor, stored_weights)
    _check_resumable(store, key, provenance)
    if not store.has_embeddings(key):
        store.create_embeddings(key, extractor.dim, provenance)
    if extractor.requires_training and store.read_artifact(key, WEIGHTS_ARTIFACT) is None:
        store.write_artifact(key, WEIGHTS_ARTIFACT, extractor.state_bytes())

    on_disk = np.array([root is not None for root in roots], dtype=bool)
    missing = np.flatnonzero(~store.done_mask(key) & on_disk)
    n_resumed = int((store.done_mask(key) & on_disk).sum())
    n_elsewhere = int((~store.done_mask(key) & ~on_disk).sum())
    if n_elsewhere:
        logger.warning(
            "%s: %d clips of the stored clip table are neither stored nor under this data folder; "
            "run extract on the folder that holds them", _label(key), n_elsewhere,
        )
    if n_resumed:
        logger.info("%s: %d of %d clips already stored, computing %d", _label(key), n_resumed, len(table), len(missing))

    if progress is not None:
        progress.start(_label(key), len(missing))
    skipped: list[Path] = []
    paths = [roots[row] / table["path"][row] for row in missing]
    batches = decoded_batches(
        missing, paths, batch_size=batch_size, channel=channel,
        num_workers=num_workers, skip_bad_clips=skip_bad_clips,
    )
    try:
        for rows, waveforms, batch_paths, undecodable in batches:
            rows, values, failed = embed_batch(extractor, rows, waveforms, batch_paths, skip_bad_clips=skip_bad_clips)
            if len(rows):
                store.write_embeddings(key, rows, values)
            skipped += undecodable + failed
            if progress is not None:
                progress.advance(len(rows) + len(undecodable) + len(failed))
    finally:
        if progress is not None:
            progress.finish()

    n_computed = len(missing) - len(skipped)
    return ExtractionSummary(key, len(table), n_computed, n_resumed, trained, [str(p) for p in skipped])


def _train_or_restore(store, key, table, extractor, roots, channel, seed, skip_bad_clips) -> bool:
    """Load stored trained weights, or train on the normal training clips."""
    stored = store.read_artifact(key, WEIGHTS_ARTIFACT) if store.has_embeddings(key) else None
    if stored is not None:
        extractor.load_state_bytes(stored)
        logger.info("%s: reusing the trained weights stored with the embeddings", _label(key))
        return False

    if store.has_embeddings(key) and store.done_mask(key).any():
        raise StoreError(
            f"{_label(key)} has stored rows but no trained weights to resume from; "
            "pass --overwrite to retrain and recompute every clip"
        )

    on_disk = np.array([root is not None for root in roots], dtype=bool)
    rows = np.flatnonzero((table["split"] == "train") & (table["label"] == "normal") & on_disk)
    if len(rows) == 0:
        raise AsdfeatError(
            f"{_label(key)}: no normal training clips found, but model {key.model!r} trains on them"
        )
    logger.info("%s: training on %d normal training clips", _label(key), len(rows))
    waveforms = []
    for row in rows:
        path = roots[row] / table["path"][row]
        try:
            waveform = load_audio(path, channel=channel)
            if len(waveform) < extractor.min_samples:
                raise AudioError(
                    f"{path} has {len(waveform)} samples; {key.model} needs at least {extractor.min_samples} "
                    f"({extractor.min_samples / extractor.sample_rate:.3f} s)"
                )
            waveforms.append(waveform)
        except AudioError as error:
            if not skip_bad_clips:
                raise AudioError(f"{error}; {SKIP_HINT}") from error
            logger.warning("skipping training clip %s: %s", table["path"][row], error)
    extractor.fit(waveforms, seed=seed)
    return True


def _provenance(extractor: Extractor, weights: bytes | None) -> dict:
    record = dict(extractor.provenance())
    if extractor.requires_training:
        state = weights if weights is not None else extractor.state_bytes()
        record["checkpoint_sha256"] = hashlib.sha256(state).hexdigest()
        record["checkpoint"] = f"trained weights stored as artifact {WEIGHTS_ARTIFACT!r}"
    record.setdefault("dtype", "float32")
    record.update(
        {
            "device": str(extractor.device),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": {
                "asdfeat": asdfeat.__version__,
                "torch": torch.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
        }
    )
    return record


def _check_resumable(store: FeatureStore, key: EmbeddingKey, provenance: dict) -> None:
    """Raise unless the stored rows of ``key`` were made the way this run makes them.

    A stored matrix with no complete row contains nothing to lose, so it is
    replaced instead (this happens after a crash between creating the matrix
    and storing the trained weights).
    """
    if not store.has_embeddings(key):
        return
    stored = store.read_provenance(key)
    changed = [name for name in _RESUME_FIELDS if _jsonable(stored.get(name)) != _jsonable(provenance.get(name))]
    if changed and not store.done_mask(key).any():
        logger.info("%s: replacing an empty embedding matrix made with other settings", _label(key))
        store.delete_embeddings(key)
    elif changed:
        differences = "; ".join(_describe_change(name, stored.get(name), provenance.get(name)) for name in changed)
        raise StoreError(
            f"{_label(key)} is stored with other settings than this run ({differences}); "
            "pass --overwrite to replace the stored embeddings, or extract into another store"
        )


def _describe_change(name: str, stored, current) -> str:
    """Name what differs, down to the changed entries of a dict-valued field."""
    stored, current = _jsonable(stored), _jsonable(current)
    if isinstance(stored, dict) and isinstance(current, dict):
        keys = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
        return ", ".join(f"{name}.{k}: stored {stored.get(k)!r}, now {current.get(k)!r}" for k in keys)
    return f"{name}: stored {stored!r}, now {current!r}"


def _jsonable(value):
    # Provenance goes through JSON in the store, so tuples come back as lists.
    import json

    return json.loads(json.dumps(value))


def _clip_roots(candidates: list[Path], table: ClipTable) -> list[Path | None]:
    """Find, for each row of ``table``, the folder its path is relative to.

    Rows stored by an earlier run on another folder get None.
    """
    roots = []
    for path in table["path"].tolist():
        roots.append(next((c for c in candidates if (c / path).is_file()), None))
    return roots


def _label(key: EmbeddingKey) -> str:
    return f"{key.model} / {key.dataset} / {key.machine}"
