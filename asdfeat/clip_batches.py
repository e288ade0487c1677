"""Decoding and embedding clips batch by batch, with errors that name the file.

Extractors report a bad clip by its position in the batch. These helpers turn
that position into the clip's path. They can also skip bad clips, so that one
corrupt file does not stop a long extraction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset

from asdfeat.data.audio import load_audio
from asdfeat.errors import AsdfeatError, AudioError
from asdfeat.extractors.base import Extractor

logger = logging.getLogger(__name__)

SKIP_HINT = "fix or remove the file and rerun, or pass --skip-bad-clips to extract the other clips"


class _ClipDataset(Dataset):
    """Decodes clips; a decoding error travels back as a value, not a crash."""

    def __init__(self, paths: list[Path], channel: int):
        self.paths = paths
        self.channel = channel

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            return load_audio(self.paths[index], channel=self.channel)
        except AsdfeatError as error:
            return error


def decoded_batches(
    rows: np.ndarray,
    paths: list[Path],
    *,
    batch_size: int,
    channel: int,
    num_workers: int,
    skip_bad_clips: bool,
) -> Iterator[tuple[np.ndarray, list[np.ndarray], list[Path], list[Path]]]:
    """Yield (rows, waveforms, paths, skipped paths) per batch, in row order.

    Raises
    ------
    AudioError
        For the first clip that cannot be decoded, unless ``skip_bad_clips``.
    """
    loader = DataLoader(
        _ClipDataset(paths, channel),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=list,
        shuffle=False,
    )
    for start, items in zip(range(0, len(rows), batch_size), loader):
        batch_rows = rows[start : start + batch_size]
        batch_paths = paths[start : start + batch_size]
        keep, skipped = [], []
        for index, item in enumerate(items):
            if not isinstance(item, AsdfeatError):
                keep.append(index)
            elif skip_bad_clips:
                logger.warning("skipping %s: %s", batch_paths[index], item)
                skipped.append(batch_paths[index])
            else:
                raise AudioError(f"{item}; {SKIP_HINT}") from item
        yield batch_rows[keep], [items[i] for i in keep], [batch_paths[i] for i in keep], skipped


def embed_batch(
    extractor: Extractor,
    rows: np.ndarray,
    waveforms: list[np.ndarray],
    paths: list[Path],
    *,
    skip_bad_clips: bool,
) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Embed a batch; when it fails, embed clip by clip to find the bad one.

    Returns
    -------
    rows : ndarray of shape (k,)
        The rows embedded (all of them unless clips were skipped).
    values : ndarray of shape (k, dim)
    skipped : list of Path
    """
    try:
        return rows, extractor.embed(waveforms), []
    except (AsdfeatError, RuntimeError) as batch_error:
        if len(waveforms) == 1 and not skip_bad_clips:
            raise _clip_error(paths[0], batch_error) from batch_error
        logger.debug("batch failed (%s); embedding its clips one by one", batch_error)

    keep, values, skipped = [], [], []
    for index, (waveform, path) in enumerate(zip(waveforms, paths)):
        try:
            values.append(extractor.embed([waveform])[0])
            keep.append(index)
        except (AsdfeatError, RuntimeError) as error:
            if not skip_bad_clips:
                raise _clip_error(path, error) from error
            logger.warning("skipping %s: %s", path, error)
            skipped.append(path)

    if not values:
        return rows[:0], np.zeros((0, extractor.dim), dtype=np.float32), skipped
    return rows[keep], np.stack(values), skipped


def _clip_error(path: Path, error: Exception) -> AsdfeatError:
    return AudioError(f"cannot embed {path}: {error}; {SKIP_HINT}")
