"""``logmel-stats``: per-bin mean and standard deviation of the log-mel.

A weight-free baseline: the embedding is the mean over frames of each of the
128 log-mel bins followed by their standard deviation (256 values).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from asdfeat.errors import ExtractorError
from asdfeat.extractors.base import Extractor
from asdfeat.extractors.frontend import N_FFT, N_MELS, LogMel, front_end_parameters, log_mel_batches
from asdfeat.extractors.registry import ModelInfo, register_extractor


class LogMelStats(Extractor):
    name = "logmel-stats"
    min_samples = N_FFT // 2 + 1

    def __init__(self, device="cpu"):
        super().__init__(device)
        self.front_end = LogMel().to(self.device)

    @property
    def dim(self) -> int:
        return 2 * N_MELS

    @torch.inference_mode()
    def embed(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        spectrograms = log_mel_batches(self.front_end, waveforms, self.device)
        rows = [
            torch.cat([spectrogram.mean(0), spectrogram.std(0, correction=0)])
            for spectrogram in spectrograms
        ]
        return torch.stack(rows).float().cpu().numpy()

    def provenance(self) -> dict:
        return {**super().provenance(), "front_end": front_end_parameters(), "pooling": "mean+std"}


def _create(device="cpu", checkpoint=None, **options):
    if checkpoint is not None:
        raise ExtractorError("logmel-stats has no weights; drop --checkpoint")
    if options:
        raise ExtractorError(f"logmel-stats takes no options, got {sorted(options)}")
    return LogMelStats(device=device)


register_extractor(
    ModelInfo(
        name="logmel-stats",
        family="baseline",
        dim=2 * N_MELS,
        description="per-bin mean and std of the 128-bin log-mel (no weights)",
    ),
    _create,
)
