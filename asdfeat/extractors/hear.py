"""Extractors for any module that follows the HEAR 2021 model API.

``--model hear:MODULE`` imports ``MODULE`` and uses its HEAR 2021 functions:

* ``load_model(path)``, or ``load_model()`` when no checkpoint is given,
  returning a ``torch.nn.Module`` with the integer attributes ``sample_rate``
  (Hz) and ``scene_embedding_size``;
* ``get_scene_embeddings(audio, model)``, taking a float32 tensor of shape
  (n_sounds, n_samples) at ``model.sample_rate`` on the model's device and
  returning a float32 tensor of shape (n_sounds, scene_embedding_size).

The checks on the model and on each output follow the ones that the HEAR
benchmark's ``hear-validator`` tool runs, and every error names the module.
Clips arrive at 16 kHz and are resampled to the module's rate with
:func:`scipy.signal.resample_poly`.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Sequence
from math import gcd
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly

from asdfeat.errors import CheckpointError, ExtractorError
from asdfeat.extractors.base import Extractor
from asdfeat.extractors.registry import register_prefix

logger = logging.getLogger(__name__)

PREFIX = "hear"
INPUT_SAMPLE_RATE = 16000


class HearExtractor(Extractor):
    """Scene embeddings from a HEAR 2021 module.

    Parameters
    ----------
    module_name : str
        Importable module name, e.g. ``"hearbaseline"``.
    device : str or torch.device
        Device for the model and the audio tensors.
    checkpoint : str or path-like, optional
        Weights file passed to ``load_model``; without it ``load_model()`` is
        called with no argument.

    Raises
    ------
    ExtractorError
        If the module cannot be imported, lacks a HEAR function, or its model
        lacks a valid ``sample_rate`` or ``scene_embedding_size``.
    CheckpointError
        If the checkpoint file does not exist.
    """

    sample_rate = INPUT_SAMPLE_RATE

    def __init__(self, module_name: str, device="cpu", checkpoint=None):
        super().__init__(device)
        self.module_name = module_name
        self.name = f"{PREFIX}:{module_name}"
        self.checkpoint = None if checkpoint is None else Path(checkpoint)

        self.module = _import_hear_module(module_name)
        self.model = self._load_model()
        self.module_sample_rate = _check_sample_rate(self.model, module_name)
        self._dim = _check_embedding_size(self.model, module_name)

        divisor = gcd(self.module_sample_rate, INPUT_SAMPLE_RATE)
        self._resample_up = self.module_sample_rate // divisor
        self._resample_down = INPUT_SAMPLE_RATE // divisor
        logger.info(
            "loaded HEAR module %s: %d Hz, scene embedding size %d",
            module_name, self.module_sample_rate, self._dim,
        )

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """Embed a batch of 16 kHz clips with ``get_scene_embeddings``.

        HEAR modules take one tensor per call, so clips are grouped by length
        and each group is embedded in one call, without padding.

        Parameters
        ----------
        waveforms : sequence of ndarray of shape (n_samples_i,)
            Mono float32 waveforms in [-1, 1] at 16 kHz.

        Returns
        -------
        ndarray of shape (len(waveforms), dim), float32

        Raises
        ------
        ExtractorError
            If the module returns something other than a finite float32 tensor
            of shape (n_sounds, scene_embedding_size).
        """
        resampled = [self._resample(waveform) for waveform in waveforms]
        embeddings = np.empty((len(resampled), self.dim), dtype=np.float32)

        rows_by_length: dict[int, list[int]] = {}
        for row, waveform in enumerate(resampled):
            rows_by_length.setdefault(len(waveform), []).append(row)

        for rows in rows_by_length.values():
            audio = torch.from_numpy(np.stack([resampled[row] for row in rows]))
            embeddings[rows] = self._embed_group(audio.to(self.device))
        return embeddings

    def provenance(self) -> dict:
        record = super().provenance()
        record.update(
            {
                "family": "hear",
                "hear_module": self.module_name,
                "module_file": getattr(self.module, "__file__", None),
                "module_version": _module_version(self.module),
                "module_sample_rate": self.module_sample_rate,
                "resampler": "scipy.signal.resample_poly" if self._needs_resampling() else None,
                "checkpoint": None if self.checkpoint is None else str(self.checkpoint.resolve()),
                "checkpoint_sha256": None if self.checkpoint is None else _sha256(self.checkpoint),
            }
        )
        return record

    def _load_model(self):
        if self.checkpoint is None:
            model = self.module.load_model()
        else:
            if not self.checkpoint.is_file():
                raise CheckpointError(
                    f"checkpoint {str(self.checkpoint)!r} for HEAR module {self.module_name!r} "
                    "not found; pass an existing weights file with --checkpoint"
                )
            model = self.module.load_model(str(self.checkpoint))

        if not isinstance(model, torch.nn.Module):
            raise ExtractorError(
                f"HEAR module {self.module_name!r}: load_model returned "
                f"{type(model).__name__}, expected a torch.nn.Module; "
                "only PyTorch HEAR modules are supported"
            )
        model.to(self.device)
        model.eval()
        return model

    def _needs_resampling(self) -> bool:
        return self._resample_up != self._resample_down

    def _resample(self, waveform: np.ndarray) -> np.ndarray:
        waveform = np.asarray(waveform, dtype=np.float32)
        if waveform.ndim != 1:
            raise ExtractorError(
                f"HEAR module {self.module_name!r}: expected mono waveforms of shape "
                f"(n_samples,), got shape {waveform.shape}"
            )
        if not self._needs_resampling():
            return waveform
        return resample_poly(waveform, self._resample_up, self._resample_down).astype(np.float32)

    def _embed_group(self, audio: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            output = self.module.get_scene_embeddings(audio, self.model)
        return _check_scene_embeddings(output, len(audio), self.dim, self.module_name)


def _import_hear_module(module_name: str):
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ExtractorError(
            f"HEAR module {module_name!r} cannot be imported ({error}); install it "
            "or add its folder to PYTHONPATH"
        ) from error

    required = ("load_model", "get_scene_embeddings")
    missing = [name for name in required if not callable(getattr(module, name, None))]
    if missing:
        raise ExtractorError(
            f"HEAR module {module_name!r} lacks the function(s) {missing} that the "
            "HEAR 2021 API requires"
        )
    return module


def _check_sample_rate(model, module_name: str) -> int:
    # The HEAR benchmark's hear-validator also restricts the rate to 16, 22.05, 44.1 or 48 kHz.
    # Any positive integer works here because the clips are resampled.
    rate = getattr(model, "sample_rate", None)
    if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise ExtractorError(
            f"HEAR module {module_name!r}: the model must have an integer attribute "
            f"sample_rate in Hz, got {rate!r}"
        )
    return rate


def _check_embedding_size(model, module_name: str) -> int:
    size = getattr(model, "scene_embedding_size", None)
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ExtractorError(
            f"HEAR module {module_name!r}: the model must have a positive integer "
            f"attribute scene_embedding_size, got {size!r}"
        )
    return size


def _check_scene_embeddings(output, n_sounds: int, dim: int, module_name: str) -> np.ndarray:
    where = f"HEAR module {module_name!r}: get_scene_embeddings"
    if not isinstance(output, torch.Tensor):
        raise ExtractorError(f"{where} returned {type(output).__name__}, expected a torch.Tensor")
    if output.dtype != torch.float32:
        raise ExtractorError(f"{where} returned dtype {output.dtype}, expected torch.float32")
    if output.ndim != 2:
        raise ExtractorError(
            f"{where} returned shape {tuple(output.shape)}, expected 2 dimensions "
            f"(n_sounds, scene_embedding_size)"
        )
    if output.shape[0] != n_sounds:
        raise ExtractorError(f"{where} returned {output.shape[0]} rows for a batch of {n_sounds} sounds")
    if output.shape[1] != dim:
        raise ExtractorError(
            f"{where} returned {output.shape[1]} columns, but the model's "
            f"scene_embedding_size is {dim}"
        )

    values = output.detach().cpu().numpy()
    if not np.isfinite(values).all():
        bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
        raise ExtractorError(f"{where} returned non-finite values in batch rows {bad_rows[:10].tolist()}")
    return values


def _module_version(module) -> str | None:
    version = getattr(module, "__version__", None)
    return None if version is None else str(version)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def create_hear_extractor(module_name: str, *, device="cpu", checkpoint=None, **options) -> HearExtractor:
    """Build a :class:`HearExtractor`; the registry calls this for ``hear:MODULE``.

    Raises
    ------
    ExtractorError
        If the module name is empty or options are given, since HEAR modules
        take none.
    """
    if not module_name:
        raise ExtractorError("model name 'hear:' lacks a module; use hear:MODULE, e.g. hear:hearbaseline")
    if options:
        raise ExtractorError(
            f"HEAR module {module_name!r} takes no model options, got {sorted(options)}"
        )
    return HearExtractor(module_name, device=device, checkpoint=checkpoint)


register_prefix(PREFIX, create_hear_extractor)
