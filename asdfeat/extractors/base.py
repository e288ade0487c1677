"""The extractor interface: batches of waveforms in, clip embeddings out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch


class Extractor(ABC):
    """Turn mono waveforms at :attr:`sample_rate` into one embedding per clip.

    Subclasses set :attr:`name` and :attr:`sample_rate` and implement
    :attr:`dim` and :meth:`embed`. Extractors that learn from the normal
    training clips of a machine type (proxy-task models) set
    :attr:`requires_training` and implement :meth:`fit`, :meth:`state_bytes`
    and :meth:`load_state_bytes`, so that a resumed extraction reuses the
    trained weights instead of training again.

    Parameters
    ----------
    device : str or torch.device
        Device for the forward pass, e.g. ``"cpu"`` or ``"cuda"``.
    """

    name: str = ""
    sample_rate: int = 16000
    requires_training: bool = False
    #: Shortest clip, in samples, that the extractor can embed or train on.
    min_samples: int = 1

    def __init__(self, device="cpu"):
        self.device = torch.device(device)

    @property
    @abstractmethod
    def dim(self) -> int:
        """Embedding dimension."""

    @abstractmethod
    def embed(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """Embed a batch of clips.

        Parameters
        ----------
        waveforms : sequence of ndarray of shape (n_samples_i,)
            Mono float32 waveforms in [-1, 1] at :attr:`sample_rate`; lengths
            may differ between clips.

        Returns
        -------
        ndarray of shape (len(waveforms), dim), float32
        """

    def fit(self, waveforms: Sequence[np.ndarray], seed: int = 0) -> None:
        """Train on the normal training clips of one machine type."""
        raise NotImplementedError(f"extractor {self.name!r} does not train")

    def state_bytes(self) -> bytes:
        """Serialise the trained state (only for extractors that train)."""
        raise NotImplementedError(f"extractor {self.name!r} has no trained state")

    def load_state_bytes(self, data: bytes) -> None:
        """Restore a state written by :meth:`state_bytes`."""
        raise NotImplementedError(f"extractor {self.name!r} has no trained state")

    def provenance(self) -> dict:
        """Describe how embeddings were made, for the store's provenance record.

        The base entries are the model name and dimension; subclasses add the
        front end, checkpoint path and SHA-256, and options.
        """
        return {"model": self.name, "dim": self.dim, "sample_rate": self.sample_rate}
