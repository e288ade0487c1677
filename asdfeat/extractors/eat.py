"""EAT clip embeddings: the released checkpoints, the authors' front end, batched.

Checkpoints: the authors' Hugging Face port (a folder with ``config.json`` and
``model.safetensors``, or the safetensors file with ``config.json`` beside
it), or a fairseq pretraining or fine-tuning state dict whose keys
:func:`~asdfeat.extractors.eat_model.map_fairseq_state_dict` renames. A
fairseq ``.pt`` file that stores fairseq or omegaconf objects cannot be
loaded with ``weights_only=True`` and is rejected with conversion
instructions. Without a ``config.json``, the architecture is the released
size of ``variant``.

Front end, as the authors' ``feature_extract.py``: the clip mean is
subtracted from the waveform (16 kHz, in [-1, 1), no 2**15 scaling). Then a
Kaldi log filterbank is computed with 128 mel bins, 25 ms Hanning frames,
10 ms shift, ``htk_compat``, no energy, no dither, pre-emphasis 0.97, DC
offset removal and ``snip_edges``. The frames are zero-padded at the end or cut to
1,024 frames, and only then normalised as ``(fbank + 4.268) / (2 * 4.569)``,
so padded rows hold 0.467075, not 0.

Embedding: the mean of the 512 patch tokens of the final block
(``pooling="patch_mean"``, the default) or the CLS token
(``pooling="cls"``). Fine-tuned checkpoints load their ``fc_norm`` and
``head`` but do not use them.

Long clips: a clip of more than 1,024 frames (about 10.26 s) is cut into
consecutive 1,024-frame chunks of its filterbank. The last chunk is
zero-padded like a short clip, however few frames it holds. The clip
embedding is the unweighted mean of the chunk embeddings. A clip of at most
1,024 frames gives exactly the reference output.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from asdfeat.errors import CheckpointError, ExtractorError
from asdfeat.extractors._common import autocast, check_dtype, pad_waveforms
from asdfeat.extractors.base import Extractor
from asdfeat.extractors.checkpoints import load_checkpoint, load_state_dict_strict, sha256_file, verify_sha256
from asdfeat.extractors.eat_model import (
    RELEASED_CONFIGS,
    EATConfig,
    EATModel,
    is_fairseq_state_dict,
    map_fairseq_state_dict,
)
from asdfeat.extractors.kaldi import KaldiFbank, KaldiFbankOptions

logger = logging.getLogger(__name__)

NORM_MEAN = -4.268
NORM_STD = 4.569
TARGET_FRAMES = 1024

FBANK_OPTIONS = KaldiFbankOptions(
    num_mel_bins=128,
    sample_frequency=16000,
    frame_length=25,
    frame_shift=10,
    window_type="hanning",
    htk_compat=True,
    use_energy=False,
)

POOLINGS = ("patch_mean", "cls")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_EMA_KEYS = ("_ema", "model._ema")


class EATExtractor(Extractor):
    """Pooled final tokens of an EAT checkpoint.

    Parameters
    ----------
    checkpoint : str or Path
        A Hugging Face port folder, its ``model.safetensors`` (with
        ``config.json`` beside it), or a fairseq state dict file.
    device : str or torch.device
        Device for the front end and the forward pass.
    variant : {"eat-base", "eat-large"}
        Registry name recorded as :attr:`name`; gives the architecture when
        no ``config.json`` is found.
    pooling : {"patch_mean", "cls"}
        Mean of the patch tokens, or the CLS token.
    dtype : {"float32", "bfloat16", "float16"}
        Autocast dtype of the encoder on CUDA; the front end always runs in
        float32. Only ``"float32"`` is accepted on CPU.
    expected_sha256 : str, optional
        Known SHA-256 of the weights file; a mismatch raises.

    Raises
    ------
    CheckpointError
        If the checkpoint is missing, unsafe, in neither layout, or does not
        match its architecture.
    ExtractorError
        If an option is invalid.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        device="cpu",
        *,
        variant: str = "eat-base",
        pooling: str = "patch_mean",
        dtype: str = "float32",
        expected_sha256: str | None = None,
    ):
        super().__init__(device)
        _validate_options(variant, pooling, dtype, self.device)
        self.name = variant
        self.pooling = pooling
        self.dtype = dtype

        self.checkpoint, config_path = resolve_eat_paths(checkpoint)
        if expected_sha256:
            self.checkpoint_sha256 = verify_sha256(self.checkpoint, expected_sha256)
        else:
            self.checkpoint_sha256 = sha256_file(self.checkpoint)

        self.model = load_eat(self.checkpoint, config_path, variant=variant).to(self.device)
        self.front_end = KaldiFbank(FBANK_OPTIONS).to(self.device)

    @property
    def dim(self) -> int:
        return self.model.config.embed_dim

    def embed(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """Embed a batch of clips with the configured pooling.

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
            If a waveform is not 1-D, not finite, or shorter than one frame
            (400 samples).
        """
        return self.embed_pooled(waveforms)[self.pooling]

    def embed_pooled(self, waveforms: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Embed a batch of clips with both poolings.

        Returns
        -------
        dict
            ``"patch_mean"`` and ``"cls"``, each an ndarray of shape
            (len(waveforms), dim), float32.
        """
        if len(waveforms) == 0:
            empty = np.zeros((0, self.dim), dtype=np.float32)
            return {"patch_mean": empty, "cls": empty.copy()}

        batch, lengths = pad_waveforms(
            waveforms, FBANK_OPTIONS.window_size, model="EAT", reason="one filterbank frame"
        )
        with torch.inference_mode():
            mel, owners = self.features(batch, lengths)
            tokens = self.encode(mel)
            pooled = {"patch_mean": tokens[:, 1:].mean(dim=1), "cls": tokens[:, 0]}
            return {name: _mean_by_owner(values, owners, len(waveforms)) for name, values in pooled.items()}

    @torch.inference_mode()
    def features(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the normalised model input of a padded batch, one row per chunk.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples), float32
            Clips zero-padded at the end.
        lengths : Tensor of shape (batch,), int
            Valid samples per clip.

        Returns
        -------
        mel : Tensor of shape (n_chunks, 1, 1024, 128), float32
            Chunks of all clips, in clip order.
        owners : Tensor of shape (n_chunks,), int64
            Index of the clip each chunk belongs to.
        """
        waveforms = waveforms.to(self.device, torch.float32)
        lengths = lengths.to(torch.long)

        # The padding is zero, so the sum over a row is the sum over the clip.
        means = waveforms.sum(dim=1) / lengths.to(waveforms)
        fbank, n_frames = self.front_end(waveforms - means[:, None], lengths)

        # Rows past a clip's end are zero, which is the reference's zero padding.
        n_chunks = torch.clamp((n_frames + TARGET_FRAMES - 1) // TARGET_FRAMES, min=1)
        max_chunks = int(n_chunks.max())
        fbank = torch.nn.functional.pad(fbank, (0, 0, 0, max_chunks * TARGET_FRAMES - fbank.shape[1]))
        chunks = fbank.reshape(len(fbank), max_chunks, TARGET_FRAMES, fbank.shape[-1])

        keep = torch.arange(max_chunks)[None, :] < n_chunks[:, None]
        mel = chunks[keep.to(chunks.device)]
        owners = torch.arange(len(fbank))[:, None].expand(-1, max_chunks)[keep]
        return ((mel - NORM_MEAN) / (NORM_STD * 2))[:, None], owners

    @torch.inference_mode()
    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """Run the encoder: (n, 1, 1024, 128) input -> (n, 513, dim) float32 tokens, CLS first."""
        with autocast(self.device, self.dtype):
            tokens = self.model(mel.to(self.device))
        return tokens.float()

    def provenance(self) -> dict:
        record = super().provenance()
        record.update(
            front_end={
                "kind": "kaldi_fbank",
                "waveform_scale": 1.0,
                "subtract_clip_mean": True,
                **FBANK_OPTIONS.to_dict(),
                "dither": 0.0,
                "snip_edges": True,
                "target_frames": TARGET_FRAMES,
                "padding": "zeros at the end before normalisation",
                "normalisation": "(fbank - mean) / (2 * std)",
                "mean": NORM_MEAN,
                "std": NORM_STD,
            },
            checkpoint=str(self.checkpoint),
            checkpoint_sha256=self.checkpoint_sha256,
            architecture=self.model.config.to_dict(),
            pooling=self.pooling,
            chunk_frames=TARGET_FRAMES,
            dtype=self.dtype,
        )
        return record


def resolve_eat_paths(checkpoint: str | Path) -> tuple[Path, Path | None]:
    """Find the weights file and the ``config.json`` of an EAT checkpoint.

    Parameters
    ----------
    checkpoint : str or Path
        A folder containing ``config.json`` and ``model.safetensors`` (or
        ``pytorch_model.bin``), or a weights file.

    Returns
    -------
    weights : Path
        The weights file.
    config : Path or None
        ``config.json`` in the same folder, or None when there is none.

    Raises
    ------
    CheckpointError
        If the path does not exist or a folder contains no weights file.
    """
    path = Path(checkpoint).expanduser()
    if not path.exists():
        raise CheckpointError(f"EAT checkpoint not found: {path}")

    if path.is_dir():
        candidates = [path / name for name in _WEIGHT_FILES if (path / name).is_file()]
        if not candidates:
            raise CheckpointError(
                f"EAT checkpoint folder {path} contains none of {_WEIGHT_FILES}; "
                "pass the folder of the Hugging Face port or the weights file itself"
            )
        weights = candidates[0]
    else:
        weights = path

    config = weights.parent / "config.json"
    return weights, (config if config.is_file() else None)


def load_eat(weights: str | Path, config_path: str | Path | None, *, variant: str = "eat-base") -> EATModel:
    """Build an EAT model and load a checkpoint into it.

    Parameters
    ----------
    weights : str or Path
        Safetensors or PyTorch file with the port's or fairseq key names, flat
        or wrapped as ``{"model": state_dict}``.
    config_path : str or Path or None
        The port's ``config.json``; None uses the released size of ``variant``,
        with ``model_variant`` and ``num_classes`` taken from the tensors.
    variant : {"eat-base", "eat-large"}
        Released size used without a ``config.json``.

    Returns
    -------
    EATModel
        In eval mode on the CPU.

    Raises
    ------
    CheckpointError
        If the file cannot be loaded safely, is in neither key layout, or does
        not match the architecture.
    """
    state_dict = _unwrap(_load_weights(weights), weights)
    if is_fairseq_state_dict(state_dict):
        state_dict = map_fairseq_state_dict(state_dict, source=weights)
    elif "model.local_encoder.proj.weight" not in state_dict:
        raise CheckpointError(
            f"{weights} is not an EAT checkpoint: it has neither the Hugging Face port's keys "
            f"(model.local_encoder.*) nor fairseq keys (modality_encoders.IMAGE.*); "
            f"first keys: {list(state_dict)[:5]}"
        )

    config = _read_config(config_path, variant, state_dict)
    if config.mel_bins != FBANK_OPTIONS.num_mel_bins:
        raise CheckpointError(
            f"EAT config {config_path} sets mel_bins {config.mel_bins}, but the EAT front end "
            f"computes {FBANK_OPTIONS.num_mel_bins} mel bins; use a checkpoint trained on 128-bin input"
        )

    # Allocate without initialising: the strict load below overwrites every tensor.
    with torch.device("meta"):
        model = EATModel(config)
    model = model.to_empty(device="cpu")
    load_state_dict_strict(model, state_dict, source=weights)
    return model.eval()


def _load_weights(weights: str | Path) -> dict:
    try:
        return load_checkpoint(weights)
    except CheckpointError as error:
        if not isinstance(error.__cause__, pickle.UnpicklingError):
            raise
        # Full fairseq checkpoints pickle their omegaconf config next to the weights.
        raise CheckpointError(
            f"{error} For a fairseq EAT checkpoint, keep only its state dict: in a trusted environment "
            "with omegaconf installed, run torch.save(torch.load(path, weights_only=False)['model'], "
            "'eat_state_dict.pt') and pass the new file"
        ) from error.__cause__


def _unwrap(content: dict, source) -> dict:
    # fairseq keeps the weights under "model"; the port's files are flat.
    if isinstance(content.get("model"), dict):
        content = content["model"]

    # The fairseq EMA teacher may be a dict of tensors; map_fairseq_state_dict drops it.
    not_tensors = [
        key for key, value in content.items() if not isinstance(value, torch.Tensor) and key not in _EMA_KEYS
    ]
    if not_tensors:
        raise CheckpointError(
            f"{source} is not an EAT state dict: entries {not_tensors[:5]} are not tensors. "
            "Pass the weights file of the Hugging Face port or a fairseq checkpoint's state dict"
        )
    return dict(content)


def _read_config(config_path: str | Path | None, variant: str, state_dict: dict) -> EATConfig:
    if config_path is not None:
        try:
            values = json.loads(Path(config_path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise CheckpointError(f"cannot read EAT config {config_path}: {error}") from error
        if not isinstance(values, dict):
            raise CheckpointError(f"EAT config {config_path} must contain a JSON object")
        return EATConfig.from_dict(values)

    values = dict(RELEASED_CONFIGS[variant])
    head = state_dict.get("model.head.weight")
    if head is not None:
        values.update(model_variant="finetune", num_classes=head.shape[0])
    logger.info("no config.json beside the EAT checkpoint; using the released %s architecture %s", variant, values)
    return EATConfig.from_dict(values)


def _validate_options(variant: str, pooling: str, dtype: str, device: torch.device) -> None:
    if variant not in RELEASED_CONFIGS:
        raise ExtractorError(f"invalid EAT variant {variant!r}; choose one of {sorted(RELEASED_CONFIGS)}")
    if pooling not in POOLINGS:
        raise ExtractorError(f"invalid EAT pooling {pooling!r}; choose one of {POOLINGS}")
    check_dtype(dtype, device)


def _mean_by_owner(values: torch.Tensor, owners: torch.Tensor, n_clips: int) -> np.ndarray:
    """Average chunk rows (n_chunks, dim) into clip rows (n_clips, dim), float32."""
    owners = owners.to(values.device)
    sums = torch.zeros(n_clips, values.shape[1], dtype=torch.float64, device=values.device)
    sums.index_add_(0, owners, values.double())
    counts = torch.bincount(owners, minlength=n_clips).to(sums)
    return (sums / counts[:, None]).float().cpu().numpy()
