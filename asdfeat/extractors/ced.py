"""CED clip embeddings: the released checkpoints, the model's own front end, batched.

Checkpoints: a flat state dict or ``{"model": state_dict}``, loaded with
``weights_only=True``. Every key must be used, including the front-end
buffers ``front_end.0.spectrogram.window`` and ``front_end.0.mel_scale.fb``,
the mel BatchNorm ``init_bn.1.*`` and the AudioSet classifier
``outputlayer.*`` (loaded, not used for embeddings). The architecture comes
from a ``config.json`` of constructor arguments beside the checkpoint when
there is one (for non-released sizes), else from the released size of
``variant``.

Front end, as the model's own: ``MelSpectrogram`` (16 kHz, n_fft 512, Hann
window of 512, hop 160, 64 HTK mel bins from 0 to 8 kHz, power 2,
``center=True`` with reflect padding) runs on the waveform in [-1, 1). Its
output is converted to dB as ``10 * log10(max(x, 1e-10))`` and clamped at
120 dB below the clip's maximum. Then the learned BatchNorm over mel bins is
applied in eval mode. A clip of ``n``
samples has ``1 + n // 160`` frames.

Embedding: the mean of the tokens after the final LayerNorm (no CLS token).

Long clips: a clip of more than 1,012 frames (about 10.1 s) is cut, after
BatchNorm, into consecutive 1,012-frame chunks, and the last partial chunk is
zero-padded to 1,012 frames. This is the reference's own rule. The clip
embedding is the unweighted mean of the chunk embeddings, as the reference
averages its chunk outputs. Unlike the reference, a clip whose length is an
exact multiple of 1,012 frames keeps its last chunk (the reference drops
it). With ``pad_last=false`` in the config, the last partial chunk is
dropped instead of padded.

Batching: the front end runs on the whole batch. Chunks with the same number
of frames run through the encoder as one batch, so no padding enters the
encoder and each clip's result does not depend on the other clips.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from asdfeat.errors import CheckpointError, ExtractorError
from asdfeat.extractors._common import autocast, check_dtype, pad_waveforms
from asdfeat.extractors.base import Extractor
from asdfeat.extractors.ced_model import POWER_FLOOR, RELEASED_CONFIGS, TOP_DB, CEDConfig, CEDModel
from asdfeat.extractors.checkpoints import load_checkpoint, load_state_dict_strict, sha256_file, verify_sha256

logger = logging.getLogger(__name__)


class CEDExtractor(Extractor):
    """Mean-pooled final tokens of a CED checkpoint.

    Parameters
    ----------
    checkpoint : str or Path
        Released CED file: a flat state dict or ``{"model": state_dict}``.
    device : str or torch.device
        Device for the front end and the forward pass.
    variant : {"ced-tiny", "ced-mini", "ced-small", "ced-base"}
        Registry name recorded as :attr:`name`; gives the architecture when
        no ``config.json`` is beside the checkpoint.
    dtype : {"float32", "bfloat16", "float16"}
        Autocast dtype of the encoder on CUDA; the front end and BatchNorm
        always run in float32. Only ``"float32"`` is accepted on CPU.
    expected_sha256 : str, optional
        Known SHA-256 of the checkpoint; a mismatch raises.

    Raises
    ------
    CheckpointError
        If the checkpoint is missing, unsafe, or does not match the architecture.
    ExtractorError
        If an option is invalid.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        device="cpu",
        *,
        variant: str = "ced-base",
        dtype: str = "float32",
        expected_sha256: str | None = None,
    ):
        super().__init__(device)
        _validate_options(variant, dtype, self.device)
        self.name = variant
        self.dtype = dtype

        self.checkpoint = Path(checkpoint).expanduser()
        if expected_sha256:
            self.checkpoint_sha256 = verify_sha256(self.checkpoint, expected_sha256)
        else:
            self.checkpoint_sha256 = sha256_file(self.checkpoint)

        self.model = load_ced(self.checkpoint, variant=variant).to(self.device)
        config = self.model.config
        # The shortest clip with one row of patches: patch_size frames.
        self.min_samples = (config.patch_size - 1) * config.hop_size

    @property
    def dim(self) -> int:
        return self.model.config.embed_dim

    def embed(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """Embed a batch of clips.

        Parameters
        ----------
        waveforms : sequence of ndarray of shape (n_samples_i,)
            Mono float32 waveforms at 16 kHz in [-1, 1); lengths may differ.

        Returns
        -------
        ndarray of shape (len(waveforms), dim), float32

        Raises
        ------
        AudioError
            If a waveform is not 1-D, not finite, or shorter than 16 frames
            (2,400 samples).
        """
        if len(waveforms) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)

        batch, lengths = pad_waveforms(waveforms, self.min_samples, model="CED", reason="one patch")
        with torch.inference_mode():
            spectrogram, n_frames = self.features(batch, lengths)
            chunks, owners = self.chunks(spectrogram, n_frames)

            sums = torch.zeros(len(waveforms), self.dim, dtype=torch.float64)
            for members in _group_by_length(chunks):
                tokens = self.encode(torch.stack([chunks[index] for index in members]))
                owner_index = torch.tensor([owners[index] for index in members])
                sums.index_add_(0, owner_index, tokens.mean(dim=1).double().cpu())

        counts = torch.bincount(torch.tensor(owners), minlength=len(waveforms)).double()
        return (sums / counts[:, None]).float().numpy()

    @torch.inference_mode()
    def features(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute BatchNorm-normalised mel spectrograms of a padded batch.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples), float32
            Clips zero-padded at the end.
        lengths : Tensor of shape (batch,), int
            Valid samples per clip.

        Returns
        -------
        spectrogram : Tensor of shape (batch, 1, n_mels, n_frames_max), float32
            Frames past a clip's valid count hold no meaningful values.
        n_frames : Tensor of shape (batch,), int64
            Valid frames per clip, ``1 + n_samples // hop_size``.
        """
        decibels, n_frames = self.decibels(waveforms, lengths)
        return self.model.normalise(decibels), n_frames

    @torch.inference_mode()
    def decibels(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the dB mel spectrograms (batch, n_mels, n_frames_max) before BatchNorm, and the frame counts."""
        return self.model.front_end(waveforms.to(self.device, torch.float32), lengths.to(torch.long))

    @torch.inference_mode()
    def chunks(self, spectrogram: torch.Tensor, n_frames: torch.Tensor) -> tuple[list[torch.Tensor], list[int]]:
        """Cut normalised spectrograms into encoder inputs of at most ``target_length`` frames.

        Parameters
        ----------
        spectrogram : Tensor of shape (batch, 1, n_mels, n_frames_max)
        n_frames : Tensor of shape (batch,), int

        Returns
        -------
        chunks : list of Tensor of shape (1, n_mels, frames_i)
            In clip order. A clip within the limit gives one chunk of its own
            length. A longer clip gives ``target_length``-frame chunks, the
            last one zero-padded (or dropped when ``pad_last`` is false).
        owners : list of int
            Index of the clip each chunk belongs to.
        """
        limit = self.model.config.target_length
        chunks, owners = [], []
        for index, length in enumerate(n_frames.tolist()):
            clip = spectrogram[index, :, :, :length]
            if length <= limit:
                pieces = [clip]
            else:
                pieces = list(clip.split(limit, dim=-1))
                pieces[-1] = self._complete_last_chunk(pieces[-1], limit)

            used_pieces = [piece for piece in pieces if piece is not None]
            chunks.extend(used_pieces)
            owners.extend([index] * len(used_pieces))
        return chunks, owners

    @torch.inference_mode()
    def encode(self, chunks: torch.Tensor) -> torch.Tensor:
        """Run the encoder: (n, 1, n_mels, frames) -> (n, freq_patches * (frames // 16), dim) float32 tokens."""
        with autocast(self.device, self.dtype):
            tokens = self.model.forward_features(chunks.to(self.device))
        return tokens.float()

    def provenance(self) -> dict:
        config = self.model.config
        record = super().provenance()
        record.update(
            front_end={
                "kind": "mel_spectrogram_db",
                "sample_rate": config.sample_rate,
                "n_fft": config.n_fft,
                "win_length": config.win_size,
                "hop_length": config.hop_size,
                "f_min": config.f_min,
                "f_max": config.f_max,
                "n_mels": config.n_mels,
                "center": config.center,
                "pad_mode": "reflect",
                "power": 2.0,
                "mel_scale": "htk",
                "window_and_mel_matrix": "from the checkpoint",
                "amin": POWER_FLOOR,
                "top_db": TOP_DB,
                "top_db_reference": "maximum of each clip",
                "normalisation": "learned BatchNorm over mel bins (init_bn), eval mode",
            },
            checkpoint=str(self.checkpoint),
            checkpoint_sha256=self.checkpoint_sha256,
            architecture=config.to_dict(),
            pooling="mean of final tokens, then mean over chunks",
            chunk_frames=config.target_length,
            dtype=self.dtype,
        )
        return record

    def _complete_last_chunk(self, piece: torch.Tensor, limit: int) -> torch.Tensor | None:
        if piece.shape[-1] == limit:
            return piece
        if not self.model.config.pad_last:
            return None
        return torch.nn.functional.pad(piece, (0, limit - piece.shape[-1]))


def load_ced(checkpoint: str | Path, *, variant: str = "ced-base") -> CEDModel:
    """Build a CED model and load a checkpoint into it.

    Parameters
    ----------
    checkpoint : str or Path
        Flat state dict or ``{"model": state_dict}``. A ``config.json`` of
        ``AudioTransformer`` constructor arguments in the same folder sets the
        architecture.
    variant : {"ced-tiny", "ced-mini", "ced-small", "ced-base"}
        Released size used when there is no ``config.json``.

    Returns
    -------
    CEDModel
        In eval mode on the CPU.

    Raises
    ------
    CheckpointError
        If the file cannot be loaded safely or does not match the architecture.
    """
    checkpoint = Path(checkpoint).expanduser()
    content = load_checkpoint(checkpoint)
    state_dict = content["model"] if isinstance(content.get("model"), dict) else content

    not_tensors = [key for key, value in state_dict.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"{checkpoint} is not a CED state dict: entries {not_tensors[:5]} are not tensors. "
            "Pass a flat state dict or {'model': state_dict}"
        )

    # Allocate without initialising: the strict load below overwrites every tensor.
    with torch.device("meta"):
        model = CEDModel(_read_config(checkpoint.parent / "config.json", variant))
    model = model.to_empty(device="cpu")
    load_state_dict_strict(model, state_dict, source=checkpoint)
    return model.eval()


def _read_config(config_path: Path, variant: str) -> CEDConfig:
    if not config_path.is_file():
        return CEDConfig.from_dict(RELEASED_CONFIGS[variant])

    try:
        values = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"cannot read CED config {config_path}: {error}") from error
    if not isinstance(values, dict):
        raise CheckpointError(f"CED config {config_path} must contain a JSON object")

    logger.info("CED architecture from %s instead of the released %s size", config_path, variant)
    return CEDConfig.from_dict(values)


def _validate_options(variant: str, dtype: str, device: torch.device) -> None:
    if variant not in RELEASED_CONFIGS:
        raise ExtractorError(f"invalid CED variant {variant!r}; choose one of {sorted(RELEASED_CONFIGS)}")
    check_dtype(dtype, device)


def _group_by_length(chunks: list[torch.Tensor]) -> list[list[int]]:
    """Group chunk indices by frame count, so each group stacks into one batch."""
    groups = defaultdict(list)
    for index, chunk in enumerate(chunks):
        groups[chunk.shape[-1]].append(index)
    return list(groups.values())
