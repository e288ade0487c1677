"""Transformer sublayers shared by the EAT and CED encoders.

The submodule names ``qkv``, ``proj``, ``fc1`` and ``fc2`` appear in the
state-dict keys of the released checkpoints (``blocks.{i}.attn.qkv.weight``
in CED, ``model.blocks.{i}.mlp.fc1.weight`` in EAT), so they must not be
renamed.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Attention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` projection.

    Parameters
    ----------
    dim : int
        Token width; a multiple of ``num_heads``.
    num_heads : int
        Number of attention heads.
    qkv_bias : bool
        Whether the ``qkv`` projection has a bias.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)

        # Same result as the EAT and CED references' explicit softmax of the
        # scaled q @ k^T, up to rounding. The nan_to_num in CED's reference has
        # no effect without masking.
        x = F.scaled_dot_product_attention(query, key, value)
        return self.proj(x.transpose(1, 2).reshape(batch, length, dim))


class Mlp(nn.Module):
    """Two linear layers with an exact GELU between them.

    Parameters
    ----------
    dim : int
        Input and output width.
    hidden_dim : int
        Width of the hidden layer.
    """

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))
