"""Waveform checks, padding and autocast dtypes shared by the BEATs, EAT and CED extractors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from asdfeat.errors import AudioError, ExtractorError

# All three encoders take 16 kHz input.
SAMPLE_RATE = 16000

AUTOCAST_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def check_dtype(dtype: str, device: torch.device) -> None:
    """Check an encoder autocast dtype against the device.

    Parameters
    ----------
    dtype : str
        A key of :data:`AUTOCAST_DTYPES`.
    device : torch.device
        Device of the forward pass.

    Raises
    ------
    ExtractorError
        If ``dtype`` is unknown, or is not ``"float32"`` on a device other than CUDA.
    """
    if dtype not in AUTOCAST_DTYPES:
        raise ExtractorError(f"invalid dtype {dtype!r}; choose one of {sorted(AUTOCAST_DTYPES)}")
    if dtype != "float32" and device.type != "cuda":
        raise ExtractorError(f"dtype {dtype!r} needs a CUDA device; use dtype='float32' on {device}")


def autocast(device: torch.device, dtype: str) -> torch.autocast:
    """Return the autocast context for the encoder, disabled for ``"float32"``.

    Parameters
    ----------
    device : torch.device
        Device of the forward pass.
    dtype : str
        A key of :data:`AUTOCAST_DTYPES`, already accepted by :func:`check_dtype`.
    """
    # NOTE: bfloat16 and float16 autocast have not been run on a CUDA device or
    # checked against the golden arrays. Only float32 is tested.
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[dtype], enabled=dtype != "float32")


def check_waveform(index: int, waveform: np.ndarray, min_samples: int, *, model: str, reason: str) -> np.ndarray:
    """Convert one clip to float32 and check its shape, length and values.

    Parameters
    ----------
    index : int
        Position of the clip in the batch, for the error message.
    waveform : array_like of shape (n_samples,)
        Mono waveform at 16 kHz.
    min_samples : int
        Shortest accepted length in samples.
    model : str
        Model name for the error message, e.g. ``"EAT"``.
    reason : str
        What ``min_samples`` samples yield, for the error message, e.g. ``"one patch"``.

    Returns
    -------
    ndarray of shape (n_samples,), float32

    Raises
    ------
    AudioError
        If the waveform is not 1-D, is shorter than ``min_samples``, or
        contains NaN or infinite samples.
    """
    clip = np.asarray(waveform, dtype=np.float32)
    if clip.ndim != 1:
        raise AudioError(f"clip {index}: expected a mono waveform of shape (n_samples,), got {clip.shape}")
    if len(clip) < min_samples:
        raise AudioError(
            f"clip {index} has {len(clip)} samples; {model} needs at least {min_samples} "
            f"({min_samples / SAMPLE_RATE:.3f} s at 16 kHz) for {reason}"
        )
    if not np.isfinite(clip).all():
        raise AudioError(f"clip {index} contains NaN or infinite samples; decode it with asdfeat.data.load_audio")
    return clip


def pad_waveforms(
    waveforms: Sequence[np.ndarray], min_samples: int, *, model: str, reason: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check clips and stack them into a zero-padded batch.

    Parameters
    ----------
    waveforms : sequence of ndarray of shape (n_samples_i,)
        Mono waveforms at 16 kHz, at least one clip.
    min_samples, model, reason
        As for :func:`check_waveform`.

    Returns
    -------
    batch : Tensor of shape (len(waveforms), max_samples), float32
        Clips zero-padded at the end.
    lengths : Tensor of shape (len(waveforms),), int64
        Valid samples per clip.

    Raises
    ------
    AudioError
        If a waveform is not 1-D, is shorter than ``min_samples``, or contains
        NaN or infinite samples.
    """
    clips = []
    for index, waveform in enumerate(waveforms):
        clips.append(check_waveform(index, waveform, min_samples, model=model, reason=reason))

    lengths = torch.tensor([len(clip) for clip in clips], dtype=torch.long)
    batch = torch.zeros(len(clips), int(lengths.max()), dtype=torch.float32)
    for row, clip in enumerate(clips):
        batch[row, : len(clip)] = torch.from_numpy(clip)
    return batch, lengths
