"""PyTorch extractors that turn audio clips into embeddings."""

from asdfeat.extractors.base import Extractor
from asdfeat.extractors.registry import (
    ModelInfo,
    available_models,
    create_extractor,
    model_info,
    register_extractor,
    register_prefix,
)

__all__ = [
    "Extractor",
    "ModelInfo",
    "available_models",
    "create_extractor",
    "model_info",
    "register_extractor",
    "register_prefix",
]
