"""``ae``: the DCASE baseline dense autoencoder, trained per machine type.

Input vectors are 5 consecutive log-mel frames concatenated (5 x 128 = 640
values). Encoder and decoder each have 5 fully connected layers: 4 hidden
layers of width ``hidden`` and the bottleneck (encoder) or output (decoder)
layer. Every layer but the output is followed by BatchNorm and ReLU. Training
uses MSE on normal training clips only, AdamW and StepLR, and keeps the weights
of the epoch with the minimum mean training loss (no validation set).

The embedding of a clip is the element-wise absolute reconstruction error,
averaged over all of the clip's 5-frame windows (640 values, in dB).
"""

from __future__ import annotations

import copy
import io
import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from asdfeat.errors import AudioError, ExtractorError
from asdfeat.extractors.base import Extractor
from asdfeat.extractors.frontend import HOP_LENGTH, N_MELS, LogMel, front_end_parameters, log_mel_batches
from asdfeat.extractors.registry import ModelInfo, register_extractor

logger = logging.getLogger(__name__)

CONTEXT_FRAMES = 5


def _dense_stack(widths: list[int], final_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(width_in, width_out))
        is_last = index == len(widths) - 2
        if final_activation or not is_last:
            layers += [nn.BatchNorm1d(width_out), nn.ReLU()]
    return nn.Sequential(*layers)


class DenseAutoencoder(nn.Module):
    """The DCASE 2020-2022 baseline autoencoder on (batch, 640) vectors."""

    def __init__(self, input_dim: int = CONTEXT_FRAMES * N_MELS, hidden: int = 128, bottleneck: int = 8):
        super().__init__()
        self.encoder = _dense_stack([input_dim] + [hidden] * 4 + [bottleneck], final_activation=True)
        self.decoder = _dense_stack([bottleneck] + [hidden] * 4 + [input_dim], final_activation=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def context_windows(spectrogram: torch.Tensor, context: int = CONTEXT_FRAMES) -> torch.Tensor:
    """Stack ``context`` consecutive frames: (n_frames, n_mels) -> (n_windows, context * n_mels).

    Raises
    ------
    AudioError
        If the clip has fewer than ``context`` frames.
    """
    n_frames = spectrogram.shape[0]
    if n_frames < context:
        raise AudioError(
            f"clip has {n_frames} log-mel frames; the autoencoder needs at least {context} "
            f"(about {context * 512 / 16000:.2f} s of audio)"
        )
    windows = spectrogram.unfold(0, context, 1)  # (n_windows, n_mels, context)
    return windows.transpose(1, 2).reshape(n_frames - context + 1, -1)


class AutoencoderExtractor(Extractor):
    """Train the dense autoencoder on one machine type and embed its errors.

    Parameters
    ----------
    device : str or torch.device
    hidden, bottleneck : int
        Hidden-layer width and bottleneck size (the study sweeps {64, 128, 256}
        x {4, 8, 16}).
    epochs : int
        Training epochs; the study trains for 200.
    batch_size : int
        Training vectors per step.
    learning_rate, weight_decay : float
        AdamW parameters.
    step_size, gamma : int, float
        StepLR parameters (epochs per decay, decay factor).
    """

    name = "ae"
    requires_training = True
    # CONTEXT_FRAMES centred frames need (CONTEXT_FRAMES - 1) hops of samples.
    min_samples = (CONTEXT_FRAMES - 1) * HOP_LENGTH

    def __init__(
        self,
        device="cpu",
        *,
        hidden: int = 128,
        bottleneck: int = 8,
        epochs: int = 200,
        batch_size: int = 512,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-2,
        step_size: int = 50,
        gamma: float = 0.5,
    ):
        super().__init__(device)
        self.options = {
            "hidden": int(hidden),
            "bottleneck": int(bottleneck),
            "epochs": int(epochs),
            "batch_size": int(batch_size),
            "learning_rate": float(learning_rate),
            "weight_decay": float(weight_decay),
            "step_size": int(step_size),
            "gamma": float(gamma),
        }
        if min(self.options["hidden"], self.options["bottleneck"], self.options["epochs"]) < 1:
            raise ExtractorError(f"ae options must be positive, got {self.options}")

        self.front_end = LogMel().to(self.device)
        self.model = DenseAutoencoder(hidden=self.options["hidden"], bottleneck=self.options["bottleneck"])
        self.model.to(self.device)
        self.training_loss: float | None = None
        self._trained = False

    @property
    def dim(self) -> int:
        return CONTEXT_FRAMES * N_MELS

    def fit(self, waveforms: Sequence[np.ndarray], seed: int = 0) -> None:
        """Train on normal clips; keep the epoch with the minimum training loss."""
        if len(waveforms) == 0:
            raise ExtractorError("the autoencoder needs at least one normal training clip")

        with torch.inference_mode():
            spectrograms = log_mel_batches(self.front_end, waveforms, self.device)
            vectors = torch.cat([context_windows(s) for s in spectrograms]).clone()

        generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.model = DenseAutoencoder(hidden=self.options["hidden"], bottleneck=self.options["bottleneck"])
        self.model.to(self.device)
        optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=self.options["learning_rate"],
            weight_decay=self.options["weight_decay"],
        )
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=self.options["step_size"], gamma=self.options["gamma"]
        )

        best_loss, best_state = float("inf"), None
        for epoch in range(self.options["epochs"]):
            epoch_loss = self._train_epoch(vectors, optimizer, generator)
            scheduler.step()
            if epoch_loss < best_loss:
                best_loss, best_state = epoch_loss, copy.deepcopy(self.model.state_dict())
            logger.debug("ae epoch %d: training loss %.4f", epoch + 1, epoch_loss)

        self.model.load_state_dict(best_state)
        self.training_loss = best_loss
        self._trained = True
        logger.info(
            "trained ae on %d vectors from %d clips: minimum training loss %.4f",
            len(vectors), len(waveforms), best_loss,
        )

    def _train_epoch(self, vectors, optimizer, generator) -> float:
        self.model.train()
        order = torch.randperm(len(vectors), generator=generator).to(self.device)
        batch_size = self.options["batch_size"]
        total = 0.0
        for start in range(0, len(vectors), batch_size):
            batch = vectors[order[start : start + batch_size]]
            if len(batch) < 2:  # BatchNorm needs two rows in training mode
                continue
            loss = torch.nn.functional.mse_loss(self.model(batch), batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        return total / len(vectors)

    @torch.inference_mode()
    def embed(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        if not self._trained:
            raise ExtractorError("the autoencoder must be trained (fit) or loaded before embedding")
        self.model.eval()
        spectrograms = log_mel_batches(self.front_end, waveforms, self.device)
        windows = [context_windows(spectrogram) for spectrogram in spectrograms]

        # One forward pass for the whole batch, then a mean per clip.
        vectors = torch.cat(windows)
        errors = (self.model(vectors) - vectors).abs()
        rows = [chunk.mean(0) for chunk in errors.split([len(w) for w in windows])]
        return torch.stack(rows).float().cpu().numpy()

    def state_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(
            {"state_dict": self.model.state_dict(), "options": self.options, "training_loss": self.training_loss},
            buffer,
        )
        return buffer.getvalue()

    def load_state_bytes(self, data: bytes) -> None:
        checkpoint = torch.load(io.BytesIO(data), map_location=self.device, weights_only=True)
        changed = sorted(k for k in self.options if checkpoint["options"].get(k) != self.options[k])
        if changed:
            differences = ", ".join(f"{k}: stored {checkpoint['options'].get(k)}, now {self.options[k]}" for k in changed)
            raise ExtractorError(
                f"the stored ae weights were trained with other options ({differences}); "
                "pass --overwrite to retrain, or extract into another store"
            )
        self.model.load_state_dict(checkpoint["state_dict"])
        self.training_loss = checkpoint["training_loss"]
        self._trained = True

    def provenance(self) -> dict:
        return {
            **super().provenance(),
            "front_end": front_end_parameters(),
            "architecture": {"type": "dense-autoencoder", "context_frames": CONTEXT_FRAMES, **self.options},
            "pooling": "mean absolute reconstruction error over windows",
            "training_loss": self.training_loss,
        }


def _create(device="cpu", checkpoint=None, **options):
    if checkpoint is not None:
        raise ExtractorError("ae is trained per machine type; drop --checkpoint")
    try:
        return AutoencoderExtractor(device=device, **options)
    except TypeError as error:
        raise ExtractorError(f"invalid ae option: {error}") from None


register_extractor(
    ModelInfo(
        name="ae",
        family="autoencoder",
        dim=CONTEXT_FRAMES * N_MELS,
        description="DCASE dense autoencoder trained on normal clips; embedding = |reconstruction error|",
        proxy_metric="test_mae_db",
    ),
    _create,
)
