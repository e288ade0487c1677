"""Extractors registered by name, with what ``asdfeat models`` lists about them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from asdfeat.errors import ExtractorError


@dataclass(frozen=True)
class ModelInfo:
    """Registry entry of a model: what can be listed before the model is built.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"beats-iter3+"``.
    family : str
        Model family, e.g. ``"pretrained"`` or ``"autoencoder"``.
    dim : int or None
        Embedding dimension, or None where it depends on options.
    description : str
        One line for ``asdfeat models``.
    proxy_metric : str or None
        Name of the family's proxy metric, e.g. ``"audioset_map"``.
    proxy_value : float or None
        Reported proxy value, e.g. the AS-2M mAP of a pretrained encoder.
    needs_checkpoint : bool
        Whether :func:`create_extractor` requires a checkpoint file.
    """

    name: str
    family: str
    dim: int | None
    description: str
    proxy_metric: str | None = None
    proxy_value: float | None = None
    needs_checkpoint: bool = False


_FACTORIES: dict[str, tuple[ModelInfo, Callable]] = {}
_PREFIX_FACTORIES: dict[str, Callable] = {}


def register_extractor(info: ModelInfo, factory: Callable) -> None:
    """Register ``factory(device=..., checkpoint=..., **options)`` under ``info.name``."""
    if info.name in _FACTORIES:
        raise ValueError(f"extractor {info.name!r} is already registered")
    _FACTORIES[info.name] = (info, factory)


def register_prefix(prefix: str, factory: Callable) -> None:
    """Register a factory for names ``<prefix>:<target>``, e.g. ``hear:my_module``.

    The factory is called as ``factory(target, device=..., checkpoint=..., **options)``.
    """
    _PREFIX_FACTORIES[prefix] = factory


def available_models() -> list[ModelInfo]:
    _load_builtin_extractors()
    return [info for info, _ in _FACTORIES.values()]


def model_info(name: str) -> ModelInfo:
    _load_builtin_extractors()
    if name not in _FACTORIES:
        raise ExtractorError(_unknown_model_message(name))
    return _FACTORIES[name][0]


def create_extractor(name: str, *, device="cpu", checkpoint=None, **options):
    """Build the extractor registered as ``name``.

    Raises
    ------
    ExtractorError
        If the name is unknown or the factory rejects its options.
    """
    _load_builtin_extractors()

    prefix, _, target = name.partition(":")
    if target and prefix in _PREFIX_FACTORIES:
        return _PREFIX_FACTORIES[prefix](target, device=device, checkpoint=checkpoint, **options)

    if name not in _FACTORIES:
        raise ExtractorError(_unknown_model_message(name))
    info, factory = _FACTORIES[name]
    if info.needs_checkpoint and checkpoint is None:
        raise ExtractorError(f"model {name!r} needs a checkpoint file; pass --checkpoint FILE")
    return factory(device=device, checkpoint=checkpoint, **options)


def _unknown_model_message(name: str) -> str:
    known = ", ".join(sorted(_FACTORIES)) or "none"
    prefixes = ", ".join(f"{p}:NAME" for p in sorted(_PREFIX_FACTORIES))
    hint = f"; or {prefixes}" if prefixes else ""
    return f"unknown model {name!r}; known models: {known}{hint}. Run 'asdfeat models' to list them"


_BUILTINS_LOADED = False


def _load_builtin_extractors() -> None:
    # Built-in modules register themselves on import. Importing them lazily
    # keeps `import asdfeat.extractors.registry` cheap.
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True

    import importlib

    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


# Each module here calls register_extractor() at import time.
_BUILTIN_MODULES = [
    "asdfeat.extractors.logmel_stats",
    "asdfeat.extractors.autoencoder",
    "asdfeat.extractors.pretrained",
    "asdfeat.extractors.hear",
]
