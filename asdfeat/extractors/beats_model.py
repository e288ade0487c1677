"""The BEATs audio encoder, with state-dict keys equal to the released checkpoints.

BEATs (Chen et al., 2022, "BEATs: Audio Pre-Training with Acoustic
Tokenizers", code in github.com/microsoft/unilm under ``beats/``) is a ViT
over 16x16 patches of a 128-bin Kaldi filterbank. Its encoder is a post-LN
transformer with DeepNorm residual scaling, a convolutional positional
embedding and a gated relative position bias.

This module rebuilds the architecture from the checkpoint's own ``cfg`` dict.
Parameter names, shapes and key order equal those of the reference model, so
a released ``{'cfg': ..., 'model': ...}`` file loads with every key used:

* the positional convolution stores its weight in the legacy weight-norm form
  ``encoder.pos_conv.0.weight_g`` (1, 1, K) and ``weight_v`` (D, D/groups, K),
  normalised over every dimension except the kernel axis;
* the relative position bias table is one tensor shared by every layer, and
  the state dict lists it under each layer (after ``grep_linear`` for layers
  1 and later, as the reference registers it there).

Tensors are batch-first, (batch, tokens, channels), where the reference is
time-first. Attention runs through
:func:`torch.nn.functional.scaled_dot_product_attention` with the gated
position bias as an additive mask (``attention="sdpa"``), or in the
reference's eager form (``attention="eager"``). The eager form scales the
query by ``1/32``, subtracts the row max and multiplies by 32 again before
the softmax. That is mathematically a plain softmax, so both forms agree to
float32 rounding.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from asdfeat.errors import CheckpointError, ExtractorError

logger = logging.getLogger(__name__)

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")

# The reference divides the query by this factor before the dot product and
# multiplies the max-shifted logits by it again.
_EAGER_SOFTMAX_ALPHA = 32.0

_ACTIVATIONS = {
    "gelu": F.gelu,
    "relu": F.relu,
    "tanh": torch.tanh,
    "linear": lambda x: x,
    "gelu_accurate": lambda x: F.gelu(x, approximate="tanh"),
}


@dataclass(frozen=True)
class BEATsConfig:
    """Architecture fields of a BEATs checkpoint's ``cfg`` dict.

    Defaults are those of the reference ``BEATsConfig``. Training-only fields
    (dropouts, layer drop, gradient decay) are kept so that the dict
    round-trips into provenance records, but they do not change inference.
    """

    input_patch_size: int = -1
    embed_dim: int = 512
    conv_bias: bool = False
    encoder_layers: int = 12
    encoder_embed_dim: int = 768
    encoder_ffn_embed_dim: int = 3072
    encoder_attention_heads: int = 12
    activation_fn: str = "gelu"
    layer_wise_gradient_decay_ratio: float = 1.0
    layer_norm_first: bool = False
    deep_norm: bool = False
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    encoder_layerdrop: float = 0.0
    dropout_input: float = 0.0
    conv_pos: int = 128
    conv_pos_groups: int = 16
    relative_position_embedding: bool = False
    num_buckets: int = 320
    max_distance: int = 1280
    gru_rel_pos: bool = False
    finetuned_model: bool = False
    predictor_dropout: float = 0.1
    predictor_class: int = 527

    @classmethod
    def from_dict(cls, cfg: dict) -> BEATsConfig:
        """Build a config from a checkpoint's ``cfg`` dict, ignoring unknown keys.

        Raises
        ------
        CheckpointError
            If a field has an unusable value, e.g. an activation this module
            does not implement or a width not divisible by the head count.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            logger.debug("ignoring BEATs cfg keys without effect on inference: %s", unknown)

        config = cls(**{key: value for key, value in cfg.items() if key in known})
        config.validate()
        return config

    def validate(self) -> None:
        """Raise :class:`CheckpointError` if the model cannot be built from this config."""
        if self.input_patch_size < 1:
            raise CheckpointError(f"invalid BEATs cfg: input_patch_size is {self.input_patch_size}, expected >= 1")
        if self.activation_fn not in _ACTIVATIONS:
            raise CheckpointError(
                f"unsupported BEATs activation_fn {self.activation_fn!r}; supported: {sorted(_ACTIVATIONS)}"
            )
        if self.encoder_embed_dim % self.encoder_attention_heads:
            raise CheckpointError(
                f"invalid BEATs cfg: encoder_embed_dim {self.encoder_embed_dim} is not divisible by "
                f"encoder_attention_heads {self.encoder_attention_heads}"
            )
        if self.deep_norm and self.layer_norm_first:
            raise CheckpointError("invalid BEATs cfg: deep_norm and layer_norm_first cannot both be true")

    def to_dict(self) -> dict:
        """Return the config as a plain dict."""
        return dataclasses.asdict(self)


class WeightNormConv1d(nn.Module):
    """Grouped 1-D convolution whose weight is ``g * v / ||v||``, norm over all axes but the kernel axis.

    The parameters are named ``bias``, ``weight_g`` and ``weight_v``, in that
    order, as :func:`torch.nn.utils.weight_norm` with ``dim=2`` leaves them.
    """

    def __init__(self, channels: int, kernel_size: int, groups: int):
        super().__init__()
        self.padding = kernel_size // 2
        self.groups = groups
        self.bias = nn.Parameter(torch.zeros(channels))
        self.weight_g = nn.Parameter(torch.empty(1, 1, kernel_size))
        self.weight_v = nn.Parameter(torch.empty(channels, channels // groups, kernel_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw ``v`` as the reference initialises the convolution and set ``g = ||v||``.

        Checkpoint loading overwrites both; a random model still gets a finite weight.
        """
        channels, _, kernel_size = self.weight_v.shape
        with torch.no_grad():
            nn.init.normal_(self.weight_v, mean=0.0, std=math.sqrt(4 / (kernel_size * channels)))
            self.weight_g.copy_(torch.linalg.vector_norm(self.weight_v, dim=(0, 1), keepdim=True))
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch._weight_norm(self.weight_v, self.weight_g, 2)
        return F.conv1d(x, weight, self.bias, padding=self.padding, groups=self.groups)


class BEATsAttention(nn.Module):
    """Multi-head self-attention with the gated relative position bias of BEATs."""

    def __init__(self, config: BEATsConfig, has_bias_table: bool):
        super().__init__()
        dim = config.encoder_embed_dim
        self.num_heads = config.encoder_attention_heads
        self.head_dim = dim // self.num_heads
        self.scaling = self.head_dim**-0.5
        self.gru_rel_pos = config.gru_rel_pos

        # Registration order fixes the state-dict key order of the reference.
        if config.gru_rel_pos:
            self.grep_a = nn.Parameter(torch.ones(1, self.num_heads, 1, 1))
        if has_bias_table:
            self.relative_attention_bias = nn.Embedding(config.num_buckets, self.num_heads)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        if config.gru_rel_pos:
            self.grep_linear = nn.Linear(self.head_dim, 8)

    def forward(self, x: torch.Tensor, position_bias: torch.Tensor | None, attention: str) -> torch.Tensor:
        """Attend over ``x`` (batch, tokens, dim) with a bias of shape (heads, tokens, tokens) or None."""
        batch, tokens, dim = x.shape
        q = self._split_heads(self.q_proj(x))
        k = self._split_heads(self.k_proj(x))
        v = self._split_heads(self.v_proj(x))

        if attention == "eager":
            out = self._eager_attention(q, k, v, position_bias)
        else:
            mask = self._gated_bias(q, position_bias)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scaling)

        out = out.transpose(1, 2).reshape(batch, tokens, dim)
        return self.out_proj(out)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        return x.view(batch, tokens, self.num_heads, self.head_dim).transpose(1, 2)

    def _gated_bias(self, q: torch.Tensor, position_bias: torch.Tensor | None) -> torch.Tensor | None:
        # q is the unscaled query projection, shape (batch, heads, tokens, head_dim).
        if position_bias is None:
            return None
        if not self.gru_rel_pos:
            return position_bias.unsqueeze(0).to(q.dtype)

        batch, heads, tokens, _ = q.shape
        gates = self.grep_linear(q).view(batch, heads, tokens, 2, 4).sum(-1)
        gate_a, gate_b = torch.sigmoid(gates).chunk(2, dim=-1)
        gate = gate_a * (gate_b * self.grep_a - 1.0) + 2.0
        return (gate * position_bias.unsqueeze(0)).to(q.dtype)

    def _eager_attention(self, q, k, v, position_bias):
        # Same rounding steps as the reference: the query is scaled by
        # scaling / alpha, the logits are max-shifted and multiplied by alpha,
        # and the gate reads the query scaled back by alpha / scaling.
        alpha = _EAGER_SOFTMAX_ALPHA
        q_scaled = q * self.scaling
        q_scaled = q_scaled * (1 / alpha)
        logits = torch.matmul(q_scaled, k.transpose(-1, -2))
        logits = (logits - logits.max(dim=-1, keepdim=True)[0]) * alpha

        mask = self._gated_bias(q_scaled * alpha / self.scaling, position_bias)
        if mask is not None:
            logits = logits + mask
        return torch.matmul(F.softmax(logits, dim=-1), v)


class BEATsLayer(nn.Module):
    """One transformer layer: attention and feed-forward, post-LN with DeepNorm or pre-LN."""

    def __init__(self, config: BEATsConfig, has_bias_table: bool):
        super().__init__()
        dim = config.encoder_embed_dim
        self.layer_norm_first = config.layer_norm_first
        self.activation = _ACTIVATIONS[config.activation_fn]
        self.residual_scale = math.pow(2 * config.encoder_layers, 1 / 4) if config.deep_norm else 1.0

        self.self_attn = BEATsAttention(config, has_bias_table)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, config.encoder_ffn_embed_dim)
        self.fc2 = nn.Linear(config.encoder_ffn_embed_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, position_bias: torch.Tensor | None, attention: str) -> torch.Tensor:
        if self.layer_norm_first:
            x = x + self.self_attn(self.self_attn_layer_norm(x), position_bias, attention)
            return x + self.fc2(self.activation(self.fc1(self.final_layer_norm(x))))

        x = self.self_attn_layer_norm(x * self.residual_scale + self.self_attn(x, position_bias, attention))
        return self.final_layer_norm(x * self.residual_scale + self.fc2(self.activation(self.fc1(x))))


class BEATsEncoder(nn.Module):
    """Convolutional positional embedding followed by the transformer layers."""

    def __init__(self, config: BEATsConfig):
        super().__init__()
        dim = config.encoder_embed_dim
        self.config = config
        self.pos_conv = nn.Sequential(WeightNormConv1d(dim, config.conv_pos, config.conv_pos_groups))
        # An even kernel with padding K // 2 yields one extra output step, which is cut off.
        self.trim_last = config.conv_pos % 2 == 0

        has_table = config.relative_position_embedding
        self.layers = nn.ModuleList(
            [BEATsLayer(config, has_bias_table=has_table and i == 0) for i in range(config.encoder_layers)]
        )
        if has_table:
            shared_table = self.layers[0].self_attn.relative_attention_bias
            for layer in self.layers[1:]:
                layer.self_attn.relative_attention_bias = shared_table

        self.layer_norm = nn.LayerNorm(dim)

    def forward(
        self, x: torch.Tensor, attention: str = "sdpa", return_layers: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Encode ``x`` of shape (batch, tokens, dim); optionally return each layer's output."""
        positions = self.pos_conv(x.transpose(1, 2))
        if self.trim_last:
            positions = positions[:, :, :-1]
        x = x + F.gelu(positions).transpose(1, 2)

        if not self.config.layer_norm_first:
            x = self.layer_norm(x)

        position_bias = None
        if self.config.relative_position_embedding:
            position_bias = self._position_bias(x.shape[1], x.device)

        layer_outputs = []
        for layer in self.layers:
            x = layer(x, position_bias, attention)
            if return_layers:
                layer_outputs.append(x)

        if self.config.layer_norm_first:
            x = self.layer_norm(x)
        return x, layer_outputs

    def _position_bias(self, tokens: int, device: torch.device) -> torch.Tensor:
        positions = torch.arange(tokens, dtype=torch.long, device=device)
        relative = positions[None, :] - positions[:, None]
        buckets = relative_position_buckets(relative, self.config.num_buckets, self.config.max_distance)
        table = self.layers[0].self_attn.relative_attention_bias
        return table(buckets).permute(2, 0, 1)


def relative_position_buckets(relative: torch.Tensor, num_buckets: int, max_distance: int) -> torch.Tensor:
    """Map key-minus-query offsets to bias buckets, as in T5 and BEATs.

    Half of the buckets are for positive offsets. Within each half, offsets
    below a quarter of ``num_buckets`` get a bucket each, and larger offsets
    share log-spaced buckets up to ``max_distance``.

    Parameters
    ----------
    relative : Tensor of int64, any shape
        Key position minus query position.
    num_buckets, max_distance : int
        The checkpoint's ``num_buckets`` and ``max_distance``.

    Returns
    -------
    Tensor of int64, same shape as ``relative``
    """
    half = num_buckets // 2
    buckets = (relative > 0).to(torch.long) * half
    distance = relative.abs()

    max_exact = half // 2
    # Same float32 operation order as the reference, so bucket edges agree.
    log_ratio = torch.log(distance.float() / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (half - max_exact)).to(torch.long)
    large = torch.clamp(large, max=half - 1)
    return buckets + torch.where(distance < max_exact, distance, large)


class BEATs(nn.Module):
    """BEATs encoder: patch embedding, encoder and, for fine-tuned files, the AudioSet predictor."""

    def __init__(self, config: BEATsConfig):
        super().__init__()
        self.config = config
        if config.embed_dim != config.encoder_embed_dim:
            self.post_extract_proj = nn.Linear(config.embed_dim, config.encoder_embed_dim)
        else:
            self.post_extract_proj = None

        patch = config.input_patch_size
        self.patch_embedding = nn.Conv2d(1, config.embed_dim, kernel_size=patch, stride=patch, bias=config.conv_bias)
        self.encoder = BEATsEncoder(config)
        self.layer_norm = nn.LayerNorm(config.embed_dim)
        if config.finetuned_model:
            self.predictor = nn.Linear(config.encoder_embed_dim, config.predictor_class)

    @property
    def dim(self) -> int:
        """Token width (``encoder_embed_dim``)."""
        return self.config.encoder_embed_dim

    def embed_patches(self, fbank: torch.Tensor) -> torch.Tensor:
        """Turn normalised filterbanks (batch, frames, mel) into encoder inputs (batch, tokens, dim).

        Tokens are time-major: token ``t * F + f`` is time patch ``t``,
        frequency patch ``f``, with ``F = mel // patch``. Frames past the last
        whole patch are dropped by the strided convolution.
        """
        features = self.patch_embedding(fbank.unsqueeze(1))
        features = features.flatten(2).transpose(1, 2)
        features = self.layer_norm(features)
        if self.post_extract_proj is not None:
            features = self.post_extract_proj(features)
        return features

    def forward(
        self, fbank: torch.Tensor, attention: str = "sdpa", return_layers: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Compute the final tokens (batch, tokens, dim) from normalised filterbanks (batch, frames, mel)."""
        if attention not in ATTENTION_IMPLEMENTATIONS:
            raise ExtractorError(f"invalid attention {attention!r}; choose one of {ATTENTION_IMPLEMENTATIONS}")
        return self.encoder(self.embed_patches(fbank), attention=attention, return_layers=return_layers)


def rename_weight_norm_keys(state_dict: dict) -> dict:
    """Rename ``parametrizations.weight.original0/1`` keys to ``weight_g``/``weight_v``.

    Checkpoints re-saved after :func:`torch.nn.utils.parametrizations.weight_norm`
    store the positional-convolution weight under the new names; the tensors
    are the same, so only the names change.
    """
    renamed = {}
    for key, tensor in state_dict.items():
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        renamed[key] = tensor
    return renamed
