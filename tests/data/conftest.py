"""Helpers for the dataset tests: build small DCASE folder trees on disk."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def _write_wav(path: Path, samples=None, sample_rate: int = 16000, subtype: str = "PCM_16") -> Path:
    """Write a WAV file, by default 0.1 s of low-level noise, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if samples is None:
        samples = np.random.default_rng(len(path.name)).uniform(-0.1, 0.1, sample_rate // 10)
    sf.write(path, samples, sample_rate, subtype=subtype)
    return path


@pytest.fixture
def write_wav():
    """Return the WAV writer ``write_wav(path, samples=None, sample_rate=16000, subtype="PCM_16")``."""
    return _write_wav


@pytest.fixture
def make_tree(tmp_path):
    """Return a function that writes WAVs at the given paths below ``tmp_path``."""

    def make(relative_paths) -> Path:
        for relative in relative_paths:
            _write_wav(tmp_path / relative)
        return tmp_path

    return make
