"""The default log-mel front end shared by the models trained from scratch.

16 kHz audio, 1024-point FFT, hop 512, 128 mel bins, power spectrogram in dB
as ``10 log10(max(power, 1e-10))``. Pretrained encoders use their own front
ends instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchaudio

from asdfeat.errors import AudioError

SAMPLE_RATE = 16000
N_FFT = 1024
HOP_LENGTH = 512
N_MELS = 128
POWER_FLOOR = 1e-10


class LogMel(torch.nn.Module):
    """Log-mel spectrogram in dB.

    Input (batch, n_samples) float32 waveforms; output (batch, n_frames,
    n_mels) with ``n_frames = 1 + n_samples // hop_length`` (centred frames).
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        n_fft: int = N_FFT,
        hop_length: int = HOP_LENGTH,
        n_mels: int = N_MELS,
    ):
        super().__init__()
        self.melspec = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=2.0
        )

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        power = self.melspec(waveforms)
        return 10.0 * torch.log10(power.clamp_min(POWER_FLOOR)).transpose(-1, -2)


def front_end_parameters() -> dict:
    """Describe the front end for provenance records."""
    return {
        "type": "log-mel",
        "sample_rate": SAMPLE_RATE,
        "n_fft": N_FFT,
        "hop_length": HOP_LENGTH,
        "n_mels": N_MELS,
        "power_floor": POWER_FLOOR,
        "implementation": f"torchaudio {torchaudio.__version__} MelSpectrogram, 10*log10",
    }


def log_mel_batches(
    front_end: LogMel, waveforms: Sequence[np.ndarray], device: torch.device
) -> list[torch.Tensor]:
    """Compute the log-mel of each clip, batching clips of equal length.

    Returns
    -------
    list of Tensor of shape (n_frames_i, n_mels)
        One spectrogram per clip, in input order, on ``device``.
    """
    by_length: dict[int, list[int]] = {}
    for index, waveform in enumerate(waveforms):
        # Centred frames reflect-pad n_fft // 2 samples, which needs more samples than that.
        if len(waveform) <= N_FFT // 2:
            raise AudioError(
                f"clip {index} has {len(waveform)} samples; the log-mel front end needs at least "
                f"{N_FFT // 2 + 1} ({(N_FFT // 2 + 1) / SAMPLE_RATE:.3f} s at 16 kHz)"
            )
        by_length.setdefault(len(waveform), []).append(index)

    spectrograms: list[torch.Tensor | None] = [None] * len(waveforms)
    for indices in by_length.values():
        batch = torch.from_numpy(np.stack([waveforms[i] for i in indices])).to(device)
        for index, spectrogram in zip(indices, front_end(batch)):
            spectrograms[index] = spectrogram
    return spectrograms
