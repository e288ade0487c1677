"""EAT encoder in the layout of the authors' Hugging Face port.

The module tree reproduces the state-dict keys of the released
``config.json`` + ``model.safetensors`` files one to one (``model.extra_tokens``,
``model.local_encoder.proj.*``, ``model.fixed_positional_encoder.positions``,
``model.blocks.{i}.*``, ``model.pre_norm.*`` and, for fine-tuned models,
``model.fc_norm.*`` and ``model.head.*``). :func:`map_fairseq_state_dict`
renames the keys of fairseq pretraining and fine-tuning checkpoints onto
those names.

The forward pass follows the port's ``EAT.encode``. A 16x16 patch convolution
turns the (1024, 128) log-mel image into tokens, flattened time-major (token
index ``t_patch * 8 + f_patch``), and the first ``N`` rows of the fixed 2-D
sin-cos table are added. Then the CLS token is prepended, ``pre_norm`` is
applied, and post-LN blocks run: ``x = norm1(x + attn(x))``, then
``x = norm2(x + mlp(x))``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from asdfeat.errors import CheckpointError, ExtractorError
from asdfeat.extractors.vit_layers import Attention, Mlp

logger = logging.getLogger(__name__)

MODEL_VARIANTS = ("pretrain", "finetune")


@dataclass(frozen=True)
class EATConfig:
    """Architecture fields of the port's ``config.json`` that inference uses.

    Dropout and drop-path rates are omitted because inference ignores them.
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    patch_size: int = 16
    stride: int = 16
    in_chans: int = 1
    mel_bins: int = 128
    max_length: int = 768
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    layer_norm_first: bool = False
    norm_eps: float = 1e-6
    norm_affine: bool = True
    fixed_positions: bool = True
    model_variant: str = "pretrain"
    num_classes: int = 527

    def __post_init__(self):
        if self.embed_dim % self.num_heads:
            raise CheckpointError(
                f"invalid EAT config: embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}"
            )
        if self.model_variant not in MODEL_VARIANTS:
            raise CheckpointError(
                f"invalid EAT config: model_variant {self.model_variant!r}; expected one of {MODEL_VARIANTS}"
            )
        if self.layer_norm_first:
            # NOTE: no released EAT model is pre-LN, and the port's placement of
            # pre_norm for that case was not checked, so it is rejected.
            raise CheckpointError("EAT configs with layer_norm_first=true are not supported; released models use false")
        if self.in_chans != 1:
            raise CheckpointError(f"invalid EAT config: in_chans {self.in_chans}; log-mel input has 1 channel")

    @classmethod
    def from_dict(cls, config: dict) -> EATConfig:
        """Build from a ``config.json`` dict, ignoring keys that inference does not use."""
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in config.items() if key in known})

    def to_dict(self) -> dict:
        """Return the fields as a plain dict, for provenance records."""
        return asdict(self)

    @property
    def freq_patches(self) -> int:
        """Patches along the mel axis (8 for 128 bins and 16x16 patches)."""
        return (self.mel_bins - self.patch_size) // self.stride + 1


# Sizes of the published base and large checkpoints; the fields not listed
# here keep their defaults.
RELEASED_CONFIGS = {
    "eat-base": {"embed_dim": 768, "depth": 12, "num_heads": 12},
    "eat-large": {"embed_dim": 1024, "depth": 24, "num_heads": 16},
}


class PostNormBlock(nn.Module):
    """Post-LN transformer block, the port's ``AltBlock`` with ``layer_norm_first=False``."""

    def __init__(self, config: EATConfig):
        super().__init__()
        dim = config.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=config.norm_eps, elementwise_affine=config.norm_affine)
        self.attn = Attention(dim, config.num_heads, config.qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=config.norm_eps, elementwise_affine=config.norm_affine)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


class PatchEmbed(nn.Module):
    """Patch convolution, flattened to time-major tokens."""

    def __init__(self, config: EATConfig):
        super().__init__()
        self.proj = nn.Conv2d(config.in_chans, config.embed_dim, kernel_size=config.patch_size, stride=config.stride)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.proj(mel).flatten(2).transpose(1, 2)


class FixedPositionalEncoder(nn.Module):
    """Container of the frozen 2-D sin-cos table, shape (1, max_length * freq_patches, D).

    The table is loaded from the checkpoint, not recomputed: the released
    files store it as a parameter with ``requires_grad=False``.
    """

    def __init__(self, config: EATConfig):
        super().__init__()
        rows = config.max_length * config.freq_patches
        self.positions = nn.Parameter(torch.zeros(1, rows, config.embed_dim), requires_grad=False)


class EATEncoder(nn.Module):
    """The port's ``EAT`` module: everything under the ``model.`` prefix."""

    def __init__(self, config: EATConfig):
        super().__init__()
        self.config = config
        dim = config.embed_dim

        self.extra_tokens = nn.Parameter(torch.zeros(1, 1, dim))
        self.local_encoder = PatchEmbed(config)
        if config.fixed_positions:
            self.fixed_positional_encoder = FixedPositionalEncoder(config)
        self.blocks = nn.ModuleList(PostNormBlock(config) for _ in range(config.depth))
        self.pre_norm = nn.LayerNorm(dim, eps=config.norm_eps, elementwise_affine=config.norm_affine)

        if config.model_variant == "finetune":
            # The port builds this LayerNorm with the torch default eps 1e-5.
            self.fc_norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, config.num_classes)

    def embed_patches(self, mel: torch.Tensor) -> torch.Tensor:
        """Compute the blocks' input, shape (batch, 1 + n_patches, D), from (batch, 1, frames, mel_bins)."""
        x = self.local_encoder(mel)
        if self.config.fixed_positions:
            positions = self.fixed_positional_encoder.positions
            if x.shape[1] > positions.shape[1]:
                raise ExtractorError(
                    f"{x.shape[1]} patches exceed the {positions.shape[1]} rows of the position table; "
                    f"cut the input to at most {self.config.max_length * self.config.patch_size} frames"
                )
            x = x + positions[:, : x.shape[1]]

        x = torch.cat([self.extra_tokens.expand(x.shape[0], -1, -1), x], dim=1)
        return self.pre_norm(x)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Encode log-mel images.

        Parameters
        ----------
        mel : Tensor of shape (batch, 1, frames, mel_bins)
            Normalised log-mel input (frames = 1024 for the released models).

        Returns
        -------
        Tensor of shape (batch, 1 + n_patches, D)
            CLS token at index 0, then the patch tokens in time-major order.
        """
        x = self.embed_patches(mel)
        for block in self.blocks:
            x = block(x)
        return x


class EATModel(nn.Module):
    """Top-level wrapper whose only child is ``model``, matching the port's key prefix."""

    def __init__(self, config: EATConfig):
        super().__init__()
        self.model = EATEncoder(config)

    @property
    def config(self) -> EATConfig:
        return self.model.config

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Return all tokens, shape (batch, 1 + n_patches, D); see :meth:`EATEncoder.forward`."""
        return self.model(mel)


_FAIRSEQ_MODALITY = "modality_encoders.IMAGE."
_FAIRSEQ_ENCODER_PARTS = ("extra_tokens", "local_encoder.", "fixed_positional_encoder.")
_FAIRSEQ_PRE_NORM = "context_encoder.norm."
_FAIRSEQ_DECODER = "decoder."
_FAIRSEQ_EMA = "_ema"
_FINETUNE_PREFIX = "model."
_FINETUNE_HEAD_PARTS = ("fc_norm.", "head.")


def is_fairseq_state_dict(state_dict: dict) -> bool:
    """Return whether the keys are fairseq names (``modality_encoders.IMAGE.*``) rather than the port's."""
    return any(_FAIRSEQ_MODALITY in key for key in state_dict)


def map_fairseq_state_dict(state_dict: dict, *, source) -> dict:
    """Rename a fairseq EAT state dict to the port's key names.

    Pretraining checkpoints name the encoder ``modality_encoders.IMAGE.*`` and
    the blocks ``blocks.*``. Fine-tuning checkpoints add a ``model.`` prefix to
    both and keep the classifier at top level as ``fc_norm.*`` and ``head.*``.
    ``context_encoder.norm`` becomes ``pre_norm``. The pretraining-only CNN
    decoder (``...IMAGE.decoder.*``) and the EMA teacher (``_ema``) are dropped
    with a log line.

    Parameters
    ----------
    state_dict : dict
        The fairseq ``ckpt["model"]`` dict.
    source : str or Path
        Checkpoint path, used in messages.

    Returns
    -------
    dict
        Tensors under the port's names (``model.*``).

    Raises
    ------
    CheckpointError
        If a key follows neither layout.
    """
    mapped, dropped, unknown = {}, [], []
    for key, value in state_dict.items():
        if _is_fairseq_training_key(key):
            dropped.append(key)
            continue

        new_key = _map_fairseq_key(key)
        if new_key is None:
            unknown.append(key)
        else:
            mapped[new_key] = value

    if unknown:
        listing = "\n  ".join(unknown)
        raise CheckpointError(
            f"checkpoint {source} has {len(unknown)} keys that are not part of a fairseq EAT "
            f"pretraining or fine-tuning checkpoint:\n  {listing}\n"
            "Check that the file is an EAT checkpoint"
        )
    if dropped:
        logger.info(
            "dropped %d fairseq training-only keys (CNN decoder, EMA teacher) from %s, e.g. %s",
            len(dropped),
            source,
            dropped[0],
        )
    return mapped


def _is_fairseq_training_key(key: str) -> bool:
    body = key.removeprefix(_FINETUNE_PREFIX)
    if body == _FAIRSEQ_EMA or body.startswith(_FAIRSEQ_EMA + "."):
        return True
    return body.startswith(_FAIRSEQ_MODALITY + _FAIRSEQ_DECODER)


def _map_fairseq_key(key: str) -> str | None:
    if key.startswith(_FINETUNE_HEAD_PARTS):
        return "model." + key

    body = key.removeprefix(_FINETUNE_PREFIX)
    if body.startswith("blocks."):
        return "model." + body
    if not body.startswith(_FAIRSEQ_MODALITY):
        return None

    part = body.removeprefix(_FAIRSEQ_MODALITY)
    if part.startswith(_FAIRSEQ_PRE_NORM):
        return "model.pre_norm." + part.removeprefix(_FAIRSEQ_PRE_NORM)
    if part.startswith(_FAIRSEQ_ENCODER_PARTS):
        return "model." + part
    return None
