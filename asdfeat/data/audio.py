"""Decode audio clips into mono float32 waveforms at a fixed sample rate."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from asdfeat.errors import AudioError

logger = logging.getLogger(__name__)


def load_audio(path, *, sample_rate: int = 16000, channel: int = 0) -> np.ndarray:
    """Decode one audio file into a mono waveform.

    Parameters
    ----------
    path : str or Path
        Audio file in any format libsndfile reads (WAV, FLAC, ...).
    sample_rate : int, default 16000
        Sample rate of the returned waveform in Hz. Files at another rate are
        resampled with :func:`scipy.signal.resample_poly` (polyphase filter
        with a Kaiser window) and an INFO log line.
    channel : int, default 0
        Channel to keep from a multi-channel file. DCASE 2026 clips are stereo
        with the near microphone on channel 0.

    Returns
    -------
    numpy.ndarray of float32, shape (n_samples,)
        Samples in [-1, 1]. Lengths differ between clips. Values that a float
        file or the resampling filter puts outside [-1, 1] are clipped.

    Raises
    ------
    AudioError
        If the file is missing, empty, corrupt or not an audio format, contains no
        samples, has no channel ``channel``, contains NaN or infinite samples,
        or is digitally silent (all samples zero).
    """
    path = Path(path)
    _validate_options(sample_rate, channel)

    samples, file_rate = _decode(path)
    samples = _select_channel(samples, channel, path)
    _check_signal(samples, path)

    if file_rate != sample_rate:
        samples = _resample(samples, file_rate, sample_rate, path)

    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False)


def _validate_options(sample_rate, channel) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"invalid sample_rate {sample_rate!r}; pass a positive integer in Hz, e.g. 16000")
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or channel < 0:
        raise AudioError(f"invalid channel {channel!r}; pass a channel index >= 0")


def _decode(path: Path) -> tuple[np.ndarray, int]:
    if not path.is_file():
        raise AudioError(f"audio file {str(path)!r} not found; check the dataset root and the clip table")
    if path.stat().st_size == 0:
        raise AudioError(f"audio file {str(path)!r} is empty (0 bytes); re-download or re-copy the clip")

    try:
        samples, file_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, EOFError) as error:
        raise AudioError(
            f"cannot decode audio file {str(path)!r} ({error}); the file is corrupt or not "
            "an audio format libsndfile reads. Re-download it or convert it to 16-bit PCM WAV"
        ) from error

    if samples.shape[0] == 0:
        raise AudioError(f"audio file {str(path)!r} contains no samples (zero-length audio); re-export the clip")
    return samples, int(file_rate)


def _select_channel(samples: np.ndarray, channel: int, path: Path) -> np.ndarray:
    n_channels = samples.shape[1]
    if channel >= n_channels:
        raise AudioError(
            f"audio file {str(path)!r} has {n_channels} channel(s), so channel {channel} does "
            f"not exist; pass channel between 0 and {n_channels - 1}"
        )
    return np.ascontiguousarray(samples[:, channel])


def _check_signal(samples: np.ndarray, path: Path) -> None:
    if not np.all(np.isfinite(samples)):
        count = int(np.count_nonzero(~np.isfinite(samples)))
        raise AudioError(
            f"audio file {str(path)!r} contains {count} NaN or infinite sample(s); "
            "re-export it from the original recording"
        )

    if not np.any(samples):
        raise AudioError(
            f"audio file {str(path)!r} is digitally silent (all {samples.size} samples are zero); "
            "remove it from the dataset or replace it with the original recording"
        )

    peak = float(np.max(np.abs(samples)))
    if peak > 1.0:
        logger.warning("audio file %s has peak %.3f outside [-1, 1]; samples are clipped", path, peak)


def _resample(samples: np.ndarray, file_rate: int, sample_rate: int, path: Path) -> np.ndarray:
    divisor = math.gcd(file_rate, sample_rate)
    up, down = sample_rate // divisor, file_rate // divisor
    logger.info("resampling %s from %d Hz to %d Hz", path, file_rate, sample_rate)
    return resample_poly(samples, up, down).astype(np.float32)
