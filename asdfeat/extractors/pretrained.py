"""Pretrained encoders (BEATs, EAT, CED) registered by name.

Each name maps to a released checkpoint size. The proxy metric of this family
is the AudioSet AS-2M mAP that the authors report for the model, stored in
:attr:`ModelInfo.proxy_value`. The checkpoint path comes from the
``checkpoint`` argument or from the configured mapping described in
:mod:`asdfeat.extractors.config`. When a hash is configured for the model, it
is checked before the weights load.

The EAT and CED extractor classes are imported inside their factories, so
listing the models does not import their model code.
"""

from __future__ import annotations

import importlib

from asdfeat.errors import ExtractorError
from asdfeat.extractors.config import resolve_checkpoint
from asdfeat.extractors.registry import ModelInfo, register_extractor

FAMILY = "pretrained"
PROXY_METRIC = "audioset_map"

# name, encoder, embedding dim, reported AS-2M mAP, description
_MODELS = [
    ("beats-iter3", "beats", 768, 48.0, "BEATs iter3, mean of final tokens, Kaldi fbank front end"),
    ("beats-iter3+", "beats", 768, 48.6, "BEATs iter3+ (AS2M), mean of final tokens, Kaldi fbank front end"),
    ("eat-base", "eat", 768, 48.9, "EAT-base (30 epochs), mean of patch tokens, Kaldi fbank front end"),
    ("eat-large", "eat", 1024, 49.5, "EAT-large (20 epochs), mean of patch tokens, Kaldi fbank front end"),
    ("ced-tiny", "ced", 192, 48.1, "CED-tiny, mean of tokens, 64-bin log-mel with BatchNorm"),
    ("ced-mini", "ced", 256, 49.0, "CED-mini, mean of tokens, 64-bin log-mel with BatchNorm"),
    ("ced-small", "ced", 384, 49.6, "CED-small, mean of tokens, 64-bin log-mel with BatchNorm"),
    ("ced-base", "ced", 768, 50.0, "CED-base, mean of tokens, 64-bin log-mel with BatchNorm"),
]

# encoder -> (module, extractor class)
_EXTRACTOR_CLASSES = {
    "beats": ("asdfeat.extractors.beats", "BEATsExtractor"),
    "eat": ("asdfeat.extractors.eat", "EATExtractor"),
    "ced": ("asdfeat.extractors.ced", "CEDExtractor"),
}

ENCODERS = {name: encoder for name, encoder, *_ in _MODELS}


def _make_factory(name: str, encoder: str):
    def factory(*, device="cpu", checkpoint=None, **options):
        resolved = resolve_checkpoint(name, checkpoint)
        extractor_class = _extractor_class(encoder)
        expected = options.pop("expected_sha256", None) or resolved.expected_sha256
        # Each extractor hashes its weights file once and checks the expected hash itself.
        return extractor_class(resolved.path, device, variant=name, expected_sha256=expected, **options)

    factory.__name__ = f"create_{encoder}_extractor"
    return factory


def _extractor_class(encoder: str):
    module_name, class_name = _EXTRACTOR_CLASSES[encoder]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise ExtractorError(f"extractor module {module_name} not found, so the {encoder} models are unavailable") from error

    if not hasattr(module, class_name):
        raise ExtractorError(f"{module_name} does not define {class_name}; the {encoder} extractor is unavailable")
    return getattr(module, class_name)


for _name, _encoder, _dim, _map, _description in _MODELS:
    register_extractor(
        ModelInfo(
            name=_name,
            family=FAMILY,
            dim=_dim,
            description=_description,
            proxy_metric=PROXY_METRIC,
            proxy_value=_map,
            # The factory also finds configured checkpoints, so the registry
            # must not require the checkpoint argument.
            needs_checkpoint=False,
        ),
        _make_factory(_name, _encoder),
    )
