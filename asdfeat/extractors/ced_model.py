"""CED audio transformer with the state-dict keys of the released checkpoints.

The module tree reproduces the keys of ``AudioTransformer`` in the authors'
CED repository one to one. They are the separable positions
``time_pos_embed`` (1, D, 1, target_length // 16) and ``freq_pos_embed``
(1, D, n_mels // 16, 1), the front-end buffers
``front_end.0.spectrogram.window`` and ``front_end.0.mel_scale.fb``, the mel
BatchNorm ``init_bn.1.*``, ``patch_embed.proj.*``, the pre-LN
``blocks.{i}.*``, the final ``norm.*`` and the classifier
``outputlayer.{0,1}.*``.

The front end (:class:`CEDFrontEnd`) runs on a padded batch. Each clip is
reflect-padded by ``n_fft // 2`` on its own, as ``torch.stft(center=True)``
does, so the frames of a clip do not depend on the other clips in the batch.
The ``top_db`` clamp of ``AmplitudeToDB`` uses each clip's own maximum over its
valid frames. That equals the reference run on one clip at a time.
(torchaudio's ``AmplitudeToDB`` on a 3-D batch would take the maximum over
the whole batch.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from asdfeat.errors import CheckpointError
from asdfeat.extractors.vit_layers import Attention, Mlp

# AmplitudeToDB constants: power floor (amin) and dynamic range (top_db).
POWER_FLOOR = 1e-10
TOP_DB = 120.0


@dataclass(frozen=True)
class CEDConfig:
    """``AudioTransformer`` constructor arguments that inference uses.

    Defaults are the constructor defaults; ``sample_rate`` is fixed at 16 kHz
    by the reference front end.
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    patch_size: int = 16
    patch_stride: int = 16
    outputdim: int = 527
    target_length: int = 1012
    n_mels: int = 64
    n_fft: int = 512
    win_size: int = 512
    hop_size: int = 160
    f_min: float = 0.0
    f_max: float = 8000.0
    center: bool = True
    pad_last: bool = True
    pooling: str = "mean"
    sample_rate: int = 16000

    def __post_init__(self):
        if self.embed_dim % self.num_heads:
            raise CheckpointError(
                f"invalid CED config: embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}"
            )
        if self.pooling != "mean":
            raise CheckpointError(
                f"CED pooling {self.pooling!r} is not supported; released models use 'mean' and have no CLS token"
            )
        if not self.center:
            raise CheckpointError("CED configs with center=false are not supported; released models use true")
        if self.patch_size != self.patch_stride:
            raise CheckpointError(
                f"CED patch_stride {self.patch_stride} differs from patch_size {self.patch_size}; "
                "only non-overlapping patches are supported"
            )

    @classmethod
    def from_dict(cls, config: dict) -> CEDConfig:
        """Build from a ``config.json`` dict of constructor arguments.

        Keys that only matter for training (dropouts, augmentation,
        ``eval_avg``) are ignored.
        """
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in config.items() if key in known})

    def to_dict(self) -> dict:
        """Return the fields as a plain dict, for provenance records."""
        return asdict(self)

    @property
    def freq_patches(self) -> int:
        """Patches along the mel axis (4 for 64 bins)."""
        return self.n_mels // self.patch_size

    @property
    def time_patches(self) -> int:
        """Patches along time in one full chunk of ``target_length`` frames (63)."""
        return self.target_length // self.patch_size


# Constructor arguments of the four published checkpoints; the rest keep their defaults.
RELEASED_CONFIGS = {
    "ced-tiny": {"embed_dim": 192, "depth": 12, "num_heads": 3},
    "ced-mini": {"embed_dim": 256, "depth": 12, "num_heads": 4},
    "ced-small": {"embed_dim": 384, "depth": 12, "num_heads": 6},
    "ced-base": {"embed_dim": 768, "depth": 12, "num_heads": 12},
}


class _Spectrogram(nn.Module):
    """Container of the STFT window, stored under the torchaudio key name ``spectrogram.window``."""

    def __init__(self, win_size: int):
        super().__init__()
        self.register_buffer("window", torch.hann_window(win_size))


class _MelScale(nn.Module):
    """Container of the mel matrix, shape (n_fft // 2 + 1, n_mels), stored as ``mel_scale.fb``."""

    def __init__(self, n_freqs: int, n_mels: int):
        super().__init__()
        self.register_buffer("fb", torch.zeros(n_freqs, n_mels))


class _MelSpectrogramBuffers(nn.Module):
    def __init__(self, config: CEDConfig):
        super().__init__()
        self.spectrogram = _Spectrogram(config.win_size)
        self.mel_scale = _MelScale(config.n_fft // 2 + 1, config.n_mels)


class CEDFrontEnd(nn.Module):
    """Mel power spectrogram in dB, clamped to ``TOP_DB`` below each clip's maximum.

    Uses the window and mel matrix loaded from the checkpoint. ``forward``
    takes (batch, n_samples) float32 waveforms padded at the end and the valid
    sample counts, and returns (batch, n_mels, n_frames_max) dB values and the
    valid frame counts ``1 + n_samples // hop_size``. Frames past a clip's
    valid count hold no meaningful values, and its clamp ignores them.
    """

    def __init__(self, config: CEDConfig):
        super().__init__()
        self.config = config
        # Registered as "0" to reproduce the key prefix of the reference's nn.Sequential.
        self.add_module("0", _MelSpectrogramBuffers(config))

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        config = self.config
        buffers = getattr(self, "0")
        half = config.n_fft // 2

        padded = _reflect_pad_each(waveforms, lengths, half)
        spectrum = torch.stft(
            padded,
            n_fft=config.n_fft,
            hop_length=config.hop_size,
            win_length=config.win_size,
            window=buffers.spectrogram.window,
            center=False,
            return_complex=True,
        )
        power = spectrum.abs().pow(2.0)
        mel = torch.matmul(power.transpose(-1, -2), buffers.mel_scale.fb).transpose(-1, -2)
        decibels = 10.0 * torch.log10(torch.clamp(mel, min=POWER_FLOOR))

        n_frames = 1 + lengths.to(torch.long) // config.hop_size
        valid = torch.arange(decibels.shape[-1], device=decibels.device)[None, :] < n_frames.to(decibels.device)[:, None]
        peak = decibels.masked_fill(~valid[:, None, :], float("-inf")).amax(dim=(-2, -1))
        decibels = torch.max(decibels, (peak - TOP_DB)[:, None, None])
        return decibels, n_frames


def _reflect_pad_each(waveforms: torch.Tensor, lengths: torch.Tensor, half: int) -> torch.Tensor:
    # Reflect-pad each clip at both of its own ends, then zero-pad to a common
    # length. The Python loop over clips is cheap because it only copies samples.
    total = int(lengths.max()) + 2 * half
    padded = waveforms.new_zeros((waveforms.shape[0], total))
    for row, length in enumerate(lengths.tolist()):
        clip = waveforms[row : row + 1, :length]
        padded[row, : length + 2 * half] = F.pad(clip[None], (half, half), mode="reflect")[0, 0]
    return padded


class PreNormBlock(nn.Module):
    """Pre-LN transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, config: CEDConfig):
        super().__init__()
        dim = config.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, config.num_heads, config.qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, config: CEDConfig):
        super().__init__()
        self.proj = nn.Conv2d(1, config.embed_dim, kernel_size=config.patch_size, stride=config.patch_stride)


class _MelBatchNorm(nn.Module):
    """BatchNorm over mel bins, stored as ``init_bn.1`` like the reference's Sequential."""

    def __init__(self, n_mels: int):
        super().__init__()
        self.add_module("1", nn.BatchNorm2d(n_mels, momentum=0.01))

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        # (batch, 1, mel, time) -> (batch, mel, 1, time), so the channels are mel bins.
        return getattr(self, "1")(spectrogram.transpose(1, 2)).transpose(1, 2)


class CEDModel(nn.Module):
    """CED ``AudioTransformer`` for inference.

    Parameters
    ----------
    config : CEDConfig
        Architecture; see :data:`RELEASED_CONFIGS` for the released sizes.
    """

    def __init__(self, config: CEDConfig):
        super().__init__()
        self.config = config
        dim = config.embed_dim

        self.time_pos_embed = nn.Parameter(torch.zeros(1, dim, 1, config.time_patches))
        self.freq_pos_embed = nn.Parameter(torch.zeros(1, dim, config.freq_patches, 1))
        self.front_end = CEDFrontEnd(config)
        self.init_bn = _MelBatchNorm(config.n_mels)
        self.patch_embed = _PatchEmbed(config)
        self.blocks = nn.Sequential(*(PreNormBlock(config) for _ in range(config.depth)))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.outputlayer = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, config.outputdim))

    def normalise(self, decibels: torch.Tensor) -> torch.Tensor:
        """Apply the learned BatchNorm: (batch, n_mels, frames) dB -> (batch, 1, n_mels, frames)."""
        return self.init_bn(decibels[:, None])

    def forward_features(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """Encode BatchNorm-normalised spectrograms.

        Parameters
        ----------
        spectrogram : Tensor of shape (batch, 1, n_mels, frames)
            At most ``target_length`` frames. The patch convolution ignores
            trailing frames beyond a multiple of the patch size.

        Returns
        -------
        Tensor of shape (batch, freq_patches * (frames // 16), D)
            Tokens after the final ``norm``, frequency-major
            (index ``f_patch * time_patches + t_patch``).
        """
        x = self.patch_embed.proj(spectrogram)
        x = x + self.time_pos_embed[:, :, :, : x.shape[-1]]
        x = x + self.freq_pos_embed
        x = x.flatten(2).transpose(1, 2)
        x = self.blocks(x)
        return self.norm(x)

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """Return AudioSet logits (batch, outputdim) from token means (batch, D)."""
        return self.outputlayer(pooled)
