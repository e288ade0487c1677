"""BEATs clip embeddings: the released checkpoints, the reference front end, batched.

Front end, as the reference ``BEATs.preprocess``: the waveform (16 kHz, in
[-1, 1)) is multiplied by 2**15 and turned into a Kaldi log filterbank. The
filterbank has 128 mel bins, 25 ms frames with a 10 ms shift, a Povey window,
pre-emphasis 0.97, DC offset removal, no dither and ``snip_edges``. It is then
normalised as ``(fbank - 15.41663) / (2 * 6.55582)``. A clip of ``n`` samples
has ``1 + (n - 400) // 160`` frames, and the patch convolution keeps whole
16-frame patches only.

Embedding: the mean of the final encoder tokens (no CLS token), also for
fine-tuned checkpoints, whose AudioSet predictor is loaded but not used.

Long clips: clips are cut into consecutive chunks of ``chunk_seconds``
(default 10 s, the AudioSet clip length the models were trained on). A final
remainder too short for one row of patches (fewer than 2,800 samples, 0.175 s)
is dropped. The clip embedding is the mean of all tokens of all chunks, so
each chunk weighs by its token count. A clip no longer than one chunk gives
exactly the reference ``extract_features(...)[0].mean(1)``.

Batching: chunks with the same number of time patches run as one batch; no
padding enters the encoder, so each clip's result does not depend on the
other clips of the batch beyond float32 rounding.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from asdfeat.errors import CheckpointError, ExtractorError
from asdfeat.extractors._common import autocast, check_dtype, check_waveform
from asdfeat.extractors.base import Extractor
from asdfeat.extractors.beats_model import ATTENTION_IMPLEMENTATIONS, BEATs, BEATsConfig, rename_weight_norm_keys
from asdfeat.extractors.checkpoints import load_checkpoint, load_state_dict_strict, sha256_file, verify_sha256
from asdfeat.extractors.kaldi import KaldiFbank, KaldiFbankOptions

logger = logging.getLogger(__name__)

FBANK_MEAN = 15.41663
FBANK_STD = 6.55582
WAVEFORM_SCALE = 2**15

FBANK_OPTIONS = KaldiFbankOptions(num_mel_bins=128, sample_frequency=16000, frame_length=25, frame_shift=10)


class BEATsExtractor(Extractor):
    """Mean-pooled final tokens of a BEATs checkpoint.

    Parameters
    ----------
    checkpoint : str or Path
        Released BEATs file, ``{'cfg': dict, 'model': state_dict}``.
    device : str or torch.device
        Device for the forward pass.
    variant : str
        Registry name recorded as :attr:`name`, e.g. ``"beats-iter3+"``.
    dtype : {"float32", "bfloat16", "float16"}
        Autocast dtype of the encoder on CUDA; the front end always runs in
        float32. Only ``"float32"`` is accepted on CPU.
    attention : {"sdpa", "eager"}
        ``"sdpa"`` uses :func:`torch.nn.functional.scaled_dot_product_attention`
        with the position bias as mask; ``"eager"`` reproduces the reference's
        explicit softmax.
    chunk_seconds : float
        Length of the chunks that long clips are cut into.
    expected_sha256 : str, optional
        Known SHA-256 of the checkpoint; a mismatch raises.

    Raises
    ------
    CheckpointError
        If the file is missing, unsafe, not in the BEATs layout, or its
        tensors do not match the architecture in its ``cfg``.
    ExtractorError
        If an option is invalid.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        device="cpu",
        *,
        variant: str,
        dtype: str = "float32",
        attention: str = "sdpa",
        chunk_seconds: float = 10.0,
        expected_sha256: str | None = None,
    ):
        super().__init__(device)
        self.name = variant
        self._validate_options(dtype, attention, chunk_seconds)
        self.dtype = dtype
        self.attention = attention
        self.chunk_samples = int(round(chunk_seconds * self.sample_rate))

        self.checkpoint = Path(checkpoint).expanduser()
        if expected_sha256:
            self.checkpoint_sha256 = verify_sha256(self.checkpoint, expected_sha256)
        else:
            self.checkpoint_sha256 = sha256_file(self.checkpoint)

        self.model = load_beats(self.checkpoint).to(self.device)
        self.front_end = KaldiFbank(FBANK_OPTIONS).to(self.device)
        self.patch = self.model.config.input_patch_size

        # The shortest input that yields one row of patches.
        self.min_samples = FBANK_OPTIONS.window_size + (self.patch - 1) * FBANK_OPTIONS.window_shift

    @property
    def dim(self) -> int:
        return self.model.dim

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
            If a waveform is not 1-D or is shorter than 2,800 samples.
        """
        chunks = [self._chunks(index, waveform) for index, waveform in enumerate(waveforms)]
        token_sums = torch.zeros(len(waveforms), self.dim, dtype=torch.float64)
        token_counts = torch.zeros(len(waveforms), dtype=torch.float64)

        groups = defaultdict(list)
        for clip_index, clip_chunks in enumerate(chunks):
            for chunk in clip_chunks:
                groups[self._time_patches(len(chunk))].append((clip_index, chunk))

        with torch.inference_mode():
            for time_patches, members in groups.items():
                means = self._embed_group([chunk for _, chunk in members], time_patches)
                tokens_per_chunk = time_patches * (FBANK_OPTIONS.num_mel_bins // self.patch)
                for (clip_index, _), mean in zip(members, means):
                    token_sums[clip_index] += mean.double() * tokens_per_chunk
                    token_counts[clip_index] += tokens_per_chunk

        return (token_sums / token_counts[:, None]).numpy().astype(np.float32)

    def provenance(self) -> dict:
        record = super().provenance()
        record.update(
            front_end={
                "kind": "kaldi_fbank",
                "waveform_scale": WAVEFORM_SCALE,
                **FBANK_OPTIONS.to_dict(),
                "dither": 0.0,
                "snip_edges": True,
                "normalisation": "(fbank - mean) / (2 * std)",
                "mean": FBANK_MEAN,
                "std": FBANK_STD,
            },
            checkpoint=str(self.checkpoint),
            checkpoint_sha256=self.checkpoint_sha256,
            architecture=self.model.config.to_dict(),
            pooling="mean of final tokens over all chunks",
            chunk_samples=self.chunk_samples,
            attention=self.attention,
            dtype=self.dtype,
        )
        return record

    def features(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Compute normalised filterbanks (batch, frames, 128) of a padded batch (batch, samples)."""
        fbank, _ = self.front_end(waveforms.to(self.device, torch.float32) * WAVEFORM_SCALE, lengths)
        return (fbank - FBANK_MEAN) / (2 * FBANK_STD)

    def _embed_group(self, chunks: list[np.ndarray], time_patches: int) -> torch.Tensor:
        lengths = torch.tensor([len(chunk) for chunk in chunks])
        batch = torch.zeros(len(chunks), int(lengths.max()))
        for row, chunk in enumerate(chunks):
            batch[row, : len(chunk)] = torch.from_numpy(chunk)

        fbank = self.features(batch, lengths)[:, : time_patches * self.patch]
        with autocast(self.device, self.dtype):
            tokens, _ = self.model(fbank, attention=self.attention)
        return tokens.float().mean(dim=1).cpu()

    def _chunks(self, index: int, waveform: np.ndarray) -> list[np.ndarray]:
        waveform = check_waveform(index, waveform, self.min_samples, model="BEATs", reason="one patch")

        chunks = [waveform[start : start + self.chunk_samples] for start in range(0, len(waveform), self.chunk_samples)]
        if len(chunks) > 1 and len(chunks[-1]) < self.min_samples:
            logger.debug("clip %d: dropping a final remainder of %d samples", index, len(chunks[-1]))
            chunks.pop()
        return chunks

    def _time_patches(self, num_samples: int) -> int:
        return FBANK_OPTIONS.num_frames(num_samples) // self.patch

    def _validate_options(self, dtype: str, attention: str, chunk_seconds: float) -> None:
        check_dtype(dtype, self.device)
        if attention not in ATTENTION_IMPLEMENTATIONS:
            raise ExtractorError(f"invalid attention {attention!r}; choose one of {ATTENTION_IMPLEMENTATIONS}")
        if not chunk_seconds >= 1.0:
            raise ExtractorError(f"invalid chunk_seconds {chunk_seconds}; it must be at least 1 s")


def load_beats(checkpoint: str | Path) -> BEATs:
    """Build a BEATs model from a released checkpoint's ``cfg`` and load its weights.

    Parameters
    ----------
    checkpoint : str or Path
        File of the form ``{'cfg': dict, 'model': state_dict}``.

    Returns
    -------
    BEATs
        The model in eval mode on the CPU.

    Raises
    ------
    CheckpointError
        If the file is missing, unsafe, not in this layout, or does not match.
    """
    content = load_checkpoint(checkpoint)
    if not {"cfg", "model"} <= set(content):
        raise CheckpointError(
            f"{checkpoint} is not a BEATs checkpoint: expected the keys 'cfg' and 'model', "
            f"found {sorted(map(str, content))[:10]}"
        )
    if not isinstance(content["cfg"], dict) or not isinstance(content["model"], dict):
        raise CheckpointError(f"{checkpoint} is not a BEATs checkpoint: 'cfg' and 'model' must both be dicts")

    model = BEATs(BEATsConfig.from_dict(content["cfg"]))
    load_state_dict_strict(model, rename_weight_norm_keys(content["model"]), source=checkpoint)
    return model.eval()
